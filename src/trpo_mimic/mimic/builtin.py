"""Motions the project generates itself, so training needs no external clip file.

Available as ``MotionClip.load("builtin:<name>")`` / ``motion_file="builtin:<name>"``
(``clip.builtin_clip`` builds the clip from :func:`builtin_frames`):

* ``builtin:walk``: a keyframed walk cycle (1.1 s, 34 frames at 30 Hz, looping).
  Hips swing +-0.4 rad in antiphase, knees flex in swing, ankles keep the feet level,
  arms swing against the legs.  The root height puts the lower sole on the floor and
  the root advances so that the stance foot does not slide (both from forward
  kinematics of the project's MJCF), so the clip is physically plausible.
* ``builtin:stand``: a still, upright standing pose (1 s, looping), for balance.

The frames are produced in the DeepMimic file layout (Y up) and go through the same
validation and conversion as files do.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from .character import character_model, frames_to_qpos
from .clipfile import MotionError
from .quat import quat_from_euler

BUILTIN = ("walk", "stand")
_IDENTITY = [1.0, 0.0, 0.0, 0.0]


def _qz(angle: float) -> list[float]:
    """Y-up file quaternion of a rotation about the file's z (lateral) axis."""
    return [math.cos(angle / 2), 0.0, 0.0, math.sin(angle / 2)]


def _qxyz(a: float, b: float, c: float) -> list[float]:
    """File quaternion of Rx(a) Ry(b) Rz(c)."""
    return quat_from_euler(np.array([a, b, c]), "XYZ").tolist()


def _frame(dt: float, hip: tuple, knee: tuple, arm: tuple, chest_twist: float) -> list[float]:
    """One 44-number frame with the root at the origin (placed later)."""
    (rh, lh), (rk, lk), (rs, ls) = hip, knee, arm
    f = [dt, 0.0, 0.0, 0.0, *_IDENTITY]
    f += _qxyz(0.0, chest_twist, 0.05)  # chest: slight forward lean and counter-twist
    f += _IDENTITY  # neck
    for h, k, s in ((rh, rk, rs), (lh, lk, ls)):
        f += _qz(h)  # hip flexion (+ forward)
        f += [k]  # knee (negative = flexed)
        f += _qz(-(h + k))  # ankle keeps the foot level
        f += _qz(s)  # shoulder swing
        f += [0.35]  # elbow
    return f


def walk_frames(period: float = 1.1, fps: int = 30, hip_amp: float = 0.4) -> list[list[float]]:
    """Frames of the builtin walk, root placed by forward kinematics."""
    n = round(period * fps)
    dt = period / n
    frames = []
    for i in range(n + 1):
        phi = 2 * math.pi * i / n
        rh, lh = hip_amp * math.sin(phi), -hip_amp * math.sin(phi)
        rk = -0.1 - 0.8 * max(0.0, math.cos(phi + 0.3)) ** 2
        lk = -0.1 - 0.8 * max(0.0, -math.cos(phi + 0.3)) ** 2
        arm = (-0.35 * math.sin(phi), 0.35 * math.sin(phi))
        frames.append(_frame(dt if i < n else 0.0, (rh, lh), (rk, lk), arm, 0.1 * math.sin(phi)))
    stance = [0 if math.cos(2 * math.pi * i / n) < 0 else 1 for i in range(n + 1)]
    return _place_root(frames, stance)


def stand_frames(duration: float = 1.0) -> list[list[float]]:
    """Two identical upright frames."""
    f = _frame(duration, (0.0, 0.0), (-0.05, -0.05), (0.0, 0.0), 0.0)
    return _place_root([f, [0.0, *f[1:]]])


def _place_root(frames: list[list[float]], stance: list[int] | None = None) -> list[list[float]]:
    """Set root height (lowest sole on the floor) and forward position (stance foot fixed).

    ``stance[i]`` is 0 (right) or 1 (left): the foot that carries frame i; default the lower.
    """
    m = character_model()
    d = mujoco.MjData(m)
    soles = [m.site(f"{side}_ankle_sole").id for side in ("right", "left")]
    qpos = frames_to_qpos(np.array(frames, dtype=np.float64))
    pos = np.zeros((len(frames), 2, 3))
    for i, q in enumerate(qpos):
        d.qpos[:] = q
        mujoco.mj_kinematics(m, d)
        pos[i] = d.site_xpos[soles]
    x = 0.0
    out = []
    for i, f in enumerate(frames):
        st = int(np.argmin(pos[i, :, 2])) if stance is None else stance[i]
        if i:
            x -= pos[i, st, 0] - pos[i - 1, st, 0]
        height = -pos[i, :, 2].min() + 0.002
        out.append([f[0], x, height, 0.0, *f[4:]])  # file root position (x, y up, z)
    return out


def builtin_frames(name: str) -> tuple[list[list[float]], str]:
    """(frames, loop) of the builtin clip ``name`` (see module docstring)."""
    if name == "walk":
        return walk_frames(), "wrap"
    if name == "stand":
        return stand_frames(), "wrap"
    raise MotionError(f"builtin:{name}: header, field 'name' unknown builtin motion; "
                      f"choose from {', '.join('builtin:' + b for b in BUILTIN)}")
