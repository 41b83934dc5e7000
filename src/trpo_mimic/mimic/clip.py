"""A DeepMimic reference motion, sampled at any time.

At load time every frame is pushed through MuJoCo forward kinematics once (resampled
by slerp at ``RESAMPLE_HZ``), so a query at times ``t`` is a search plus a few
vectorised interpolations: slerp for the root and joint rotations, linear for positions
and velocities.  Every sampler takes an array of times; the single-time methods
(``qpos_at``, ``reference`` ...) are the same computation on a one-element array.
Looping (``"wrap"``) clips carry the root on: each cycle applies the planar rigid
transform that maps the first frame's root (x, y, heading) onto the last frame's, so
the root keeps moving forward (and turning, if the clip turns).
"""

from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import mujoco
import numpy as np

from .builtin import builtin_frames
from .character import SimCharacter, humanoid
from .clipfile import clip_name, parse_frames, read_clip_file
from .quat import (euler_xyz_from_quat, quat_conj, quat_mul, quat_yaw, rotz, slerp_rows, wrap_pi,
                   yaw_quat, yup_to_zup_quat)
from .layout import KinematicState, StateLayout, angular_velocities

RESAMPLE_HZ = 240.0
"""Clips are resampled (by slerp) at least this finely for the per-step reference tables."""

ReferenceState = KinematicState
"""Reference quantities at one time, in the simulation's world frame."""


