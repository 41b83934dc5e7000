"""DeepMimic motion clips: loading, validation, Y-up to Z-up conversion and sampling.

A clip file is JSON with ``"Loop"`` (``"wrap"`` or ``"none"``) and ``"Frames"``; each
frame holds 44 numbers (see ``FRAME_FIELDS``).  Extra keys are ignored.  Every
problem with a clip raises :class:`MotionError`, whose message names the file, the
frame and the field.  Quaternions whose norm is off by more than ``QUAT_NORM_TOL``
are normalised with a :class:`MotionWarning`.

Conversion to the project's MJCF (``assets/humanoid3d.xml``): a Y-up point
``(x, y, z)`` becomes ``(x, -z, y)``; a quaternion ``(w, x, y, z)`` becomes
``(w, x, -z, y)``.  A spherical joint's local rotation ``R`` is split into the three
hinges of the MJCF as ``R = Rx(a) Ry(b) Rz(c)`` (the character file's axes), which
are exactly the MJCF's ``<joint>_x, _y, _z`` angles.

At load time every frame is pushed through MuJoCo forward kinematics once, so a
query at time ``t`` is a bisection plus a few vectorised interpolations: slerp for
the root and joint rotations, linear for positions and velocities.  Looping
(``"wrap"``) clips carry the root on: each cycle applies the planar rigid transform
that maps the first frame's root (x, y, heading) onto the last frame's, so the root
keeps moving forward (and turning, if the clip turns).
"""

from __future__ import annotations

import bisect
import json
import math
import os
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import mujoco
import numpy as np

from .reward import KinematicState

ASSET_XML = Path(__file__).resolve().parent / "assets" / "humanoid3d.xml"

FRAME_WIDTH = 44
QUAT_NORM_TOL = 1e-3
"""Quaternions with ``|norm - 1|`` above this are normalised with a warning."""
ZERO_NORM = 1e-6
"""Quaternions with a norm below this are rejected."""
MAX_FILE_BYTES = 64 * 1024 * 1024
RESAMPLE_HZ = 240.0
"""Clips are resampled (by slerp) at least this finely for the per-step reference tables."""

# (field name, start, width) for one DeepMimic frame, in file order.
FRAME_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("duration", 0, 1),
    ("root_pos", 1, 3),
    ("root_rot", 4, 4),
    ("chest", 8, 4),
    ("neck", 12, 4),
    ("right_hip", 16, 4),
    ("right_knee", 20, 1),
    ("right_ankle", 21, 4),
    ("right_shoulder", 25, 4),
    ("right_elbow", 29, 1),
    ("left_hip", 30, 4),
    ("left_knee", 34, 1),
    ("left_ankle", 35, 4),
    ("left_shoulder", 39, 4),
    ("left_elbow", 43, 1),
)
_FIELD_OF_INDEX = [name for name, start, width in FRAME_FIELDS for _ in range(width)]

SPHERICAL_JOINTS = ("chest", "neck", "right_hip", "right_ankle", "right_shoulder",
                    "left_hip", "left_ankle", "left_shoulder")
REVOLUTE_JOINTS = ("right_knee", "right_elbow", "left_knee", "left_elbow")
END_EFFECTOR_SITES = ("right_ankle", "left_ankle", "right_wrist", "left_wrist")
ROOT_BODY = "root"


class MotionError(ValueError):
    """A motion clip is malformed; the message names file, frame and field."""


class MotionNotFoundError(MotionError):
    """No motion clip was found; the message lists every place looked."""


class MotionWarning(UserWarning):
    """A motion clip was usable but had to be repaired (e.g. quaternions normalised)."""


# ----------------------------------------------------------------------------------
# Quaternion helpers (w, x, y, z), vectorised over leading axes.
# ----------------------------------------------------------------------------------
def quat_mul(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Hamilton product p*q, broadcasting over leading axes."""
    pw, px, py, pz = np.moveaxis(p, -1, 0)
    qw, qx, qy, qz = np.moveaxis(q, -1, 0)
    return np.stack([
        pw * qw - px * qx - py * qy - pz * qz,
        pw * qx + px * qw + py * qz - pz * qy,
        pw * qy - px * qz + py * qw + pz * qx,
        pw * qz + px * qy - py * qx + pz * qw,
    ], axis=-1)


def quat_conj(q: np.ndarray) -> np.ndarray:
    """Conjugate (inverse for unit quaternions)."""
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def quat_to_mat(q: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) of unit quaternions (..., 4)."""
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], axis=-2)


def quat_yaw(q: np.ndarray) -> np.ndarray:
    """Heading (rotation about +z) of the body x axis, for Z-up quaternions."""
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.arctan2(2 * (x * y + w * z), 1 - 2 * (y * y + z * z))


def yaw_quat(angle: float) -> np.ndarray:
    """Quaternion of a rotation by ``angle`` about +z."""
    return np.array([math.cos(angle / 2), 0.0, 0.0, math.sin(angle / 2)])


