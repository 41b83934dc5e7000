"""What :class:`.core.DeepMimicCore` measures of N states at once: the observations (:func:`observe`), the reward
with its terms, the body-position errors and the failure measures (:func:`score`), and the failures decided on
them (:func:`failed`). Written as functions of the core (bound as its methods), over arrays of N environments."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .layout import angular_velocities
from .physics import PhysicsState
from .quat import QMUL, quat_yaw
from .reward import BODY_ERRORS, TERMS, heading

INFO_KEYS = tuple(f"reward_{k}" for k in TERMS)
"""Per-step info keys of the reward terms; ``BODY_ERRORS`` (metres) come beside them."""
ROOT_ROT_FAIL_ANGLE = 0.5 * np.pi
"""Root-rotation failure: the root's rotation is more than this from the reference's (DeepMimic)."""
REF_OBS_SIZE = 5
"""ref_obs: reference root position in the heading frame (3), cos and sin of the heading error (2)."""


@dataclass
class Score:
    """What :meth:`DeepMimicCore.score` measures of N states (rows in environment order)."""

    total: np.ndarray  # (N,) reward
    terms: np.ndarray  # (N, len(TERMS))
    errors: np.ndarray  # (N, len(BODY_ERRORS)) mean body-position errors (m): global, root-relative
    drift_sq: np.ndarray  # (N,) horizontal root distance to the reference, squared
    root_angle: np.ndarray  # (N,) angle of the root's rotation from the reference's (rad)
    sim: tuple[np.ndarray, np.ndarray] | None = None  # the states as the reward sees them: (quats, packed)


def step_info(terms: np.ndarray, errors: np.ndarray) -> dict[str, np.ndarray]:
    """The per-step info arrays (N,) of reward terms and body-position errors."""
    info = {k: terms[:, j] for j, k in enumerate(INFO_KEYS)}
    info.update({k: errors[:, j] for j, k in enumerate(BODY_ERRORS)})
    return info


def observe(self: Any, s: PhysicsState, t: np.ndarray, ids: np.ndarray, ref) -> np.ndarray:
    """Observations (N, obs_dim) of states ``s`` at clip times t (``ref``: :meth:`reference`)."""
    n, idx = len(t), self.index
    obs = np.empty((n, self.obs_dim))
    if self.options.clip_id_obs:
        obs[:, self.task_obs_dim:] = np.eye(len(self.clips))[ids]
    if self.options.obs_mode == "compact":
        nh = self.model.nq - 7
        obs[:, :nh] = s.qpos[:, idx.root_qpos + 7:]
        obs[:, nh:self.task_obs_dim] = s.qvel[:, idx.root_qvel + 6:]
        return obs
    sel, nb = self._body_sel, len(idx.bodies)
    xpos, xquat, cvel = s.xpos[:, sel], s.xquat[:, sel], s.cvel[:, sel]
    hx, hy = s.root_mat[:, 0], s.root_mat[:, 3]
    norm = np.hypot(hx, hy)
    ok = norm > 1e-9
    safe = np.where(ok, norm, 1.0)
    c = np.where(ok, hx / safe, 1.0)
    sn = np.where(ok, hy / safe, 0.0)
    rot = np.zeros((n, 3, 3))  # world -> heading frame, applied as v @ rot
    rot[:, 0, 0] = rot[:, 1, 1] = c
    rot[:, 0, 1], rot[:, 1, 0], rot[:, 2, 2] = -sn, sn, 1.0
    ch = np.sqrt(np.maximum(0.0, 0.5 * (1.0 + c)))
    sh = np.copysign(np.sqrt(np.maximum(0.0, 0.5 * (1.0 - c))), sn)
    lmat = np.zeros((n, 4, 4))  # q @ lmat == (ch, 0, 0, -sh) * q: rotation by the inverse heading
    lmat[:, 0, 0] = lmat[:, 1, 1] = lmat[:, 2, 2] = lmat[:, 3, 3] = ch
    lmat[:, 3, 0] = lmat[:, 2, 1] = sh
    lmat[:, 1, 2] = lmat[:, 0, 3] = -sh
    root_pos = s.xpos[:, idx.root_body]
    obs[:, 0] = self.phase(t, ids)
    obs[:, 1] = root_pos[:, 2]
    np.matmul(xpos - root_pos[:, None], rot, out=obs[:, 2:2 + 3 * nb].reshape(n, nb, 3))
    q = obs[:, 2 + 3 * nb:2 + 7 * nb].reshape(n, nb, 4)
    np.matmul(xquat, lmat, out=q)
    np.negative(q, out=q, where=q[:, :, :1] < 0)
    vel = np.empty((n, 2 * nb, 3))
    w = cvel[:, :, :3]
    vel[:, nb:] = w
    r = xpos - s.com[:, None]
    wx, wy, wz = w[..., 0], w[..., 1], w[..., 2]
    rx, ry, rz = r[..., 0], r[..., 1], r[..., 2]
    lin = vel[:, :nb]  # linear velocity of each body origin: v_com-point + w x (x_body - com)
    lin[..., 0] = wy * rz - wz * ry
    lin[..., 1] = wz * rx - wx * rz
    lin[..., 2] = wx * ry - wy * rx
    lin += cvel[:, :, 3:]
    np.matmul(vel, rot, out=obs[:, 2 + 7 * nb:2 + 13 * nb].reshape(n, 2 * nb, 3))
    if self.options.ref_obs:
        ref_q, ref_vec = ref
        k = 2 + 13 * nb
        np.matmul((ref_vec[:, self.layout.root_pos] - root_pos)[:, None], rot, out=obs[:, None, k:k + 3])
        dyaw = quat_yaw(ref_q[:, 0]) - np.arctan2(sn, c)
        obs[:, k + 3], obs[:, k + 4] = np.cos(dyaw), np.sin(dyaw)
    return obs


def score(self: Any, s: PhysicsState, ref, root_offset: np.ndarray | None = None) -> "Score":
    """The reward, its terms, the body-position errors and the failure measures of states ``s``
    against references ``ref`` (:meth:`reference`). The reward's reference root (and com) is moved
    horizontally by ``root_offset`` (N, 2) (``sync_root``); the errors, drift and failures measure
    against the clip's own path."""
    n, idx, lay = len(s.qpos), self.index, self.layout
    xq = s.xquat
    par = xq[:, self._rot_parents]
    par[..., 1:] *= -1.0
    q = (par[..., :, None] * xq[:, self._rot_children][..., None, :]).reshape(n, -1, 16) @ QMUL
    ref_q, ref_vec = ref
    dot = np.abs(np.einsum("nij,nij->ni", q, ref_q))
    ang = 2.0 * np.arccos(np.minimum(dot, 1.0))
    rv, root_pos = idx.root_qvel, s.xpos[:, idx.root_body]
    sim = lay.pack(angular_velocities(xq, s.cvel, self._rot_children, self._rot_parents),
                   s.site[:, idx.ee_sites], s.xpos[:, self._body_sel], root_pos, s.qvel[:, rv:rv + 3],
                   s.com_vel, s.com)
    diff = self.reward.difference(sim, ref_vec, heading(s.root_mat), quat_yaw(ref_q[:, 0]))
    rdiff = diff
    if root_offset is not None and root_offset.any():
        rdiff = diff.copy()
        for part in (lay.root_pos, lay.com):  # positions; everything else is relative or a velocity
            rdiff[:, part.start:part.start + 2] -= root_offset
    total, terms = self.reward(ang * ang, rdiff)
    dxy = diff[:, lay.root_pos][:, :2]
    return Score(total, terms, self.reward.body_errors(diff), dxy[:, 0] ** 2 + dxy[:, 1] ** 2, ang[:, 0], (q, sim))


def failed(self: Any, sc: "Score") -> np.ndarray:
    """(N,) bool: the episode ends (terminated) on this score: root-rotation failure, or, while
    training, the pose termination (not within a switch's grace: switching.SWITCH_POSE_GRACE_SECONDS) or the
    drift bound."""
    o = self.options
    out = np.zeros(len(sc.total), dtype=bool)
    if o.root_rot_fail:
        out |= sc.root_angle > ROOT_ROT_FAIL_ANGLE
    pose, drift = o.in_force("pose_termination"), o.in_force("max_root_drift")
    if pose is not None:
        out |= (sc.errors[:, 0] > pose) & ~(self.grace_left > 0)
    if drift is not None:
        out |= sc.drift_sq > drift ** 2
    return out
