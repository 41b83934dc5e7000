"""Clip switches inside an episode: :func:`switch` (to a given clip, continuing from its nearest pose) and the
random ones of ``switch_interval`` (:func:`random_switches`). Functions of :class:`.core.DeepMimicCore` (bound as
its methods)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .quat import quat_yaw, rotz, wrap_pi, yaw_quat

SWITCH_FOLLOW_SECONDS = 1.0
"""After a clip switch, the new clip's path follows the character's root (horizontally) for this long: the
character changes speed in its own time (a walk does not become a run in one step), tracked on its pose and
velocities meanwhile, and the path goes on from where it stands at the end."""

SWITCH_POSE_GRACE_SECONDS = 2.0
"""After a clip switch, training's pose termination waits this long (the follow window and a second more): the
character has its time to match the new clip's speed before a gap to its path ends the episode (a fall still
does)."""


def switch(self: Any, i: int, clip: int) -> float:
    """Environment i imitates ``clip`` from now on, without a restart: from the time of that clip whose hinge
    angles are nearest the current reference's (on a 30 Hz grid of one cycle), its reference turned to the
    current reference's heading and moved horizontally so that its root starts where the character's root is
    (a drift from the old clip's path is not carried into the new one), and following the character for
    SWITCH_FOLLOW_SECONDS (:func:`follow`), its pose termination waiting SWITCH_POSE_GRACE_SECONDS. Returns that
    time."""
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
    self.follow_left[i] = SWITCH_FOLLOW_SECONDS
    self.grace_left[i] = SWITCH_POSE_GRACE_SECONDS
    return t_new


def follow(self: Any, t: np.ndarray, ids: np.ndarray) -> None:
    """The environments in the window after a switch: their references at times ``t`` are moved horizontally onto
    their characters' roots (:data:`SWITCH_FOLLOW_SECONDS`); every pose-termination grace counts down a step."""
    self.grace_left[:] = np.maximum(self.grace_left - self.control_dt, 0.0)
    rows = np.flatnonzero(self.follow_left > 0)
    if not rows.size:
        return
    _, vec = self.reference(t[rows], ids[rows], rows)
    root = self.physics.state.xpos[rows, self.index.root_body, :2]
    self.ref_off[rows, :2] += root - vec[:, self.layout.root_pos][:, :2]
    self.follow_left[rows] = np.maximum(self.follow_left[rows] - self.control_dt, 0.0)


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
