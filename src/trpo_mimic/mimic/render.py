"""Frames of the DeepMimic character, headless: a tracking camera, the reference drawn as a translucent
ghost, a caption; and a reference clip played kinematically to a video.

    python -m trpo_mimic.mimic.render CLIP --out clip.mp4 [--fps 30] [--cycles 2]

CLIP is a DeepMimic clip file or ``builtin:walk``.  Uses ``mujoco.Renderer``; set
``MUJOCO_GL=egl`` (or ``osmesa``) on a machine without a display.  The container is
chosen by the suffix of ``out_path`` (``.mp4`` via imageio-ffmpeg, ``.avi``, ``.gif``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import mujoco
import numpy as np

from ..envs.offscreen import cap_offscreen_quality
from .clip import MotionClip
from .quat import quat_yaw

GHOST_RGBA = (1.0, 0.55, 0.1, 0.35)
"""The reference's colour: translucent orange over the character's blue-grey."""
SIDE_OFFSET = 1.0
"""``side``: the ghost stands this many metres to the reference's left."""


def tracking_camera(model: mujoco.MjModel, body: int, distance: float = 3.5,
                    azimuth: float = 90.0, elevation: float = -12.0) -> mujoco.MjvCamera:
    """A side-on camera that follows ``body``."""
    cam = mujoco.MjvCamera()
    cam.type = mujoco.mjtCamera.mjCAMERA_TRACKING
    cam.trackbodyid = body
    cam.distance, cam.azimuth, cam.elevation = distance, azimuth, elevation
    return cam


class FrameDrawer:
    """RGB frames of one character model from a camera tracking ``body``; optionally a second, translucent
    character (the reference: a pose given as qpos) and a caption line."""

    def __init__(self, model: mujoco.MjModel, body: int, width: int = 640, height: int = 480):
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, height)
        cap_offscreen_quality(model)
        self.model = model
        self.renderer = mujoco.Renderer(model, height, width)
        self.camera = tracking_camera(model, body)
        self.ghost = mujoco.MjData(model)
        self.option = mujoco.MjvOption()
        self.perturb = mujoco.MjvPerturb()
        self.root_qpos = model.jnt_qposadr[model.body_jntadr[body]]

    def draw(self, data: mujoco.MjData, ghost_qpos: np.ndarray | None = None, side: bool = False,
             caption: str | None = None, markers: list | None = None) -> np.ndarray:
        """A frame; ``markers``: a goal's (:meth:`.goals.Goal.markers`), drawn into the scene."""
        self.renderer.update_scene(data, camera=self.camera)
        if ghost_qpos is not None:
            self._add_ghost(np.array(ghost_qpos, dtype=np.float64), side)
        for m in markers or ():
            add_marker(self.renderer.scene, m)
        frame = self.renderer.render()
        if caption:
            frame = write_caption(frame, caption)
        return frame

    def _add_ghost(self, qpos: np.ndarray, side: bool) -> None:
        add_ghost(self.model, self.ghost, self.renderer.scene, qpos, side, self.root_qpos, self.option, self.perturb)

    def close(self) -> None:
        self.renderer.close()


def add_ghost(model: mujoco.MjModel, ghost: mujoco.MjData, scene: mujoco.MjvScene, qpos: np.ndarray, side: bool,
              root_qpos: int = 0, option: mujoco.MjvOption | None = None,
              perturb: mujoco.MjvPerturb | None = None) -> None:
    """Append the character posed at ``qpos`` (``ghost``: a spare MjData) to ``scene`` in GHOST_RGBA; ``side``
    moves it SIDE_OFFSET to the left of its own heading. For offscreen frames and MuJoCo's viewer alike."""
    qpos = np.array(qpos, dtype=np.float64)
    if side:
        yaw = quat_yaw(qpos[root_qpos + 3:root_qpos + 7])
        qpos[root_qpos:root_qpos + 2] += SIDE_OFFSET * np.array([-np.sin(yaw), np.cos(yaw)])
    ghost.qpos[:] = qpos
    mujoco.mj_kinematics(model, ghost)
    first = scene.ngeom
    mujoco.mjv_addGeoms(model, ghost, option or mujoco.MjvOption(), perturb or mujoco.MjvPerturb(),
                        mujoco.mjtCatBit.mjCAT_DYNAMIC, scene)
    for i in range(first, scene.ngeom):
        scene.geoms[i].rgba[:] = GHOST_RGBA