class MotionClip:
    """A reference motion sampled at any time; see the module docstring."""

    def __init__(self, frames: np.ndarray, loop: str = "wrap", name: str = "clip",
                 cycle_heading: bool = True, character: SimCharacter | None = None):
        """Build from validated DeepMimic frames (F, frame width) of ``character`` (the humanoid by default);
        prefer :meth:`load`."""
        self.name = name
        self.loop = loop
        self.character = character = character or humanoid()
        self.model = character.model
        self.index = character.index
        spec = character.spec
        frames = np.asarray(frames, dtype=np.float64)
        durations = frames[:, 0].copy()
        durations[-1] = 0.0
        self.frame_times = np.concatenate([[0.0], np.cumsum(durations[:-1])])
        self.duration = float(self.frame_times[-1])
        seg = np.diff(self.frame_times)
        self._frame_seg = np.where(seg > 0, seg, np.inf)
        self.qpos = character.frames_to_qpos(frames)
        # rotations slerped by qpos_at: root (Z-up) and the spherical joints (file axes)
        start = spec.field_start
        self._rot_frames = np.stack([yup_to_zup_quat(frames[:, 4:8])]
                                    + [frames[:, start[j]:start[j] + 4] for j in spec.spherical_joints], axis=1)
        self._sph_qpos = np.concatenate([self.index.joint_qpos[j] for j in spec.spherical_joints])
        self.num_frames = len(frames)

        # Planar cycle transform T: p -> Rz(dh) (p - p0) + p1 (identity for 'none').
        r = self.index.root_qpos
        q0, q1 = self.qpos[0, r + 3:r + 7], self.qpos[-1, r + 3:r + 7]
        if loop == "wrap":
            self.cycle_yaw = float(wrap_pi(quat_yaw(q1) - quat_yaw(q0))) if cycle_heading else 0.0
            rot = rotz(self.cycle_yaw)
            p0 = np.array([*self.qpos[0, r:r + 2], 0.0])
            p1 = np.array([*self.qpos[-1, r:r + 2], 0.0])
            self.cycle_offset = p1 - rot @ p0
        else:
            self.cycle_yaw, self.cycle_offset = 0.0, np.zeros(3)
        self._cycles = [(np.eye(3), np.zeros(3), np.array([1.0, 0, 0, 0]))]
        self._cycle_arr = None

        self.qvel = self._finite_difference_qvel()
        self._dqvel = np.diff(self.qvel, axis=0)
        self._precompute_kinematics()

    # ---------------------------------------------------------------- construction
    @classmethod
    def load(cls, path: str | os.PathLike, cycle_heading: bool = True,
             character: SimCharacter | None = None) -> "MotionClip":
        """Load a DeepMimic clip file of ``character`` (the humanoid by default), or ``builtin:<name>`` (the
        humanoid's; see ``builtin.py``)."""
        if str(path).startswith("builtin:"):
            if character is not None and character is not humanoid():
                raise ValueError(f"{path}: the builtin clips are the humanoid's, not {character.name}'s")
            return builtin_clip(str(path)[len("builtin:"):])
        character = character or humanoid()
        frames, loop = read_clip_file(path, character.spec.frame_fields)
        return cls(frames, loop, name=clip_name(Path(path)), cycle_heading=cycle_heading, character=character)

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
            rot1 = rotz(self.cycle_yaw)
            self._cycles.append((rot1 @ rot_prev, rot1 @ off_prev + self.cycle_offset,
                                 yaw_quat(n * self.cycle_yaw)))
        return self._cycles[c]

    def _cycle_arrays(self, c_max: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stacked (R, offset, yaw quaternion) of cycles 0..c_max (cached)."""
        cache = self._cycle_arr
        if cache is None or len(cache[0]) <= c_max:
            self._cycle(c_max)
            cache = tuple(np.stack([c[k] for c in self._cycles]) for k in range(3))
            self._cycle_arr = cache
        return cache

    def transform_qpos(self, qpos: np.ndarray, rot: np.ndarray, off: np.ndarray, yq: np.ndarray):
        """qpos (..., nq) moved by frame transforms (rot (..., 3, 3), off (..., 3), yq (..., 4)): a cycle's, or a
        reference moved onto the character (:meth:`.core.DeepMimicCore.switch`)."""
        out = qpos.copy()
        r = self.index.root_qpos
        out[..., r:r + 3] = np.matmul(qpos[..., None, r:r + 3], np.swapaxes(rot, -1, -2))[..., 0, :] + off
        out[..., r + 3:r + 7] = quat_mul(yq, qpos[..., r + 3:r + 7])
        return out

    def _finite_difference_qvel(self) -> np.ndarray:
        """Central differences between a frame's neighbours; one-sided at the first and last frames, of a wrap
        clip too. DeepMimic differences no frame across a clip's seam either (``cMotion::BuildFrameVel``: forward
        differences, the last frame's copied): its wrap clips are not all seamless (the spinkick's last pose is
        not its first), and a difference across the seam would put a spike of joint speed (58 against 13 for the
        spinkick's first frame) into the start states, the velocity reward and the PD feed-forward there."""
        m, F = self.model, self.num_frames
        qvel = np.zeros((F, m.nv))
        for i in range(F):
            lo, hi = max(i - 1, 0), min(i + 1, F - 1)
            dt = self.frame_times[hi] - self.frame_times[lo]
            if dt > 0:
                mujoco.mj_differentiatePos(m, qvel[i], dt, self.qpos[lo], self.qpos[hi])
        return qvel

    def _sample_segments(self) -> tuple[np.ndarray, np.ndarray]:
        """(frame segment, weight) of every resampled time: >= RESAMPLE_HZ, and the last frame."""
        times, seg_i, seg_w = self.frame_times.tolist(), [], []
        for i in range(self.num_frames - 1):
            k = max(1, math.ceil((times[i + 1] - times[i]) * RESAMPLE_HZ))
            seg_i += [i] * k
            seg_w += [j / k for j in range(k)]
        return np.array(seg_i + [self.num_frames - 2]), np.array(seg_w + [1.0])

    def _precompute_kinematics(self) -> None:
        """Resample at >= RESAMPLE_HZ (slerp) and run forward kinematics on every sample."""
        m, idx = self.model, self.index
        seg_i, seg_w = self._sample_segments()
        t0 = self.frame_times[seg_i]
        self.sample_times = t0 + seg_w * (self.frame_times[seg_i + 1] - t0)
        n = len(seg_i)
        d = mujoco.MjData(m)
        self.sample_qpos = self._poses_in_cycle(seg_i, seg_w)
        self.sample_qvel = self.qvel[seg_i] + seg_w[:, None] * (self.qvel[seg_i + 1] - self.qvel[seg_i])
        self.ee_pos = np.zeros((n, len(idx.ee_sites), 3))
        self.body_pos = np.zeros((n, len(idx.bodies), 3))
        self.com = np.zeros((n, 3))
        self.com_vel = np.zeros((n, 3))
        xquat, cvel = np.zeros((n, m.nbody, 4)), np.zeros((n, m.nbody, 6))
        for s in range(n):
            d.qpos[:] = self.sample_qpos[s]
            d.qvel[:] = self.sample_qvel[s]
            mujoco.mj_kinematics(m, d)
            mujoco.mj_comPos(m, d)
            mujoco.mj_comVel(m, d)
            mujoco.mj_subtreeVel(m, d)
            self.ee_pos[s] = d.site_xpos[idx.ee_sites]
            self.body_pos[s] = d.xpos[idx.bodies]
            self.com[s] = d.subtree_com[idx.root_body]
            self.com_vel[s] = d.subtree_linvel[idx.root_body]
            xquat[s], cvel[s] = d.xquat, d.cvel
        # the rotations' maths over every sample at once (elementwise: the same numbers as sample by sample)
        self.angvel = angular_velocities(xquat, cvel, idx.joint_bodies, idx.joint_parents)
        quats = np.zeros((n, len(idx.joint_bodies), 4))
        quats[:, 0] = xquat[:, idx.root_body]
        quats[:, 1:] = quat_mul(quat_conj(xquat[:, idx.pose_parents]), xquat[:, idx.pose_bodies])
        self.sample_quats = quats
        self._build_tables()

    def _build_tables(self) -> None:
        """The interpolation tables of the samplers, from the resampled kinematics."""
        idx, n, quats = self.index, len(self.sample_times), self.sample_quats
        # Slerp tables per sample segment: start, sign-aligned end, angle, 1/sin(angle).
        q0, q1 = quats[:-1], quats[1:].copy()
        dot = np.sum(q0 * q1, axis=-1)
        q1[dot < 0] *= -1
        theta = np.maximum(np.arccos(np.clip(np.abs(dot), 0.0, 1.0)), 1e-9)
        self._slerp_q = np.stack([q0, q1], axis=1)  # (n-1, 2, 13, 4)
        self._slerp_theta = theta  # (n-1, 13)
        self._slerp_inv_sin = 1.0 / np.sin(theta)
        r, rv = idx.root_qpos, idx.root_qvel
        # Packed table in the layout of layout.StateLayout.
        self.layout = lay = StateLayout.of(self.model, idx)
        root = self.sample_qpos[:, r:r + 3]
        self._packed = lay.pack(self.angvel, self.ee_pos, self.body_pos, root, self.sample_qvel[:, rv:rv + 3],
                                self.com_vel, self.com)
        self._dpacked = np.diff(self._packed, axis=0)

    def quats_of_frames(self) -> np.ndarray:
        """(F, 13, 4) root world rotation and joint local rotations at the clip's frames."""
        return self.sample_quats[np.searchsorted(self.sample_times, self.frame_times, side="left")]

    def _poses_in_cycle(self, i: np.ndarray, w: np.ndarray) -> np.ndarray:
        """qpos (N, nq) between frames i and i+1 of cycle 0 (rotations by slerp of the frames)."""
        idx, w = self.index, w[:, None]
        lin = self.qpos[i] + w * (self.qpos[i + 1] - self.qpos[i])
        q = lin.copy()
        rots = slerp_rows(self._rot_frames[i], self._rot_frames[i + 1], w)
        r = idx.root_qpos
        q[:, r + 3:r + 7] = rots[:, 0]
        q[:, self._sph_qpos] = euler_xyz_from_quat(rots[:, 1:]).reshape(len(q), -1)
        h = idx.hinge_qpos
        q[:, h] = lin[:, h] + wrap_pi(q[:, h] - lin[:, h])
        return q

    # ---------------------------------------------------------------- sampling
    @property
    def frame_duration(self) -> np.ndarray:
        """Seconds from each frame to the next (last frame 0)."""
        return np.append(np.diff(self.frame_times), 0.0)

    def _cycle_and_tau(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(cycle >= 0, time in the cycle) of times t."""
        t = np.asarray(t, dtype=np.float64)
        if self.loop == "wrap":
            c = np.floor(t / self.duration)
            return np.maximum(c, 0).astype(np.intp), t - c * self.duration
        return np.zeros(t.shape, np.intp), np.minimum(np.maximum(t, 0.0), self.duration)

    def _locate(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cycle, frame segment, weight in [0, 1]) of times t."""
        c, tau = self._cycle_and_tau(t)
        times = self.frame_times
        i = np.searchsorted(times[1:-1], tau, side="right")  # the segment, clamped to the first and last
        w = (tau - times[i]) / self._frame_seg[i]  # 0 in a segment of no duration
        return c, i, np.minimum(np.maximum(w, 0.0), 1.0)

    def _locate_sample(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cycle, segment, weight) of times t in the resampled tables."""
        c, tau = self._cycle_and_tau(t)
        times = self.sample_times
        i = np.searchsorted(times[1:-1], tau, side="right")  # the segment, clamped to the first and last
        t0 = times[i]
        return c, i, (tau - t0) / (times[i + 1] - t0)

    def _slerp_sample(self, i: np.ndarray, w: np.ndarray) -> np.ndarray:
        """(N, 13, 4) rotations by slerp in the resampled tables."""
        th, inv = self._slerp_theta[i], self._slerp_inv_sin[i]
        a = np.sin((1.0 - w)[:, None] * th) * inv
        b = np.sin(w[:, None] * th) * inv
        sq = self._slerp_q[i]
        return a[:, :, None] * sq[:, 0] + b[:, :, None] * sq[:, 1]

    def phase_batch(self, t: np.ndarray) -> np.ndarray:
        """Clip phase in [0, 1) at times t (clamped to 1 - eps after a 'none' clip ends)."""
        t = np.asarray(t, dtype=np.float64)
        if self.loop == "wrap":
            return np.remainder(t / self.duration, 1.0)
        return np.minimum(np.maximum(t / self.duration, 0.0), math.nextafter(1.0, 0.0))

    def qpos_batch(self, t: np.ndarray) -> np.ndarray:
        """MJCF qpos (N, nq) at times t (root and joint rotations by slerp between frames)."""
        c, i, w = self._locate(np.atleast_1d(t))
        q = self._poses_in_cycle(i, w)
        moved = np.flatnonzero(c > 0)
        if moved.size:
            rot, off, yq = self._cycle_arrays(int(c.max()))
            cm = c[moved]
            q[moved] = self.transform_qpos(q[moved], rot[cm], off[cm], yq[cm])
        return q

    def qvel_batch(self, t: np.ndarray) -> np.ndarray:
        """MJCF qvel (N, nv) at times t (linear interpolation of per-frame finite differences)."""
        c, i, w = self._locate(np.atleast_1d(t))
        v = self.qvel[i] + w[:, None] * self._dqvel[i]
        moved = np.flatnonzero(c > 0)
        if moved.size:
            rv = self.index.root_qvel
            rot = self._cycle_arrays(int(c.max()))[0][c[moved]]
            v[moved, rv:rv + 3] = np.matmul(rot, v[moved, rv:rv + 3, None])[..., 0]
        return v

    def hinge_targets_batch(self, t: np.ndarray) -> np.ndarray:
        """The reference's hinge angles (N, hinges; actuator order) at times t, linear between frames.

        Hinge angles do not depend on the cycle, so this is the feed-forward target of the
        residual action mode."""
        _, i, w = self._locate(np.atleast_1d(t))
        h, i = self.index.hinge_qpos, i[:, None]
        return self.qpos[i, h] + w[:, None] * (self.qpos[i + 1, h] - self.qpos[i, h])

    def hinge_velocities_batch(self, t: np.ndarray) -> np.ndarray:
        """The reference's hinge rates (N, hinges; rad/s) at times t; like the angles, they do not
        depend on the cycle. The velocity feed-forward of ``pd_feedforward``."""
        _, i, w = self._locate(np.atleast_1d(t))
        h = self.index.hinge_qvel
        return self.qvel[i[:, None], h] + w[:, None] * self._dqvel[i[:, None], h]

    def reference_batch(self, t: np.ndarray) -> ReferenceState:
        """Everything the reward needs at times t, by name, in world coordinates; each field has a
        leading axis N (:meth:`reference_packed_batch` unpacked)."""
        return self.layout.unpack(*self.reference_packed_batch(t))

    def reference_packed_batch(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(quats (N, 13, 4), packed (N, n)) at times t: :meth:`reference_batch` in the layout of
        :class:`.layout.StateLayout`, for the environments' hot loops."""
        c, i, w = self._locate_sample(np.atleast_1d(t))
        quats = self._slerp_sample(i, w)
        vec = self._packed[i] + w[:, None] * self._dpacked[i]
        moved = np.flatnonzero(c > 0)
        if moved.size:  # each time's cycle transform
            rot, off, yq = self._cycle_arrays(int(c.max()))
            cm = c[moved]
            q, v = quats[moved], vec[moved]
            self.layout.transform(q, v, rot[cm], off[cm], yq[cm])
            quats[moved], vec[moved] = q, v
        return quats, vec

    # ------------------------------------------------- one time: the batch of one
    def phase(self, t: float) -> float:
        """:meth:`phase_batch` at one time."""
        return float(self.phase_batch(t))

    def qpos_at(self, t: float) -> np.ndarray:
        """:meth:`qpos_batch` at one time: qpos (nq,)."""
        return self.qpos_batch(t)[0]

    def qvel_at(self, t: float) -> np.ndarray:
        """:meth:`qvel_batch` at one time: qvel (nv,)."""
        return self.qvel_batch(t)[0]

    def hinge_targets(self, t: float) -> np.ndarray:
        """:meth:`hinge_targets_batch` at one time."""
        return self.hinge_targets_batch(t)[0]

    def hinge_velocities(self, t: float) -> np.ndarray:
        """:meth:`hinge_velocities_batch` at one time."""
        return self.hinge_velocities_batch(t)[0]

    def reference(self, t: float) -> ReferenceState:
        """:meth:`reference_batch` at one time."""
        ref = self.reference_batch(t)
        return ReferenceState(**{k: v[0] for k, v in vars(ref).items()})

    def reference_packed(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`reference_packed_batch` at one time: (quats (13, 4), packed vector)."""
        quats, vec = self.reference_packed_batch(t)
        return quats[0], vec[0]

    def __repr__(self) -> str:
        return (f"MotionClip({self.name!r}, frames={self.num_frames}, duration={self.duration:.3f}s, "
                f"loop={self.loop!r})")


@lru_cache(maxsize=None)
def builtin_clip(name: str) -> MotionClip:
    """The builtin clip ``name`` (see ``builtin.py``), built once per process."""
    frames, loop = builtin_frames(name)
    return MotionClip.from_frames(frames, loop=loop, name=f"builtin:{name}")


def load_motion(path: str | os.PathLike) -> MotionClip:
    """Load a clip file or ``builtin:<name>``; same as :meth:`MotionClip.load`."""
    return MotionClip.load(path)