def euler_xyz_from_quat(q: np.ndarray) -> np.ndarray:
    """Angles (a, b, c) with R(q) = Rx(a) Ry(b) Rz(c); q in the frame of the axes."""
    # only the five entries of quat_to_mat(q) needed, by the same expressions (same bits)
    w, x, y, z = np.moveaxis(q, -1, 0)
    r00 = 1 - 2 * (y * y + z * z)
    r01 = 2 * (x * y - w * z)
    r02 = 2 * (x * z + w * y)
    r12 = 2 * (y * z - w * x)
    r22 = 1 - 2 * (x * x + y * y)
    out = np.empty(np.shape(q)[:-1] + (3,))
    out[..., 0] = np.arctan2(-r12, r22)
    out[..., 1] = np.arcsin(np.clip(r02, -1.0, 1.0))
    out[..., 2] = np.arctan2(-r01, r00)
    return out


def yup_to_zup_vec(v: np.ndarray) -> np.ndarray:
    """(x, y, z) Y-up -> (x, -z, y) Z-up."""
    return np.stack([v[..., 0], -v[..., 2], v[..., 1]], axis=-1)


def yup_to_zup_quat(q: np.ndarray) -> np.ndarray:
    """(w, x, y, z) Y-up -> (w, x, -z, y) Z-up (conjugation by the axis change)."""
    return np.stack([q[..., 0], q[..., 1], -q[..., 3], q[..., 2]], axis=-1)


def _wrap_pi(x):
    return (x + np.pi) % (2 * np.pi) - np.pi


# ----------------------------------------------------------------------------------
# The character model (shared, read-only) and its named indices.
# ----------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def character_model() -> mujoco.MjModel:
    """The project's humanoid MJCF, compiled once per process (do not mutate)."""
    return mujoco.MjModel.from_xml_path(str(ASSET_XML))


@dataclass(frozen=True)
class CharacterIndex:
    """Named indices into the MJCF, resolved once by name (no magic numbers)."""

    root_body: int
    root_qpos: int  # start of the free joint's 7 qpos
    root_qvel: int  # start of the free joint's 6 qvel
    bodies: np.ndarray  # the 15 character bodies, model order
    pose_bodies: np.ndarray  # bodies with an actuated joint (12), model order
    pose_parents: np.ndarray  # their parent bodies
    pose_names: tuple[str, ...]
    ee_sites: np.ndarray  # END_EFFECTOR_SITES
    joint_qpos: dict  # character joint name -> qpos addresses (3 or 1)
    hinge_qpos: np.ndarray  # qpos address of every hinge, actuator order
    hinge_qvel: np.ndarray
    hinge_pose_joint: np.ndarray  # for each hinge, its row in pose_bodies

    @staticmethod
    def of(model: mujoco.MjModel) -> "CharacterIndex":
        """Resolve every index by name."""
        root = model.body(ROOT_BODY).id
        rj = model.joint(ROOT_BODY)
        bodies = np.array([b for b in range(model.nbody) if model.body_rootid[b] == root])
        pose_bodies, joint_qpos = [], {}
        for b in bodies:
            jids = [j for j in range(model.njnt) if model.jnt_bodyid[j] == b
                    and model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE]
            if jids:
                pose_bodies.append(b)
                joint_qpos[model.body(b).name] = np.array([model.jnt_qposadr[j] for j in jids])
        pose_bodies = np.array(pose_bodies)
        names = tuple(model.body(b).name for b in pose_bodies)
        trn = model.actuator_trnid[:, 0]
        hinge_pose_joint = np.array([names.index(model.body(model.jnt_bodyid[j]).name) for j in trn])
        return CharacterIndex(
            root_body=root, root_qpos=int(rj.qposadr[0]), root_qvel=int(rj.dofadr[0]),
            bodies=bodies, pose_bodies=pose_bodies,
            pose_parents=np.array([model.body_parentid[b] for b in pose_bodies]),
            pose_names=names,
            ee_sites=np.array([model.site(s).id for s in END_EFFECTOR_SITES]),
            joint_qpos=joint_qpos,
            hinge_qpos=model.jnt_qposadr[trn].copy(), hinge_qvel=model.jnt_dofadr[trn].copy(),
            hinge_pose_joint=hinge_pose_joint,
        )


@lru_cache(maxsize=1)
def character_index() -> CharacterIndex:
    """Indices of :func:`character_model`."""
    return CharacterIndex.of(character_model())


# ----------------------------------------------------------------------------------
# Parsing and validation
# ----------------------------------------------------------------------------------
def _fail(name: str, frame, field: str, problem: str) -> MotionError:
    where = f"frame {frame}" if frame is not None else "header"
    return MotionError(f"{name}: {where}, field '{field}' {problem}")


