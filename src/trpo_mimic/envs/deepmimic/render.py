"""Render a reference clip kinematically to a video, headless.

    python -m trpo_mimic.envs.deepmimic.render CLIP --out clip.mp4 [--fps 30] [--cycles 2]

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

from .env import tracking_camera
from .character import ASSET_XML, CharacterIndex
from .clip import MotionClip


def play_motion(clip_path: str | os.PathLike, out_path: str | os.PathLike, fps: int = 30,
                width: int = 640, height: int = 480, cycles: int = 1) -> Path:
    """Write a video of the clip played kinematically (qpos from the clip, mj_forward)."""
    import imageio.v2 as imageio

    if fps <= 0 or width <= 0 or height <= 0 or cycles <= 0:
        raise ValueError("fps, width, height and cycles must be positive")
    clip = MotionClip.load(clip_path)
    model = mujoco.MjModel.from_xml_path(str(ASSET_XML))
    model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
    model.vis.global_.offheight = max(model.vis.global_.offheight, height)
    data = mujoco.MjData(model)
    camera = tracking_camera(model, CharacterIndex.of(model).root_body)
    n_frames = max(1, int(round(clip.duration * cycles * fps)) + 1)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {"fps": fps}
    if out.suffix.lower() in (".mp4", ".avi", ".mkv", ".mov"):
        kwargs.update(macro_block_size=1)
    with mujoco.Renderer(model, height, width) as renderer, imageio.get_writer(out, **kwargs) as writer:
        for k in range(n_frames):
            data.qpos[:] = clip.qpos_at(k / fps)
            mujoco.mj_forward(model, data)
            renderer.update_scene(data, camera=camera)
            writer.append_data(np.asarray(renderer.render()))
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