def add_marker(scene: mujoco.MjvScene, marker: tuple) -> None:
    """Append a goal's marker to ``scene``: ``("arrow", start, end, rgba)`` or ``("sphere", centre, radius,
    rgba)``; nothing when the scene is full."""
    if scene.ngeom >= scene.maxgeom:
        return
    g = scene.geoms[scene.ngeom]
    kind, rgba = marker[0], np.asarray(marker[-1], dtype=np.float32)
    if kind == "arrow":
        mujoco.mjv_initGeom(g, mujoco.mjtGeom.mjGEOM_ARROW, np.zeros(3), np.zeros(3), np.eye(3).ravel(), rgba)
        mujoco.mjv_connector(g, mujoco.mjtGeom.mjGEOM_ARROW, 0.04, np.asarray(marker[1], np.float64),
                             np.asarray(marker[2], np.float64))
    elif kind == "sphere":
        r = float(marker[2])
        mujoco.mjv_initGeom(g, mujoco.mjtGeom.mjGEOM_SPHERE, np.array([r, r, r]), np.asarray(marker[1], np.float64),
                            np.eye(3).ravel(), rgba)
    else:
        raise ValueError(f"unknown marker {kind!r}")
    g.rgba[:] = rgba
    scene.ngeom += 1


def write_caption(frame: np.ndarray, text: str) -> np.ndarray:
    """The frame with one line of white text (dark outline) at its top left."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.fromarray(np.asarray(frame))
    size = max(10, img.height // 28)
    ImageDraw.Draw(img).text((size // 2, size // 2), text, fill=(255, 255, 255), font=ImageFont.load_default(size),
                             stroke_width=max(1, size // 8), stroke_fill=(20, 20, 20))
    return np.asarray(img)


def play_motion(clip_path: str | os.PathLike, out_path: str | os.PathLike, fps: int = 30,
                width: int = 640, height: int = 480, cycles: int = 1, character_file: str | None = None,
                controller_file: str | None = None) -> Path:
    """Write a video of the clip played kinematically (qpos from the clip, mj_forward), on the humanoid or the
    character of ``character_file``."""
    import imageio.v2 as imageio

    from ..video import discard, ffmpeg_writer, named
    from .clipfile import find_motion_file
    from .core import find_character

    if fps <= 0 or width <= 0 or height <= 0 or cycles <= 0:
        raise ValueError("fps, width, height and cycles must be positive")
    character = find_character(character_file, controller_file)
    clip = MotionClip.load(find_motion_file(str(clip_path), clip_path), character=character)  # a bare name: searched
    model = character.new_model()
    data = mujoco.MjData(model)
    drawer = FrameDrawer(model, character.index.root_body, width, height)
    n_frames = max(1, int(round(clip.duration * cycles * fps)) + 1)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {"fps": fps}
    ffmpeg = out.suffix.lower() in (".mp4", ".avi", ".mkv", ".mov")
    if ffmpeg:
        kwargs.update(macro_block_size=1)
    writer = None
    try:
        writer = ffmpeg_writer(out, **kwargs) if ffmpeg else imageio.get_writer(out, **kwargs)
        with writer:
            for k in range(n_frames):
                data.qpos[:] = clip.qpos_at(k / fps)
                mujoco.mj_forward(model, data)
                writer.append_data(np.asarray(drawer.draw(data)))
    except BaseException as exc:
        if writer is not None:  # no unplayable video left
            discard(writer)
            out.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise named(exc, out) from exc
        raise
    finally:
        drawer.close()
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description="Render a motion clip to a video.")
    p.add_argument("clip")
    p.add_argument("--out", required=True)
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--cycles", type=int, default=1)
    a = p.parse_args(argv)
    print(play_motion(a.clip, a.out, a.fps, a.width, a.height, a.cycles))


if __name__ == "__main__":
    main()
