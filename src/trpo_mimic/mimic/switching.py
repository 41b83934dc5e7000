"""Clip switches inside an episode: :func:`switch` (to a given clip, continuing from its nearest pose), the
random ones of ``switch_interval`` (:func:`random_switches`) and the blend of ``switch_blend`` (:func:`blend_packed`,
:func:`blend_hinges`, :func:`blend_qpos`: the old clip fading into the new). Functions of
:class:`.core.DeepMimicCore` (bound as its methods)."""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .quat import quat_yaw, rotz, slerp_rows, wrap_pi, yaw_quat

SWITCH_FOLLOW_SECONDS = 1.0
"""After a clip switch, the new clip's path follows the character's root (horizontally) for this long: the
character changes speed in its own time (a walk does not become a run in one step), tracked on its pose and
velocities meanwhile, and the path goes on from where it stands at the end."""

SWITCH_POSE_GRACE_SECONDS = 2.0
"""After a clip switch, training's pose termination waits this long (the follow window and a second more): the
character has its time to match the new clip's speed before a gap to its path ends the episode (a fall still
does)."""


class RefFrame(NamedTuple):
    """Each environment's reference frame after a clip switch (:func:`switch`), (N, ...) arrays: where ``moved``,
    turned by ``rot`` / ``yq`` and moved by ``off``; and its blend (``switch_blend``): from new-clip time ``start``
    to ``end`` the reference fades from clip ``src`` (from its time ``t0`` at the switch, ``rate`` of its seconds
    per second of the new), in that clip's own frame (``brot`` / ``boff`` / ``byq``), into the new clip."""

    moved: np.ndarray
    rot: np.ndarray
    off: np.ndarray
    yq: np.ndarray
    start: np.ndarray
    end: np.ndarray
    src: np.ndarray
    t0: np.ndarray
    rate: np.ndarray
    brot: np.ndarray
    boff: np.ndarray
    byq: np.ndarray


def allocate(self: Any, n: int) -> None:
    """The switches' state of n environments: the timers, and the arrays of :class:`RefFrame` (no switch yet)."""
    self.switch_left = np.full(n, np.inf)  # seconds to each environment's next random clip switch
    self.follow_left = np.zeros(n)  # seconds of each environment's path following after a switch
    self.grace_left = np.zeros(n)  # seconds left of each environment's pose-termination grace after a switch
    self.ref_moved = np.zeros(n, dtype=bool)
    self.ref_rot, self.ref_off, self.ref_yq = np.tile(np.eye(3), (n, 1, 1)), np.zeros((n, 3)), np.zeros((n, 4))
    self.blend_start, self.blend_end = np.zeros(n), np.full(n, -np.inf)
    self.blend_from = np.zeros(n, dtype=np.intp)
    self.blend_t0, self.blend_rate = np.zeros(n), np.ones(n)
    self.blend_rot, self.blend_off = np.tile(np.eye(3), (n, 1, 1)), np.zeros((n, 3))
    self.blend_yq = np.tile([1.0, 0.0, 0.0, 0.0], (n, 1))


def frame_arrays(self: Any) -> RefFrame:
    """The environments' :class:`RefFrame` as the core holds it (its arrays, not copies)."""
    return RefFrame(self.ref_moved, self.ref_rot, self.ref_off, self.ref_yq, self.blend_start, self.blend_end,
                    self.blend_from, self.blend_t0, self.blend_rate, self.blend_rot, self.blend_off, self.blend_yq)


