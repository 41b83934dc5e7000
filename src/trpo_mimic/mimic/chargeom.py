"""A DeepMimic character's geometry in the model's axes (Z up), by the conventions of :mod:`.charmjcf`.

The rest pose's body frames and collision shapes (:class:`Geom`), from which come the default root height and
the sole sites the MJCF writer places, and :func:`frames_to_qpos`: clip frames of any character to qpos,
driven by :meth:`~.charschema.Character.frame_fields` (``character.frames_to_qpos`` is its humanoid case).
"""

from __future__ import annotations

import math
from typing import Sequence

import mujoco
import numpy as np

from .charschema import HINGE_AXES, BodyDef, Character
from .quat import euler_xyz_from_quat, quat_from_euler, quat_to_mat, yup_to_zup_quat, yup_to_zup_vec


def euler_quat(theta: Sequence[float]) -> np.ndarray:
    """Z-up quaternion of DeepMimic's AttachTheta (x, y, z): R = Rz Ry Rx in file axes."""
    x, y, z = theta
    return yup_to_zup_quat(quat_from_euler(np.array([z, y, x], dtype=np.float64), "ZYX"))


class Geom:
    """A body's collision shape in its body frame (Z-up): centre, rotation, MJCF size."""

    def __init__(self, b: BodyDef):
        self.body = b
        self.pos = yup_to_zup_vec(np.array(b.attach_pos))
        self.quat = euler_quat(b.attach_theta)
        self.rot = quat_to_mat(self.quat)
        p0, p1, p2 = b.params
        if b.shape == "sphere":
            self.size = (p0 / 2,)
        elif b.shape in ("capsule", "cylinder"):
            self.size = (p0 / 2, p1 / 2)  # radius, half the length along the shape's axis (Z-up z)
        else:
            self.size = (p0 / 2, p2 / 2, p1 / 2)  # the file's x, z, y extents are the Z-up x, y, z

    def fromto(self) -> np.ndarray:
        axis = self.rot[:, 2] * self.size[1]
        return np.concatenate([self.pos + axis, self.pos - axis])

    def depth(self, rot: np.ndarray) -> float:
        """How far the shape reaches below its centre along -z of the frame ``rot`` maps it into."""
        r = rot @ self.rot
        s = self.size
        if self.body.shape == "sphere":
            return s[0]
        if self.body.shape == "capsule":
            return s[1] * abs(r[2, 2]) + s[0]
        if self.body.shape == "cylinder":
            return s[1] * abs(r[2, 2]) + s[0] * math.sqrt(max(0.0, 1 - r[2, 2] ** 2))
        return float(np.abs(r[2]) @ np.array(s))


def body_frames(character: Character) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Rest-pose (position, rotation matrix) of every joint's body, root at the origin (Z-up)."""
    pos: list[np.ndarray] = []
    rot: list[np.ndarray] = []
    for j in character.joints:  # parents come first
        if j.parent < 0:
            pos.append(np.zeros(3))
            rot.append(np.eye(3))
            continue
        a = yup_to_zup_vec(np.array(j.attach_pos))
        pos.append(pos[j.parent] + rot[j.parent] @ a)
        rot.append(rot[j.parent] @ quat_to_mat(euler_quat(j.attach_theta)))
    return pos, rot


def rest_height(character: Character) -> float:
    """Depth of the rest pose's lowest collision point below the root (m, positive)."""
    pos, rot = body_frames(character)
    low = 0.0
    for j, b in zip(character.joints, character.bodies):
        g = Geom(b)
        centre = pos[j.id] + rot[j.id] @ g.pos
        low = min(low, centre[2] - g.depth(rot[j.id]))
    return -low


def default_root_height(character: Character) -> float:
    """The rest pose's lowest point at least 1 cm above the floor, rounded up to whole cm."""
    return math.ceil(round((rest_height(character) + 0.01) * 100, 6)) / 100


def default_sole_sites(character: Character) -> dict[str, str]:
    """End effector -> sole site name (``<joint>_sole``) for every end effector whose shape is a box."""
    return {j.name: f"{j.name}_sole" for j in character.joints
            if j.is_end_effector and character.bodies[j.id].shape == "box"}


# ----------------------------------------------------------------------------- clip frames

def frames_to_qpos(frames: np.ndarray, model: mujoco.MjModel,
                   fields: Sequence[tuple[str, int, int]]) -> np.ndarray:
    """Clip frames (F, W) in the layout ``fields`` (:meth:`Character.frame_fields`) to qpos (F, nq).

    The root (the model's one free joint) by :func:`~.quat.yup_to_zup_vec` /
    :func:`~.quat.yup_to_zup_quat`; a spherical joint's quaternion split as R = Rx(a) Ry(b) Rz(c)
    into its hinges ``<joint>_x, _y, _z`` (the split is frame-invariant, so it is done in the
    file's axes); a revolute joint's angle into its hinge ``<joint>``.  Hinges are unwrapped
    along the frames.
    """
    frames = np.asarray(frames, dtype=np.float64)
    free = np.flatnonzero(model.jnt_type == mujoco.mjtJoint.mjJNT_FREE)
    if len(free) != 1:
        raise ValueError(f"the model has {len(free)} free joints; a character has one (its root)")
    r = int(model.jnt_qposadr[free[0]])
    qpos = np.zeros((len(frames), model.nq))
    qpos[:, r:r + 3] = yup_to_zup_vec(frames[:, 1:4])
    qpos[:, r + 3:r + 7] = yup_to_zup_quat(frames[:, 4:8])
    hinges = []
    for name, start, width in fields[3:]:
        if width == 4:
            adr = [int(model.joint(f"{name}_{s}").qposadr[0]) for s, _ in HINGE_AXES]
            qpos[:, adr] = euler_xyz_from_quat(frames[:, start:start + 4])
        elif width == 1:
            adr = [int(model.joint(name).qposadr[0])]
            qpos[:, adr[0]] = frames[:, start]
        else:
            raise ValueError(f"field '{name}': width {width}; joints take 4 (spherical) or 1 (revolute)")
        hinges += adr
    hinges.sort()
    qpos[:, hinges] = np.unwrap(qpos[:, hinges], axis=0)
    return qpos
