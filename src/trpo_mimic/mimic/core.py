"""The DeepMimic task for N environments at once: the one implementation.

Action to PD targets, observations, reward terms, terminations and the reset state
(reference state initialisation) are computed here as functions over arrays of N
environments, each with its own clip and time. The single Gymnasium env
(:class:`.env.DeepMimicEnv`) is the N = 1 case and the batched env
(:class:`.vector.DeepMimicVectorEnv`) the N > 1 case of this same code; the physics sits
behind :class:`.physics.MujocoPhysics`.

A step (:meth:`DeepMimicCore.step`): the actions of all N become PD targets, the physics
steps every character (in threads) and decides per character whether it ended (unstable
simulation, contact of a fall-contact body, end of a clip that plays once, time limit) and,
with autoreset, starts ended ones again; then observations, rewards and body-position errors
are computed once for all N from the stacked state, and the rules decided on those quantities
end characters too (:meth:`DeepMimicCore.failed`: the root-rotation failure, and the training
devices that ``mode="eval"`` switches off, the pose termination and the drift bound).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .options import OPTION, PHYSICS_BACKENDS, TaskOptions
from . import measure, scene, starts, switching
from .character import CharacterIndex, SimCharacter, sim_character
from .clip import MotionClip
from .layout import StateLayout
from .loading import CONTROL_HZ, fall_contact_body_ids, find_character, frame_skip_of, load_clips
from .measure import INFO_KEYS, REF_OBS_SIZE, step_info
from .physics import PhysicsState
from .reward import ImitationReward, RewardWeights, pose_weight_vector
from .starts import RSI_BINS

__all__ = ["CONTROL_HZ", "INFO_KEYS", "DeepMimicCore", "StepResult", "TaskOptions", "make_core", "step_info"]


@dataclass
class StepResult:
    """One step of N environments (rows in environment order)."""

    obs: np.ndarray  # (N, obs_dim): the step's last observations
    reward: np.ndarray  # (N,)
    terms: np.ndarray  # (N, len(TERMS))
    errors: np.ndarray  # (N, len(BODY_ERRORS)) mean body-position errors (m)
    terminated: np.ndarray
    truncated: np.ndarray
    unstable: np.ndarray
    time: np.ndarray  # (N,) clip time of the step
    clip: np.ndarray  # (N,) clip of the step
    reset_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    reset_obs: np.ndarray | None = None  # (R, obs_dim): first observations of the new episodes
    reset_info: dict | None = None  # arrays (R,)
    extra: dict = field(default_factory=dict)  # a scene's per-step arrays (N, ...): AMP observations, task terms


def physics_backend(name: str) -> type:
    """The physics backend's class (:data:`.options.PHYSICS_BACKENDS`), imported now (MuJoCo Warp is an optional
    extra)."""
    import importlib
    module, cls = PHYSICS_BACKENDS[name].split(":")
    return getattr(importlib.import_module(f".{module}", __package__), cls)


class DeepMimicCore:
    """N DeepMimic humanoids: per-environment clip, time and random generator, batched maths."""

    def __init__(self, num_envs: int, clips: Sequence[MotionClip], clip_weights: np.ndarray,
                 options: TaskOptions, frame_skip: int, reward_weights: RewardWeights | dict | None = None,
                 nthread: int | None = None, character: SimCharacter | None = None, physics: str = "mujoco",
                 physics_options: dict | None = None):
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.num_envs = n = int(num_envs)
        self.clips, self.clip_weights, self.options = list(clips), np.asarray(clip_weights), options
        if isinstance(reward_weights, dict):
            reward_weights = RewardWeights(**reward_weights)
        self.reward_weights = reward_weights or RewardWeights()
        self.frame_skip = int(frame_skip)
        self.control_dt = 1.0 / CONTROL_HZ
        self.character = character = character or sim_character()
        if any(c.character is not character for c in self.clips):
            raise ValueError(f"the clips are not all clips of {character.name}")
        rate = character.spec.update_rate
        if rate is not None and rate != CONTROL_HZ:
            raise ValueError(f"{character.name}: its controller's UpdateRate is {rate:g} Hz; this environment "
                             f"controls at {CONTROL_HZ} Hz")
        self.model = m = character.new_model()
        m.opt.timestep = self.control_dt / self.frame_skip
        self.index = idx = CharacterIndex.of(m, character.spec)
        assert np.array_equal(idx.hinge_qpos, np.arange(idx.root_qpos + 7, m.nq)), "actuators follow qpos order"
        self.layout = StateLayout.of(m, idx)
        # the character's DiffWeights, where reward_weights.joint_weights names no weight of its own
        self.joint_weights = {**character.spec.diff_weights, **self.reward_weights.joint_weights}
        pose_w = pose_weight_vector(idx.pose_names, self.joint_weights)
        self.reward = ImitationReward(self.layout, pose_w, self.reward_weights)
        hinge_range = m.actuator_ctrlrange.copy()
        self.act_center = hinge_range.mean(axis=1)
        self.act_half = 0.5 * (hinge_range[:, 1] - hinge_range[:, 0])
        # The PD: a position actuator (kp ctrl - kp q, gainprm[0] = kp) and the joint's damping (- kd dq).
        act_dof = m.jnt_dofadr[m.actuator_trnid[:, 0]]
        self.ff_gain = m.dof_damping[act_dof] / m.actuator_gainprm[:, 0]  # kd / kp per hinge
        root = idx.root_body
        fall_bodies = fall_contact_body_ids(character, options.fall_contact_bodies)
        fall_geom = np.isin(m.geom_bodyid, fall_bodies)
        self._rot_children, self._rot_parents = idx.joint_bodies, idx.joint_parents
        nb = len(idx.bodies)
        b0 = int(idx.bodies[0])
        self._body_sel = slice(b0, b0 + nb) if np.array_equal(idx.bodies, np.arange(b0, b0 + nb)) else idx.bodies
        state = 2 + nb * (3 + 4 + 3 + 3) if options.obs_mode == "deepmimic" else (m.nq - 7) + (m.nv - 6)
        ref = REF_OBS_SIZE if options.ref_obs and options.obs_mode == "deepmimic" else 0
        self.task_obs_dim = state + ref
        self.obs_dim = self.task_obs_dim + (len(self.clips) if options.clip_id_obs else 0)
        # the observation's named parts, in order (a warm start carries over the parts two tasks share)
        self.obs_parts = [(k, size) for k, size in ((f"{character.name} {options.obs_mode} state", state),
                          ("reference root", ref), ("clip id", self.obs_dim - self.task_obs_dim)) if size]
        if options.switch_interval is not None and len(self.clips) < 2:
            raise ValueError("switch_interval switches between clips: it needs at least two clips")
        self._clip_end = np.array([c.duration if c.loop == "none" else np.inf for c in self.clips])
        self._cycle_len = np.array([c.duration if c.loop == "wrap" else np.inf for c in self.clips])
        self.scene = scene.attach(self)  # an AMP scene (a goal, no clip tracked), or None
        if OPTION["physics"].problem(physics):
            raise ValueError(OPTION["physics"].problem(physics))
        self.physics_name = physics
        self.physics = physics_backend(physics)(m, n, self.frame_skip, root, fall_geom, nthread,
                               clamp_total=options.pd_clamp == "total", **(physics_options or {}))
        self.t = np.zeros(n)
        self.root_offset = np.zeros((n, 2))  # the reward's reference root, moved by sync_root (m)
        self.clip_id = np.zeros(n, dtype=np.intp)
        self.rngs: list[np.random.Generator | None] = [None] * n
        self.start_clip = np.zeros(n, dtype=np.intp)  # the clip each episode started on
        switching.allocate(self, n)  # the switches' state: their timers, the reference's frame and blend
        # failure-weighted starts: per clip and bin of start time, decayed counts of episodes started and failed;
        # each environment's start bin, and the outcome of its episode that ended in this step (-1: none)
        nc = len(self.clips)
        self.rsi_started, self.rsi_failed = np.zeros((nc, RSI_BINS)), np.zeros((nc, RSI_BINS))
        self._rsi_weights = np.full((nc, RSI_BINS), 1.0 / RSI_BINS)
        self.start_bin = np.zeros(n, dtype=np.intp)
        self._outcome = np.full(n, -1, dtype=np.intp)  # 0: truncated (survived), 1: terminated (failed)
        self._outcome_bin, self._outcome_clip = np.zeros(n, dtype=np.intp), np.zeros(n, dtype=np.intp)

    # measured of N states (measure.py), clip switches (switching.py), failure-weighted starts (starts.py)
    observe, score, failed = measure.observe, measure.score, measure.failed
    switch, _random_switches, _follow = switching.switch, switching.random_switches, switching.follow
    _blend_packed, _blend_hinges, _blend_qpos = switching.blend_packed, switching.blend_hinges, switching.blend_qpos
    _time_speed, _frame_arrays = switching.time_speed, switching.frame_arrays
    start_weights, _tally_outcomes, _ending = starts.start_weights, starts.tally_outcomes, starts.note_ending

    # ------------------------------------------------------------------ per clip
    def _by_clip(self, fn: Callable, t: np.ndarray, ids: np.ndarray):
        """``fn(clip, times)`` for each environment's clip, results reassembled in row order."""
        if len(self.clips) == 1:
            return fn(self.clips[0], t)
        out = None
        for k in np.unique(ids):
            rows = np.flatnonzero(ids == k)
            res = fn(self.clips[int(k)], t[rows])
            res = res if isinstance(res, tuple) else (res,)
            if out is None:
                out = tuple(np.empty((len(t), *r.shape[1:]), dtype=r.dtype) for r in res)
            for o, r in zip(out, res):
                o[rows] = r
        return out if len(out) > 1 else out[0]

    def ref_frame(self) -> switching.RefFrame:
        """Each environment's reference frame and blend (:class:`.switching.RefFrame`): a copy."""
        return switching.RefFrame(*(a.copy() for a in self._frame_arrays()))

    def reference(self, t: np.ndarray, ids: np.ndarray, rows: np.ndarray | None = None,
                  frame: switching.RefFrame | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rotations (N, J, 4), packed state (N, layout.size)) of the references of environments ``rows`` (all
        by default) at clip times t, in each environment's frame (moved by a clip :meth:`switch`, blended after one;
        ``frame``: these frames instead, as :meth:`ref_frame` gives them)."""
        frame = frame if frame is not None else self._frame_arrays()
        moved, rot, off, yq = frame.moved, frame.rot, frame.off, frame.yq
        q, vec = self._by_clip(lambda c, tt: c.reference_packed_batch(tt), t, ids)
        rows = np.arange(len(t)) if rows is None else np.asarray(rows)
        k = np.flatnonzero(moved[rows])
        if k.size:
            r = rows[k]
            qk, vk = q[k], vec[k]
            self.layout.transform(qk, vk, rot[r], off[r], yq[r])
            q[k], vec[k] = qk, vk
        self._blend_packed(q, vec, t, rows, frame)
        return q, vec

    def reference_qpos(self, i: int) -> np.ndarray:
        """The reference pose (nq,) of environment i now, in its frame (what a ghost draws)."""
        clip = self.clips[int(self.clip_id[i])]
        qpos = clip.qpos_at(float(self.t[i]))
        if self.ref_moved[i]:
            qpos = clip.transform_qpos(qpos, self.ref_rot[i], self.ref_off[i], self.ref_yq[i])
        return self._blend_qpos(i, qpos)

    def phase(self, t: np.ndarray, ids: np.ndarray) -> np.ndarray:
        return self._by_clip(lambda c, tt: c.phase_batch(tt), t, ids)

    # ------------------------------------------------------------------ maths over N
    def controls(self, actions: np.ndarray, t1: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """PD targets (N, nu) of normalised actions, for a step ending at clip times t1."""
        a = np.asarray(actions, dtype=np.float64).reshape(len(t1), -1)
        o = self.options
        if o.action_mode == "absolute":
            return self.act_center + self.act_half * a
        ref = self._by_clip(lambda c, tt: c.hinge_targets_batch(tt), t1, ids)
        self._blend_hinges("hinge_targets_batch", ref, t1)
        ctrl = ref + o.residual_scale * self.act_half * a
        if o.pd_feedforward:
            rate = self._by_clip(lambda c, tt: c.hinge_velocities_batch(tt), t1, ids)
            self._blend_hinges("hinge_velocities_batch", rate, t1)
            ctrl += self.ff_gain * rate
        return ctrl

    # ------------------------------------------------------------------ episodes
    def _start(self, i: int, time: float | None = None, clip: int | None = None) -> None:
        """Reference state initialisation of environment i (its own generator picks what is not given)."""
        rng = self.rngs[i]
        if clip is None and len(self.clips) > 1:
            clip = int(rng.choice(len(self.clips), p=self.clip_weights))
        self.clip_id[i] = self.start_clip[i] = c = int(clip or 0)
        clip_ = self.clips[c]
        if self.options.switch_interval is not None:
            self.switch_left[i] = float(rng.uniform(*self.options.switch_interval))
        share = self.options.in_force("fail_weighted_rsi")
        if time is not None:
            t0 = float(time)
        elif share > 0:
            b = int(rng.choice(RSI_BINS, p=self._rsi_weights[c]))
            t0 = float((b + rng.uniform()) * clip_.duration / RSI_BINS)
        else:
            t0 = float(rng.uniform(0.0, clip_.duration))
        if share > 0:  # the bin its outcome will be counted in
            self.start_bin[i] = min(int(t0 / clip_.duration * RSI_BINS), RSI_BINS - 1) if clip_.duration > 0 else 0
        self.t[i] = t0
        self.root_offset[i] = 0.0
        self.ref_moved[i] = False
        self.follow_left[i] = self.grace_left[i] = 0.0
        self.blend_end[i] = -np.inf
        qpos, qvel = clip_.qpos_at(t0), clip_.qvel_at(t0)
        targets = qpos[self.index.hinge_qpos].copy()
        noise = self.options.in_force("reset_noise")
        if noise > 0:  # near the clip's state, not on it (the PD targets stay the clip's)
            h, hv = self.index.hinge_qpos, self.index.hinge_qvel
            qpos, qvel = qpos.copy(), qvel.copy()
            qpos[h] += rng.uniform(-noise, noise, len(h))
            qvel[hv] += rng.uniform(-noise, noise, len(hv))
        self.physics.set_state(i, qpos, qvel, targets, self.options.ground_snap)

    def _started(self, rows: np.ndarray) -> tuple[np.ndarray, dict]:
        """First observations and reset infos (arrays over rows) of freshly started environments."""
        s = self.physics.refresh(rows)
        t, ids = self.t[rows].copy(), self.clip_id[rows].copy()
        ref = self.reference(t, ids, rows)
        obs = self.observe(s, t, ids, ref)
        sc = self.score(s, ref)
        terms = sc.terms
        # the sim would not start on the reference (without reset_noise): a bug, not an event
        if not self.options.in_force("reset_noise") and (terms[:, 0] < 0.99).any():
            k = int(np.argmin(terms[:, 0]))
            raise RuntimeError(f"reference state initialisation failed: pose term {terms[k, 0]:.4f} at t={t[k]}")
        if self.scene is not None:
            self.scene.on_start(self, rows, obs, sc)
        info = step_info(terms, sc.errors)
        info.update(reward=sc.total, time=t, phase=self.phase(t, ids), sim_unstable=np.zeros(len(rows), dtype=bool))
        if len(self.clips) > 1:
            info["clip"] = ids
        return obs, info

    def reset(self, rows: Sequence[int], times: Sequence[float | None] | None = None,
              clips: Sequence[int | None] | None = None) -> tuple[np.ndarray, dict]:
        """Start the given environments (reference state initialisation): (obs (R, D), info arrays (R,))."""
        rows = np.asarray(rows, dtype=np.intp)
        for k, i in enumerate(rows):
            self._start(int(i), None if times is None else times[k], None if clips is None else clips[k])
        return self._started(rows)

    def state(self, rows: Sequence[int]) -> PhysicsState:
        """The state of the given environments as their MjData hold it now."""
        return self.physics.read(rows)

    def step(self, actions: np.ndarray, limit: np.ndarray | int | None = None,
             elapsed: np.ndarray | None = None, autoreset: bool = False) -> StepResult:
        """Step all N environments one control step.

        ``elapsed`` (N,) counts each episode's steps including this one; ``limit`` truncates at
        that count. With ``autoreset``, ended environments start again in the same call and
        ``reset_rows``/``reset_obs``/``reset_info`` describe their new episodes."""
        n, o = self.num_envs, self.options
        t0 = self.t.copy()
        t1 = t0 + self.control_dt * (self._time_speed(t0) if o.switch_blend > 0 else 1.0)
        ids = self.clip_id.copy()
        ctrl = self.controls(actions, t1, ids)
        self.t[:] = t1
        ph = self.physics
        offset = self.root_offset.copy()  # restarts (in the physics step) zero self.root_offset's rows
        pre_root = ph.state.xpos[:, self.index.root_body, :2].copy()
        term, trunc = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        clip_end = self._clip_end[ids]
        over = np.zeros(n, dtype=bool) if limit is None or elapsed is None else elapsed >= limit
        early = o.early_termination
        tally = o.in_force("fail_weighted_rsi") > 0

        def ended(i: int) -> None:
            if ph.unstable[i]:
                term[i], trunc[i] = True, bool(over[i])
            else:
                term[i] = early and bool(ph.fell[i])
                trunc[i] = t1[i] >= clip_end[i] or bool(over[i])
            if tally and (term[i] or trunc[i]):
                self._ending(i, bool(term[i]))
            if autoreset and (term[i] or trunc[i]):
                self._start(i)

        frame0 = self.ref_frame() if autoreset and self.ref_moved.any() else None
        ph.step(ctrl, ended)
        unstable = ph.unstable.copy()
        with np.errstate(invalid="ignore", over="ignore"):
            self._follow(t1, ids)
            ref = self.reference(t1, ids, frame=self._frame_of_step(frame0, term | trunc))
            if o.sync_root:  # a new cycle of a looping clip: the reward's reference root moves onto the character
                dur = self._cycle_len[ids]
                new = np.floor(t1 / dur) > np.floor(t0 / dur)
                if new.any():
                    offset[new] = pre_root[new] - ref[1][new][:, self.layout.root_pos][:, :2]
            obs = self.observe(ph.state, t1, ids, ref)
            sc = self.score(ph.state, ref, offset)
        reward, terms, errors = sc.total, sc.terms, sc.errors
        extra, goal_failed = {}, False
        if self.scene is not None:
            reward, goal_failed, extra, kin = self.scene.on_step(self, sc)
        late = (self.failed(sc) | goal_failed) & ~unstable & ~term  # on the reward's quantities, after the physics
        going = ~(term | trunc | late)
        self.root_offset[going] = offset[going]
        if late.any():
            if tally:
                for i in np.flatnonzero(late):
                    self._ending(int(i), True)
            if autoreset:
                for i in np.flatnonzero(late & ~trunc):  # not yet started again by the physics step
                    self._start(int(i))
            term |= late
        if tally:
            self._tally_outcomes()
        if o.switch_interval is not None:
            self._random_switches(going, obs)
        if self.scene is not None:
            self.scene.after_step(self, going, obs, kin)
        if unstable.any():
            bad = unstable & ~np.all(np.isfinite(obs), axis=1)
            obs[bad] = 0.0
            reward[unstable] = 0.0
            terms[unstable] = 0.0
            errors[unstable] = np.nan
        res = StepResult(obs, reward, terms, errors, term, trunc, unstable, t1, ids, extra=extra)
        if autoreset:
            res.reset_rows = np.flatnonzero(term | trunc)
            if res.reset_rows.size:
                res.reset_obs, res.reset_info = self._started(res.reset_rows)
        return res

    def _frame_of_step(self, before: switching.RefFrame | None, again: np.ndarray):
        """The frames a step is measured in: an episode restarted in the physics step (rows ``again``) keeps the
        frame it was taken in (``before``: :meth:`ref_frame` then), not its new episode's. None: the current."""
        if before is None or not again.any():
            return None
        frame = self.ref_frame()
        for a, a0 in zip(frame, before):
            a[again] = a0[again]
        return frame

    def close(self) -> None:
        self.physics.close()


def make_core(num_envs: int, motion_file=None, motion_dir: str | None = None, clip_name: str | None = None,
              sim_hz: int | None = None, frame_skip: int | None = None,
              reward_weights: RewardWeights | dict | None = None, cycle_heading: bool = True,
              nthread: int | None = None, character_file: str | None = None, controller_file: str | None = None,
              physics: str = "mujoco", physics_options: dict | None = None, **options) -> DeepMimicCore:
    """A :class:`DeepMimicCore` from the environments' keyword arguments (documented on DeepMimicEnv);
    ``options`` are the fields of :class:`TaskOptions`."""
    known = TaskOptions.__dataclass_fields__
    unknown = [k for k in options if k not in known]
    if unknown:
        raise TypeError(f"DeepMimic environment: unknown option {unknown[0]!r}")
    skip = frame_skip_of(sim_hz, frame_skip)
    character = find_character(character_file, controller_file, motion_dir)
    clips, weights = load_clips(motion_file, clip_name, motion_dir, cycle_heading, character)
    return DeepMimicCore(num_envs, clips, weights, TaskOptions(**options), skip, reward_weights, nthread, character,
                         physics, physics_options)