def switch(self: Any, i: int, clip: int) -> float:
    """Environment i imitates ``clip`` from now on, without a restart: from the time of that clip whose hinge
    angles are nearest the current reference's (on a 30 Hz grid of one cycle), its reference turned to the
    current reference's heading and moved horizontally so that its root starts where the character's root is
    (a drift from the old clip's path is not carried into the new one), and following the character for
    SWITCH_FOLLOW_SECONDS (:func:`follow`), its pose termination waiting SWITCH_POSE_GRACE_SECONDS. With
    ``switch_blend`` B > 0 the reference is, for about B seconds, the old clip fading into the new
    (:func:`blend_weight`), the two in step (:func:`blend_rate`, :func:`time_speed`); the follow window lasts the
    blend and the grace as much longer. A switch during a blend fades from the old blend's target clip. Returns
    the new clip's time."""
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
    blend = self.options.switch_blend
    if blend > 0:  # the old clip goes on along its own path (its frame now) and fades out over `blend` seconds
        rate = blend_rate(self.clips[int(c_old[0])], new)
        self.blend_from[i], self.blend_t0[i], self.blend_rate[i] = int(c_old[0]), float(t_old[0]), rate
        self.blend_start[i], self.blend_end[i] = t_new, t_new + blend * 0.5 * (1.0 + 1.0 / rate)
        if self.ref_moved[i]:
            self.blend_rot[i], self.blend_off[i], self.blend_yq[i] = self.ref_rot[i], self.ref_off[i], self.ref_yq[i]
        else:
            self.blend_rot[i], self.blend_off[i], self.blend_yq[i] = np.eye(3), 0.0, (1.0, 0.0, 0.0, 0.0)
    off = np.zeros(3)
    off[:2] = self.physics.state.xpos[i, self.index.root_body, :2]
    off -= rot @ v_new[0, root]
    off[2] = 0.0
    self.ref_rot[i], self.ref_off[i], self.ref_yq[i], self.ref_moved[i] = rot, off, yaw_quat(yaw), True
    self.t[i], self.clip_id[i], self.root_offset[i] = t_new, int(clip), 0.0
    longest = blend * max(self.blend_rate[i], 1.0 / self.blend_rate[i]) if blend > 0 else 0.0  # the blend's bound
    self.follow_left[i] = max(SWITCH_FOLLOW_SECONDS, longest)
    self.grace_left[i] = SWITCH_POSE_GRACE_SECONDS + max(0.0, longest - SWITCH_FOLLOW_SECONDS)
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
    gap = root - vec[:, self.layout.root_pos][:, :2]
    self.ref_off[rows, :2] += gap
    self.blend_off[rows, :2] += gap  # a blend's old path too, so that the blended root is on the character
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


def blend_rate(old, new) -> float:
    """How many seconds of the old clip a blend plays per second of the new: two looping clips, one cycle of each,
    stay at the phase they were matched at (a walk's 1.27 s cycle against a run's 0.80 s: 1.58), so that feet
    blend with the same feet; otherwise 1."""
    return old.duration / new.duration if old.loop == new.loop == "wrap" and new.duration > 0 else 1.0


def _old_times(t: np.ndarray, r: np.ndarray, frame: RefFrame) -> np.ndarray:
    """The old clip's times in the blends of environments ``r`` at new-clip times ``t``."""
    return frame.t0[r] + (t - frame.start[r]) * frame.rate[r]


