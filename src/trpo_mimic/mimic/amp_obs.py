"""The discriminator's observation of a character's transition (adversarial motion priors, DeepMimic's
``SceneImitateAMP``; ``docs/amp.md`` in the shared material, section 1), computed alike for the simulation and for
a clip, from the packed state the reward already uses (:mod:`.layout`: the rotations ``quats`` (N, J, 4), the
root's in the world and each joint's relative to its parent, and the packed vector).

Two frames 1/30 s apart, ``[P(now), P(before), V(now), V(before)]``, both seen in the heading frame of *now* (a yaw
about +z: the character's heading does not matter, its turning does):

- ``P``: the root's height; the root's rotation as two columns of its matrix (6, the heading frame's); each
  joint's rotation relative to its parent as two columns (6 each: DeepMimic gives its revolute joints one angle;
  here every joint is a ball of three hinges or one hinge, all written alike); each end effector's position
  relative to the root (3 each).
- ``V``: the root's linear and angular velocities (3 + 3, heading frame), each joint's angular velocity relative to
  its parent in its own frame (3 each).

The humanoid: P = 1 + 6 + 12 x 6 + 4 x 3 = 91, V = 6 + 12 x 3 = 42, 266 values in all.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .layout import StateLayout
from .quat import quat_to_mat, quat_yaw

TRANSITION_DT = 1.0 / 30.0
"""The time between a transition's two frames (DeepMimic's control step)."""


def _heading_rot(yaw: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotations by -yaw about +z (world -> heading frame, applied as R @ v)."""
    c, s = np.cos(yaw), np.sin(yaw)
    r = np.zeros((len(yaw), 3, 3))
    r[:, 0, 0], r[:, 0, 1], r[:, 1, 0], r[:, 1, 1], r[:, 2, 2] = c, s, -s, c, 1.0
    return r


class AMPObservation:
    """The transition observation of one character layout."""

    def __init__(self, layout: StateLayout):
        self.layout = lay = layout
        nj = lay.n_joints - 1
        self.pose_dim = 1 + 6 + 6 * nj + 3 * lay.n_ee
        self.vel_dim = 6 + 3 * nj
        self.dim = 2 * (self.pose_dim + self.vel_dim)

    def _pose(self, quats: np.ndarray, vec: np.ndarray, rh: np.ndarray) -> np.ndarray:
        lay, n = self.layout, len(vec)
        root = vec[:, lay.root_pos]
        mats = quat_to_mat(quats)  # (N, J, 3, 3)
        mats[:, 0] = rh @ mats[:, 0]
        two = mats[..., [0, 2]].swapaxes(-1, -2).reshape(n, -1)  # x and z axes of each rotation: (N, 6 J)
        ee = vec[:, lay.ee].reshape(n, -1, 3).copy()  # packed: horizontal offset from the root, then height
        ee[..., 2] -= root[:, None, 2]
        ee = ee @ rh.swapaxes(-1, -2)
        return np.concatenate([root[:, 2:3], two, ee.reshape(n, -1)], axis=1)

    def _vel(self, vec: np.ndarray, rh: np.ndarray) -> np.ndarray:
        lay = self.layout
        lin = (rh @ vec[:, lay.root_linvel, None])[..., 0]
        ang = (rh @ vec[:, lay.root_angvel, None])[..., 0]
        return np.concatenate([lin, ang, vec[:, lay.joint_angvel]], axis=1)

    def __call__(self, now: tuple[np.ndarray, np.ndarray], before: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Observations (N, dim) of transitions from ``before`` to ``now``, each a (quats, packed) pair."""
        rh = _heading_rot(quat_yaw(now[0][:, 0]))
        return np.concatenate([self._pose(*now, rh), self._pose(*before, rh), self._vel(now[1], rh),
                               self._vel(before[1], rh)], axis=1)


class ExpertTransitions:
    """The expert's transitions of a motion set: a clip drawn by weight, a time uniform in its span (from
    TRANSITION_DT, so that the earlier frame is in the clip), the two frames from the clip's reference."""

    def __init__(self, clips: Sequence, weights: np.ndarray, obs: AMPObservation):
        self.clips, self.obs = list(clips), obs
        w = np.asarray(weights, dtype=np.float64)
        self.p = w / w.sum()
        for c in self.clips:
            if c.duration <= TRANSITION_DT:
                raise ValueError(f"{c.name}: a clip of {c.duration:.3f} s holds no transition of {TRANSITION_DT:.3f} s")

    def __call__(self, n: int, rng: np.random.Generator) -> np.ndarray:
        ids = rng.choice(len(self.clips), size=n, p=self.p)
        u = rng.uniform(size=n)
        out = np.empty((n, self.obs.dim))
        for k in np.unique(ids):
            rows = np.flatnonzero(ids == k)
            clip = self.clips[int(k)]
            t = TRANSITION_DT + u[rows] * (clip.duration - TRANSITION_DT)
            out[rows] = self.obs(clip.reference_packed_batch(t), clip.reference_packed_batch(t - TRANSITION_DT))
        return out
