"""Clip switches inside an episode: :func:`switch` (to a given clip, continuing from its nearest pose) and the
random ones of ``switch_interval`` (:func:`random_switches`). Functions of :class:`.core.DeepMimicCore` (bound as
its methods)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .quat import quat_yaw, rotz, wrap_pi, yaw_quat


def switch(self: Any, i: int, clip: int) -> float:
    """Environment i imitates ``clip`` from now on, without a restart: from the time of that clip whose hinge
    angles are nearest the current reference's (on a 30 Hz grid of one cycle), its reference turned to the
    current reference's heading and moved horizontally so that its root starts where the character's root is
    (a drift from the old clip's path is not carried into the new one). Returns that time."""
    i, rows = int(i), np.array([int(i)])
    t_old, c_old = self.t[rows], self.clip_id[rows]
    q_old, _ = self.reference(t_old, c_old, rows)
    new = self.clips[int(clip)]
    grid = np.arange(0.0, new.duration, self.control_dt)
    gap = wrap_pi(new.hinge_targets_batch(grid) - self.clips[int(c_old[0])].hinge_targets_batch(t_old))
    t_new = float(grid[int(np.argmin((gap * gap).sum(axis=1)))])
    q_new, v_new = new.reference_packed_batch(np.array([t_new]))
    yaw = float(quat_yaw(q_old[:, 0])[0] - quat_yaw(q_new[:, 0])[0])
    rot, root = rotz(yaw), self.layout.root_pos
    off = np.zeros(3)
    off[:2] = self.physics.state.xpos[i, self.index.root_body, :2]
    off -= rot @ v_new[0, root]
    off[2] = 0.0
    self.ref_rot[i], self.ref_off[i], self.ref_yq[i], self.ref_moved[i] = rot, off, yaw_quat(yaw), True
    self.t[i], self.clip_id[i], self.root_offset[i] = t_new, int(clip), 0.0
    return t_new


def random_switches(self: Any, going: np.ndarray, obs: np.ndarray) -> None:
    """``switch_interval``: the continuing environments whose time to a switch has run out :meth:`switch` to
    another clip (drawn by the clips' weights), and their next switch is drawn; their rows of ``obs`` become
    observations of the new clip (the step's reward stays the old clip's)."""
    self.switch_left[going] -= self.control_dt
    due = np.flatnonzero(going & (self.switch_left <= 1e-9))
    if not due.size:
        return
    lo_hi = self.options.switch_interval
    for i in due:
        rng, c = self.rngs[i], int(self.clip_id[i])
        w = self.clip_weights.astype(np.float64).copy()
        w[c] = 0.0
        self.switch(int(i), int(rng.choice(len(w), p=w / w.sum())))
        self.switch_left[i] = float(rng.uniform(*lo_hi))
    t, ids = self.t[due], self.clip_id[due]
    obs[due] = self.observe(self.physics.read(due), t, ids, self.reference(t, ids, due))