def blend_weight(t: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The new clip's share of a blend from new-clip time ``start`` to ``end`` at times ``t``: 0 at the switch, 1 at
    its end, smoothstep between (no jump in the reference's rate of change at either end)."""
    x = np.clip((t - start) / (end - start), 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _speeds(w: np.ndarray, rate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How fast the new and the old clip play (1: their own speed) at the new clip's share ``w`` of a blend in which
    the old plays ``rate`` seconds per second of the new: a common pace that goes from the old clip's own to the
    new clip's own, so that neither plays far from its speed while it counts (a run is never slowed to a walk's
    cadence, whose flights gravity would not allow)."""
    new = (1.0 - w) / rate + w
    return new, new * rate


def _blending(self: Any, t: np.ndarray, rows: np.ndarray, frame: RefFrame):
    """(k, w): the positions in ``rows`` (times ``t``) inside a blend, and the new clip's share at each."""
    if not self.options.switch_blend > 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0)
    k = np.flatnonzero(t < frame.end[rows])
    r = rows[k]
    return k, blend_weight(t[k], frame.start[r], frame.end[r])


def time_speed(self: Any, t: np.ndarray) -> np.ndarray:
    """How fast each environment's clip time runs at clip times ``t`` (N,): 1, or the new clip's pace inside a
    blend (:func:`_speeds`)."""
    speed = np.ones(len(t))
    k, w = _blending(self, t, np.arange(len(t)), self._frame_arrays())
    if k.size:
        speed[k] = _speeds(w, self.blend_rate[k])[0]
    return speed


def blend_packed(self: Any, q: np.ndarray, vec: np.ndarray, t: np.ndarray, rows: np.ndarray,
                 frame: RefFrame) -> None:
    """References (rotations ``q`` (N, J, 4), packed ``vec`` (N, size)) of environments ``rows`` at new-clip times
    ``t``, in place: those inside a blend become the old clip's (in its frame, ``frame``'s blend part) fading into
    them: rotations by slerp, the packed vectors linearly, the rates of each clip at its pace."""
    k, w = _blending(self, t, rows, frame)
    if not k.size:
        return
    r = rows[k]
    qo, vo = self._by_clip(lambda c, tt: c.reference_packed_batch(tt), _old_times(t[k], r, frame), frame.src[r])
    lay = self.layout
    new_speed, old_speed = _speeds(w, frame.rate[r])
    vn = vec[k]
    for part in (lay.joint_angvel, lay.root_angvel, lay.root_linvel, lay.com_vel):
        vo[:, part] *= old_speed[:, None]
        vn[:, part] *= new_speed[:, None]
    lay.transform(qo, vo, frame.brot[r], frame.boff[r], frame.byq[r])
    vec[k] = vo + w[:, None] * (vn - vo)
    q[k] = slerp_rows(qo, q[k], w[:, None])


def blend_hinges(self: Any, fn_name: str, values: np.ndarray, t: np.ndarray) -> None:
    """Hinge values (N, hinges) of every environment at new-clip times ``t`` (the clips' ``fn_name``: the PD
    targets or rates), in place: those inside a blend fade from the old clip's (angles along the shorter way;
    rates at each clip's pace)."""
    frame = self._frame_arrays()
    k, w = _blending(self, t, np.arange(len(t)), frame)
    if not k.size:
        return
    old = self._by_clip(lambda c, tt: getattr(c, fn_name)(tt), _old_times(t[k], k, frame), self.blend_from[k])
    if fn_name == "hinge_targets_batch":
        values[k] = old + w[:, None] * wrap_pi(values[k] - old)
    else:
        new_speed, old_speed = _speeds(w, self.blend_rate[k])
        old *= old_speed[:, None]
        values[k] = old + w[:, None] * (values[k] * new_speed[:, None] - old)


def blend_qpos(self: Any, i: int, qpos: np.ndarray) -> np.ndarray:
    """Environment i's reference pose ``qpos`` (nq,) now, blended as :func:`blend_packed` blends the reward's."""
    rows, frame = np.array([i]), self._frame_arrays()
    k, w = _blending(self, self.t[rows], rows, frame)
    if not k.size:
        return qpos
    clip = self.clips[int(self.blend_from[i])]
    t_old = float(_old_times(self.t[rows], rows, frame)[0])
    old = clip.transform_qpos(clip.qpos_at(t_old), self.blend_rot[i], self.blend_off[i], self.blend_yq[i])
    r, h, a = self.index.root_qpos, self.index.hinge_qpos, float(w[0])
    out = old + a * (qpos - old)
    out[h] = old[h] + a * wrap_pi(qpos[h] - old[h])
    out[r + 3:r + 7] = slerp_rows(old[None, None, r + 3:r + 7], qpos[None, None, r + 3:r + 7], a)[0, 0]
    return out