def parse_frames(doc, name: str) -> tuple[np.ndarray, str]:
    """Validate a decoded clip document; return (frames (F, 44) float64, loop)."""
    if not isinstance(doc, dict):
        raise _fail(name, None, "Frames", f"missing: top level is {type(doc).__name__}, not an object")
    loop = doc.get("Loop", "wrap")
    if loop not in ("wrap", "none"):
        raise _fail(name, None, "Loop", f"must be 'wrap' or 'none', got {loop!r}")
    frames = doc.get("Frames")
    if frames is None:
        raise _fail(name, None, "Frames", "is missing")
    if not isinstance(frames, list) or len(frames) < 2:
        raise _fail(name, None, "Frames", "must be a list of at least 2 frames")
    for i, f in enumerate(frames):
        if not isinstance(f, list):
            raise _fail(name, i, "frame", f"is a {type(f).__name__}, not a list of {FRAME_WIDTH} numbers")
        if len(f) != FRAME_WIDTH:
            raise _fail(name, i, "frame", f"has {len(f)} numbers, expected {FRAME_WIDTH}")
        for k, v in enumerate(f):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise _fail(name, i, _FIELD_OF_INDEX[k], f"value {v!r} (index {k}) is not a number")
    arr = np.array(frames, dtype=np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        i, k = map(int, np.argwhere(bad)[0])
        raise _fail(name, i, _FIELD_OF_INDEX[k], f"is not finite ({arr[i, k]}) at index {k}")
    neg = np.flatnonzero(arr[:, 0] < 0)
    if neg.size:
        i = int(neg[0])
        raise _fail(name, i, "duration", f"is negative ({arr[i, 0]})")
    if not arr[:-1, 0].sum() > 0:
        raise _fail(name, f"0-{len(arr) - 1}", "duration", "is zero in every frame: total duration is zero")
    worst = None
    for field, start, width in FRAME_FIELDS:
        if width != 4:
            continue
        q = arr[:, start:start + 4]
        norm = np.linalg.norm(q, axis=1)
        zero = np.flatnonzero(norm < ZERO_NORM)
        if zero.size:
            raise _fail(name, int(zero[0]), field, "quaternion has zero norm")
        dev = np.abs(norm - 1.0)
        j = int(np.argmax(dev))
        if dev[j] > QUAT_NORM_TOL and (worst is None or dev[j] > worst[0]):
            worst = (float(dev[j]), j, field, int((dev > QUAT_NORM_TOL).sum()))
        arr[:, start:start + 4] = q / norm[:, None]
    if worst is not None:
        warnings.warn(
            f"{name}: frame {worst[1]}, field '{worst[2]}' quaternion norm is off by {worst[0]:.3g}; "
            f"quaternions off by more than {QUAT_NORM_TOL} were normalised", MotionWarning, stacklevel=3)
    return arr, loop


def read_clip_file(path: str | os.PathLike) -> tuple[np.ndarray, str]:
    """Read and validate a DeepMimic clip file."""
    p = Path(path)
    name = p.name
    if not p.is_file():
        raise MotionNotFoundError(f"{name}: no such motion file (looked at {p.resolve()})")
    if p.stat().st_size > MAX_FILE_BYTES:
        raise _fail(name, None, "Frames", f"file is larger than {MAX_FILE_BYTES} bytes")
    try:
        text = p.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as exc:
        raise _fail(name, None, "Frames", f"unreadable: {exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(name, None, "Frames", f"unreadable: not valid JSON ({exc})") from None
    except RecursionError:
        raise _fail(name, None, "Frames", "unreadable: JSON nested too deeply") from None
    return parse_frames(doc, name)


# ----------------------------------------------------------------------------------
# Frame conversion
# ----------------------------------------------------------------------------------
def frames_to_qpos(frames: np.ndarray, model: mujoco.MjModel | None = None) -> np.ndarray:
    """Convert validated DeepMimic frames (F, 44) to MJCF qpos (F, nq); hinges unwrapped."""
    model = model or character_model()
    idx = character_index() if model is character_model() else CharacterIndex.of(model)
    fields = {name: (start, width) for name, start, width in FRAME_FIELDS}
    qpos = np.zeros((len(frames), model.nq))
    r = idx.root_qpos
    qpos[:, r:r + 3] = yup_to_zup_vec(frames[:, 1:4])
    qpos[:, r + 3:r + 7] = yup_to_zup_quat(frames[:, 4:8])
    for j in SPHERICAL_JOINTS:
        s, _ = fields[j]
        # The Euler split is frame-invariant: decompose in the file's axes directly.
        qpos[:, idx.joint_qpos[j]] = euler_xyz_from_quat(frames[:, s:s + 4])
    for j in REVOLUTE_JOINTS:
        s, _ = fields[j]
        qpos[:, idx.joint_qpos[j][0]] = frames[:, s]
    qpos[:, idx.hinge_qpos] = np.unwrap(qpos[:, idx.hinge_qpos], axis=0)
    return qpos


# ----------------------------------------------------------------------------------
# The clip
# ----------------------------------------------------------------------------------
ReferenceState = KinematicState
"""Reference quantities at one time, in the simulation's world frame."""


class MotionClip:
    """A reference motion sampled at any time; see the module docstring."""

    def __init__(self, frames: np.ndarray, loop: str = "wrap", name: str = "clip",
                 cycle_heading: bool = True):
        """Build from validated DeepMimic frames (F, 44); prefer :meth:`load`."""
        self.name = name
        self.loop = loop
        self.model = character_model()
        self.index = character_index()
        frames = np.asarray(frames, dtype=np.float64)
        durations = frames[:, 0].copy()
        durations[-1] = 0.0
        self.frame_times = np.concatenate([[0.0], np.cumsum(durations[:-1])])
        self.duration = float(self.frame_times[-1])
        self._times = self.frame_times.tolist()
        self.qpos = frames_to_qpos(frames, self.model)
        # rotations slerped by qpos_at: root (Z-up) and the spherical joints (file axes)
        fields = {n: st for n, st, _ in FRAME_FIELDS}
        self._rot_frames = np.stack([yup_to_zup_quat(frames[:, 4:8])]
                                    + [frames[:, fields[j]:fields[j] + 4] for j in SPHERICAL_JOINTS], axis=1)
        self._sph_qpos = np.concatenate([self.index.joint_qpos[j] for j in SPHERICAL_JOINTS])
        self.num_frames = len(frames)

        # Planar cycle transform T: p -> Rz(dh) (p - p0) + p1 (identity for 'none').
        r = self.index.root_qpos
        q0, q1 = self.qpos[0, r + 3:r + 7], self.qpos[-1, r + 3:r + 7]
        if loop == "wrap":
            self.cycle_yaw = float(_wrap_pi(quat_yaw(q1) - quat_yaw(q0))) if cycle_heading else 0.0
            rot = _rotz(self.cycle_yaw)
            p0 = np.array([*self.qpos[0, r:r + 2], 0.0])
            p1 = np.array([*self.qpos[-1, r:r + 2], 0.0])
            self.cycle_offset = p1 - rot @ p0
        else:
            self.cycle_yaw, self.cycle_offset = 0.0, np.zeros(3)
        self._cycles = [(np.eye(3), np.zeros(3), np.array([1.0, 0, 0, 0]))]

        self.qvel = self._finite_difference_qvel()
        self._precompute_kinematics()

    # ---------------------------------------------------------------- construction
    @classmethod
    def load(cls, path: str | os.PathLike, cycle_heading: bool = True) -> "MotionClip":
        """Load a DeepMimic clip file, or ``builtin:<name>`` (see ``builtin.py``)."""
        if str(path).startswith("builtin:"):
            from .builtin import builtin_clip
            return builtin_clip(str(path)[len("builtin:"):])
        frames, loop = read_clip_file(path)
        return cls(frames, loop, name=Path(path).name, cycle_heading=cycle_heading)

    @classmethod
    def from_frames(cls, frames: Sequence[Sequence[float]], loop: str = "wrap",
                    name: str = "clip") -> "MotionClip":
        """Validate in-memory DeepMimic frames (44 numbers each) and build a clip."""
        arr, loop = parse_frames({"Loop": loop, "Frames": [list(map(float, f)) for f in frames]}, name)
        return cls(arr, loop, name=name)

    def _cycle(self, c: int):
        """(R, offset, yaw quaternion) of the c-th cycle transform, cached."""
        while len(self._cycles) <= c:
            rot_prev, off_prev, _ = self._cycles[-1]
            n = len(self._cycles)
            rot1 = _rotz(self.cycle_yaw)
            self._cycles.append((rot1 @ rot_prev, rot1 @ off_prev + self.cycle_offset,
                                 yaw_quat(n * self.cycle_yaw)))
        return self._cycles[c]

    def _transform_qpos(self, qpos: np.ndarray, rot: np.ndarray, off: np.ndarray, yq: np.ndarray):
        out = qpos.copy()
        r = self.index.root_qpos
        out[..., r:r + 3] = qpos[..., r:r + 3] @ rot.T + off
        out[..., r + 3:r + 7] = quat_mul(yq, qpos[..., r + 3:r + 7])
        return out

    def _finite_difference_qvel(self) -> np.ndarray:
        """Central differences, using the neighbouring cycles at the ends of a wrap clip."""
        m, F = self.model, self.num_frames
        if self.loop == "wrap":
            rot, off = _rotz(self.cycle_yaw), self.cycle_offset
            inv_rot = rot.T
            before = self._transform_qpos(self.qpos[-2], inv_rot, -inv_rot @ off, yaw_quat(-self.cycle_yaw))
            after = self._transform_qpos(self.qpos[1], rot, off, yaw_quat(self.cycle_yaw))
            t_before, t_after = -(self.frame_times[-1] - self.frame_times[-2]), self.duration + self.frame_times[1]
            # hinge angles of the neighbours continue the unwrapped series
            h = self.index.hinge_qpos
            before[h] = self.qpos[0, h] + _wrap_pi(before[h] - self.qpos[0, h])
            after[h] = self.qpos[-1, h] + _wrap_pi(after[h] - self.qpos[-1, h])
        else:
            before, after = self.qpos[0], self.qpos[-1]
            t_before, t_after = self.frame_times[0], self.frame_times[-1]
        ext_q = np.vstack([before, self.qpos, after])
        ext_t = np.concatenate([[t_before], self.frame_times, [t_after]])
        qvel = np.zeros((F, m.nv))
        for i in range(F):
            lo, hi = i, i + 2
            if self.loop != "wrap":  # one-sided at the ends of a clip that plays once
                lo, hi = max(lo, 1), min(hi, F)
            dt = ext_t[hi] - ext_t[lo]
            if dt > 0:
                mujoco.mj_differentiatePos(m, qvel[i], dt, ext_q[lo], ext_q[hi])
        return qvel

    def _precompute_kinematics(self) -> None:
        """Resample at >= RESAMPLE_HZ (slerp) and run forward kinematics on every sample."""
        m, idx, F = self.model, self.index, self.num_frames
        seg_i, seg_w = [], []
        for i in range(F - 1):
            k = max(1, math.ceil((self._times[i + 1] - self._times[i]) * RESAMPLE_HZ))
            seg_i += [i] * k
            seg_w += [j / k for j in range(k)]
        seg_i.append(F - 2)
        seg_w.append(1.0)
        times = [self._times[i] + w * (self._times[i + 1] - self._times[i]) for i, w in zip(seg_i, seg_w)]
        n = len(times)
        d = mujoco.MjData(m)
        self.sample_times = np.array(times)
        self.sample_qpos = np.zeros((n, m.nq))
        self.sample_qvel = np.zeros((n, m.nv))
        self.body_pos = np.zeros((n, len(idx.bodies), 3))
        self.body_quat = np.zeros((n, len(idx.bodies), 4))
        self.ee_pos = np.zeros((n, len(idx.ee_sites), 3))
        self.com = np.zeros((n, 3))
        self.com_vel = np.zeros((n, 3))
        quats = np.zeros((n, 1 + len(idx.pose_bodies), 4))
        for s, (i, w) in enumerate(zip(seg_i, seg_w)):
            d.qpos[:] = self.sample_qpos[s] = self._pose_in_cycle(i, w)
            d.qvel[:] = self.sample_qvel[s] = self.qvel[i] + w * (self.qvel[i + 1] - self.qvel[i])
            mujoco.mj_kinematics(m, d)
            mujoco.mj_comPos(m, d)
            mujoco.mj_comVel(m, d)
            mujoco.mj_subtreeVel(m, d)
            self.body_pos[s] = d.xpos[idx.bodies]
            self.body_quat[s] = d.xquat[idx.bodies]
            self.ee_pos[s] = d.site_xpos[idx.ee_sites]
            self.com[s] = d.subtree_com[idx.root_body]
            self.com_vel[s] = d.subtree_linvel[idx.root_body]
            quats[s, 0] = d.xquat[idx.root_body]
            quats[s, 1:] = quat_mul(quat_conj(d.xquat[idx.pose_parents]), d.xquat[idx.pose_bodies])
        self.sample_quats = quats
        self._stimes = times
        # Slerp tables per sample segment: start, sign-aligned end, angle, 1/sin(angle).
        q0, q1 = quats[:-1], quats[1:].copy()
        dot = np.sum(q0 * q1, axis=-1)
        q1[dot < 0] *= -1
        theta = np.maximum(np.arccos(np.clip(np.abs(dot), 0.0, 1.0)), 1e-9)
        self._slerp_q = np.stack([q0, q1], axis=1)  # (n-1, 2, 13, 4)
        self._slerp_theta = theta  # (n-1, 13)
        self._slerp_inv_sin = 1.0 / np.sin(theta)
        # One table for everything interpolated linearly: [root pos, com, 4 end effectors,
        # root linear velocity, com velocity] as (n, 8, 3), and qvel (n, nv).
        r, rv = idx.root_qpos, idx.root_qvel
        vec = np.concatenate([self.sample_qpos[:, None, r:r + 3], self.com[:, None], self.ee_pos,
                              self.sample_qvel[:, None, rv:rv + 3], self.com_vel[:, None]], axis=1)
        self._vec = vec
        # Packed table in the layout of reward.PackedImitationReward.pack.
        packed = np.concatenate([self.sample_qvel[:, rv + 3:],
                                 (self.ee_pos - self.sample_qpos[:, None, r:r + 3]).reshape(n, -1),
                                 self.sample_qpos[:, r:r + 3], self.sample_qvel[:, rv:rv + 3],
                                 self.com_vel, self.com], axis=1)
        self._packed, self._dpacked = packed, np.diff(packed, axis=0)
        self._n_pack_head = m.nv - rv - 3  # qvel[3:] entries before the 3-vectors
        self._n_ee = len(idx.ee_sites)
        self._dvec = np.diff(vec, axis=0)
        self._sqvel = self.sample_qvel
        self._dsqvel = np.diff(self.sample_qvel, axis=0)
        self._dqpos = np.diff(self.qpos, axis=0)
        self._dqvel = np.diff(self.qvel, axis=0)

    def quats_of_frames(self) -> np.ndarray:
        """(F, 13, 4) root world rotation and joint local rotations at the clip's frames."""
        return self.sample_quats[self._frame_sample_index()]

    def _frame_sample_index(self) -> np.ndarray:
        return np.searchsorted(self.sample_times, self.frame_times, side="left")

    def _pose_in_cycle(self, i: int, w: float) -> np.ndarray:
        """qpos between frames i and i+1 of cycle 0 (rotations by slerp of the frames)."""
        idx = self.index
        lin = self.qpos[i] + w * (self.qpos[i + 1] - self.qpos[i])
        q = lin.copy()
        rots = _slerp_rows(self._rot_frames[i], self._rot_frames[i + 1], w)
        r = idx.root_qpos
        q[r + 3:r + 7] = rots[0]
        q[self._sph_qpos] = euler_xyz_from_quat(rots[1:]).ravel()
        h = idx.hinge_qpos
        q[h] = lin[h] + _wrap_pi(q[h] - lin[h])
        return q

    # ---------------------------------------------------------------- sampling
    @property
    def frame_duration(self) -> np.ndarray:
        """Seconds from each frame to the next (last frame 0)."""
        return np.append(np.diff(self.frame_times), 0.0)

    def _locate(self, t: float) -> tuple[int, int, float]:
        """(cycle, segment, weight) of time t."""
        if self.loop == "wrap":
            c = math.floor(t / self.duration)
            tau = t - c * self.duration
            c = max(c, 0)
        else:
            c, tau = 0, min(max(t, 0.0), self.duration)
        i = bisect.bisect_right(self._times, tau) - 1
        i = min(max(i, 0), self.num_frames - 2)
        seg = self._times[i + 1] - self._times[i]
        w = (tau - self._times[i]) / seg if seg > 0 else 0.0
        return c, i, min(max(w, 0.0), 1.0)

    def phase(self, t: float) -> float:
        """Clip phase in [0, 1) at time t (clamped to 1 - eps after a 'none' clip ends)."""
        if self.loop == "wrap":
            return (t / self.duration) % 1.0
        return min(max(t / self.duration, 0.0), math.nextafter(1.0, 0.0))

    def qpos_at(self, t: float) -> np.ndarray:
        """MJCF qpos at time t (root and joint rotations by slerp between frames)."""
        c, i, w = self._locate(t)
        q = self._pose_in_cycle(i, w)
        if c:
            rot, off, yq = self._cycle(c)
            q = self._transform_qpos(q, rot, off, yq)
        return q

    def hinge_targets(self, t: float) -> np.ndarray:
        """The reference's hinge angles (actuator order) at time t, linear between frames.

        Hinge angles do not depend on the cycle, so this is the feed-forward target of the
        residual action mode."""
        _, i, w = self._locate(t)
        h = self.index.hinge_qpos
        return self.qpos[i, h] + w * (self.qpos[i + 1, h] - self.qpos[i, h])

    def hinge_targets_batch(self, t: np.ndarray) -> np.ndarray:
        """hinge_targets for each time in t, shape (len(t), hinges)."""
        return np.stack([self.hinge_targets(float(x)) for x in np.asarray(t).ravel()])

    def hinge_velocities(self, t: float) -> np.ndarray:
        """The reference's hinge rates (actuator order, rad/s) at time t; like the angles, they
        do not depend on the cycle. The velocity feed-forward of ``pd_feedforward``."""
        _, i, w = self._locate(t)
        h = self.index.hinge_qvel
        return self.qvel[i, h] + w * self._dqvel[i, h]

    def hinge_velocities_batch(self, t: np.ndarray) -> np.ndarray:
        """hinge_velocities for each time in t, shape (len(t), hinges)."""
        return np.stack([self.hinge_velocities(float(x)) for x in np.asarray(t).ravel()])

    def qvel_at(self, t: float) -> np.ndarray:
        """MJCF qvel at time t (linear interpolation of per-frame finite differences)."""
        c, i, w = self._locate(t)
        v = self.qvel[i] + w * self._dqvel[i]
        if c:
            rv = self.index.root_qvel
            v[rv:rv + 3] = self._cycle(c)[0] @ v[rv:rv + 3]
        return v

    def _locate_sample(self, t: float) -> tuple[int, int, float]:
        """(cycle, segment, weight) of time t in the resampled tables."""
        if self.loop == "wrap":
            c = math.floor(t / self.duration)
            tau = t - c * self.duration
        else:
            c, tau = 0, min(max(t, 0.0), self.duration)
        times = self._stimes
        i = bisect.bisect_right(times, tau) - 1
        i = 0 if i < 0 else (len(times) - 2 if i > len(times) - 2 else i)
        t0 = times[i]
        return c, i, (tau - t0) / (times[i + 1] - t0)

    def reference(self, t: float) -> ReferenceState:
        """Everything the reward needs at time t, in world coordinates.

        Reads the resampled tables: slerp for rotations, linear for the rest.
        """
        c, i, w = self._locate_sample(t)
        th = self._slerp_theta[i]
        ab = np.sin(np.multiply.outer((1.0 - w, w), th)) * self._slerp_inv_sin[i]
        quats = ab[0, :, None] * self._slerp_q[i, 0] + ab[1, :, None] * self._slerp_q[i, 1]
        vec = self._vec[i] + w * self._dvec[i]
        qvel = self._sqvel[i] + w * self._dsqvel[i]
        if c > 0:
            rot, off, yq = self._cycle(c)
            vec = vec @ rot.T
            vec[:6] += off
            mujoco.mju_mulQuat(quats[0], yq, quats[0].copy())
            qvel[self.index.root_qvel:self.index.root_qvel + 3] = vec[6]
        return ReferenceState(quats=quats, qvel=qvel, root_pos=vec[0], com=vec[1], ee_pos=vec[2:6],
                              root_linvel=vec[6], com_vel=vec[7])

    def reference_packed(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """(quats (13, 4), packed vector) at time t: :meth:`reference` in the layout of
        ``reward.PackedImitationReward.pack``, for the environment's hot loop."""
        c, i, w = self._locate_sample(t)
        ab = np.sin(np.multiply.outer((1.0 - w, w), self._slerp_theta[i])) * self._slerp_inv_sin[i]
        quats = ab[0, :, None] * self._slerp_q[i, 0] + ab[1, :, None] * self._slerp_q[i, 1]
        vec = self._packed[i] + w * self._dpacked[i]
        if c > 0:
            rot, off, yq = self._cycle(c)
            h, e = self._n_pack_head, self._n_ee
            v3 = vec[h:].reshape(-1, 3)
            v3[:] = v3 @ rot.T
            v3[e] += off  # root position
            v3[e + 3] += off  # com
            mujoco.mju_mulQuat(quats[0], yq, quats[0].copy())
        return quats, vec

    def phase_batch(self, t: np.ndarray) -> np.ndarray:
        """:meth:`phase` of an array of times."""
        t = np.asarray(t, dtype=np.float64)
        if self.loop == "wrap":
            return np.remainder(t / self.duration, 1.0)
        return np.minimum(np.maximum(t / self.duration, 0.0), math.nextafter(1.0, 0.0))

    def _cycle_arrays(self, c_max: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stacked (R, offset, yaw quaternion) of cycles 0..c_max (cached)."""
        cache = getattr(self, "_cycle_arr", None)
        if cache is None or len(cache[0]) <= c_max:
            self._cycle(c_max)
            cyc = self._cycles
            cache = (np.stack([c[0] for c in cyc]), np.stack([c[1] for c in cyc]),
                     np.stack([c[2] for c in cyc]))
            self._cycle_arr = cache
        return cache

    def reference_packed_batch(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`reference_packed` for an array of N times: (quats (N, 13, 4), packed (N, n))."""
        t = np.asarray(t, dtype=np.float64)
        if self.loop == "wrap":
            c = np.floor(t / self.duration)
            tau = t - c * self.duration
            c = np.maximum(c, 0).astype(np.intp)
        else:
            c, tau = np.zeros(t.shape, np.intp), np.minimum(np.maximum(t, 0.0), self.duration)
        times = self._stimes_arr if hasattr(self, "_stimes_arr") else np.asarray(self._stimes)
        self._stimes_arr = times
        i = np.clip(np.searchsorted(times, tau, side="right") - 1, 0, len(times) - 2)
        t0 = times[i]
        w = (tau - t0) / (times[i + 1] - t0)
        th, inv = self._slerp_theta[i], self._slerp_inv_sin[i]
        a = np.sin((1.0 - w)[:, None] * th) * inv
        b = np.sin(w[:, None] * th) * inv
        sq = self._slerp_q[i]
        quats = a[:, :, None] * sq[:, 0] + b[:, :, None] * sq[:, 1]
        vec = self._packed[i] + w[:, None] * self._dpacked[i]
        moved = np.flatnonzero(c > 0)
        if moved.size:
            rot, off, yq = self._cycle_arrays(int(c.max()))
            cm = c[moved]
            h, e = self._n_pack_head, self._n_ee
            v3 = vec[moved, h:].reshape(len(moved), -1, 3)
            v3 = np.matmul(v3, rot[cm].transpose(0, 2, 1))
            v3[:, e] += off[cm]  # root position
            v3[:, e + 3] += off[cm]  # com
            vec[moved, h:] = v3.reshape(len(moved), -1)
            p, q = yq[cm], quats[moved, 0]
            pw, px, py, pz = p.T
            qw, qx, qy, qz = q.T
            quats[moved, 0] = np.stack([pw * qw - px * qx - py * qy - pz * qz,
                                        pw * qx + px * qw + py * qz - pz * qy,
                                        pw * qy - px * qz + py * qw + pz * qx,
                                        pw * qz + px * qy - py * qx + pz * qw], axis=-1)
        return quats, vec

    def __repr__(self) -> str:
        return (f"MotionClip({self.name!r}, frames={self.num_frames}, duration={self.duration:.3f}s, "
                f"loop={self.loop!r})")


def _slerp_rows(q0: np.ndarray, q1: np.ndarray, w: float) -> np.ndarray:
    """Row-wise slerp of unit quaternions (n, 4), shortest arc."""
    dot = np.einsum("ij,ij->i", q0, q1)
    q1 = np.where(dot[:, None] < 0, -q1, q1)
    theta = np.maximum(np.arccos(np.minimum(np.abs(dot), 1.0)), 1e-9)
    inv = 1.0 / np.sin(theta)
    return (np.sin((1 - w) * theta) * inv)[:, None] * q0 + (np.sin(w * theta) * inv)[:, None] * q1


def _rotz(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _zup_to_file_axes(q: np.ndarray) -> np.ndarray:
    """Inverse of :func:`yup_to_zup_quat`: (w, x, y, z) -> (w, x, z, -y)."""
    return np.array([q[0], q[1], q[3], -q[2]])


def find_motion_file(clip: str, motion_file: str | os.PathLike | None = None,
                     motion_dir: str | os.PathLike | None = None) -> str:
    """Locate a clip: ``motion_file``, else ``motion_dir/clip``, else
    ``$TRPO_MIMIC_MOTION_DIR/clip``, else ``../shared/motions/clip`` from the cwd.

    ``builtin:<name>`` is returned unchanged.  Raises :class:`MotionNotFoundError`
    listing every place looked.
    """
    if motion_file is not None:
        if str(motion_file).startswith("builtin:") or Path(motion_file).is_file():
            return str(motion_file)
        raise MotionNotFoundError(f"{clip}: motion_file {str(motion_file)!r} does not exist "
                                  f"(looked at {Path(motion_file).resolve()})")
    looked = []
    candidates = []
    if motion_dir is not None:
        candidates.append(("motion_dir", Path(motion_dir)))
    env_dir = os.environ.get("TRPO_MIMIC_MOTION_DIR")
    if env_dir:
        candidates.append(("$TRPO_MIMIC_MOTION_DIR", Path(env_dir)))
    else:
        looked.append("$TRPO_MIMIC_MOTION_DIR (not set)")
    candidates.append(("../shared/motions from the working directory", Path.cwd().parent / "shared" / "motions"))
    for label, folder in candidates:
        p = folder / clip
        if p.is_file():
            return str(p)
        looked.append(f"{label}: {p.resolve()}")
    raise MotionNotFoundError(
        f"{clip}: motion clip not found; pass motion_file=... or motion_dir=..., or set "
        f"TRPO_MIMIC_MOTION_DIR. Looked in: motion_file (not given); " + "; ".join(looked))


def resolve_motion_set(motion_file: Any, clip_name: str | None = None,
                       motion_dir: str | os.PathLike | None = None) -> tuple[list[str], list[float]]:
    """Clip paths and sampling weights from one clip, a list of clips, or a motion-set JSON
    (``{"Motions": [{"File": path, "Weight": w}, ...]}``, paths relative to the JSON file)."""
    if isinstance(motion_file, (list, tuple)):
        if not motion_file:
            raise MotionError("motion_file: an empty list of clips")
        if len(motion_file) == 1:
            motion_file = motion_file[0]
        else:
            return [find_motion_file(str(f), f, motion_dir) for f in motion_file], [1.0] * len(motion_file)
    path = find_motion_file(clip_name or str(motion_file), motion_file, motion_dir)
    if path.startswith("builtin:"):
        return [path], [1.0]
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return [path], [1.0]  # not a motion set; the clip loader reports what is wrong with it
    if not (isinstance(doc, dict) and "Motions" in doc):
        return [path], [1.0]
    name = Path(path).name
    motions = doc["Motions"]
    if not isinstance(motions, list) or not motions:
        raise MotionError(f"{name}: motion set, field 'Motions' must be a non-empty list")
    paths, weights = [], []
    for k, entry in enumerate(motions):
        if not isinstance(entry, dict) or not isinstance(entry.get("File"), str):
            raise MotionError(f"{name}: motion {k}, field 'File' must be a string")
        w = entry.get("Weight", 1.0)
        if not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
            raise MotionError(f"{name}: motion {k}, field 'Weight' must be a finite number >= 0, got {w!r}")
        f = Path(entry["File"])
        f = f if f.is_absolute() else Path(path).parent / f
        paths.append(find_motion_file(f.name, f, None))
        weights.append(float(w))
    if sum(weights) <= 0:
        raise MotionError(f"{name}: motion set, field 'Weight' sums to 0")
    return paths, weights


def load_motion(path: str | os.PathLike) -> MotionClip:
    """Load a clip file or ``builtin:<name>``; same as :meth:`MotionClip.load`."""
    return MotionClip.load(path)
