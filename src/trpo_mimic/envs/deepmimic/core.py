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

import mujoco
import numpy as np

from .layout import StateLayout, angular_velocities
from .character import CharacterIndex, SimCharacter, sim_character
from .clip import MotionClip
from .clipfile import find_motion_file, resolve_motion_set
from .physics import MujocoPhysics, PhysicsState
from .quat import QMUL, quat_yaw, rotz, wrap_pi, yaw_quat
from .reward import BODY_ERRORS, TERMS, ImitationReward, RewardWeights, heading, pose_weight_vector

CONTROL_HZ = 30
DEFAULT_SIM_HZ = 240
INFO_KEYS = tuple(f"reward_{k}" for k in TERMS)
"""Per-step info keys of the reward terms; ``BODY_ERRORS`` (metres) come beside them."""
ROOT_ROT_FAIL_ANGLE = 0.5 * np.pi
"""Root-rotation failure: the root's rotation is more than this from the reference's (DeepMimic)."""
REF_OBS_SIZE = 5
"""ref_obs: reference root position in the heading frame (3), cos and sin of the heading error (2)."""
MODES = ("train", "eval")
PD_CLAMPS = ("split", "total")
"""How the PD torque meets the joint's torque limit (``TaskOptions.pd_clamp``): ``split`` clamps the P part
(the position actuator's force range) and adds the D part (the joint's damping) unclamped; ``total``
clamps P + D together, as DeepMimic does (see :class:`.physics.MujocoPhysics`), the default since
2026-12-02; runs saved before without the key were trained under ``split`` (``checkpoint.upgrade_config``)."""
RSI_BINS = 20
"""Failure-weighted reference state initialisation: each clip's time is cut into this many bins of start times."""
RSI_DECAY = 0.998
"""... whose counts of episodes started and failed decay by this factor at each ended episode of the clip (an
episode's outcome is forgotten after about 500 more)."""
PHYSICS = ("mujoco", "warp")
"""Physics backends: native MuJoCo on the CPU (:class:`.physics.MujocoPhysics`) or MuJoCo Warp
(:class:`.warp_physics.WarpPhysics`, the ``gpu`` extra; on a GPU when one is present)."""

@dataclass(frozen=True)
class TaskOptions:
    """How the task is posed (see :class:`.env.DeepMimicEnv` for each option)."""

    obs_mode: str = "deepmimic"
    action_mode: str = "absolute"
    residual_scale: float = 0.25
    pd_feedforward: bool = False
    pd_clamp: str = "total"
    ref_obs: bool = False
    clip_id_obs: bool = False
    early_termination: bool = True
    fall_contact_bodies: tuple[str, ...] | None = None
    root_rot_fail: bool = False
    pose_termination: float | None = None
    sync_root: bool = True
    max_root_drift: float | None = None
    fail_weighted_rsi: float = 0.0
    switch_interval: tuple[float, float] | None = None
    mode: str = "train"

    def __post_init__(self):
        if self.action_mode not in ("absolute", "residual"):
            raise ValueError(f"action_mode must be 'absolute' or 'residual', got {self.action_mode!r}")
        if self.pd_feedforward and self.action_mode != "residual":
            raise ValueError("pd_feedforward needs action_mode='residual' (it adds to the reference's targets)")
        if self.pd_clamp not in PD_CLAMPS:
            raise ValueError(f"pd_clamp must be one of {', '.join(PD_CLAMPS)}, got {self.pd_clamp!r}")
        if self.obs_mode not in ("deepmimic", "compact"):
            raise ValueError(f"obs_mode must be 'deepmimic' or 'compact', got {self.obs_mode!r}")
        if self.ref_obs and self.obs_mode != "deepmimic":
            raise ValueError("ref_obs needs obs_mode='deepmimic'")
        if self.max_root_drift is not None and not self.max_root_drift > 0:
            raise ValueError(f"max_root_drift must be > 0 metres or None, got {self.max_root_drift!r}")
        if self.pose_termination is not None and not self.pose_termination > 0:
            raise ValueError(f"pose_termination must be > 0 metres or None, got {self.pose_termination!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be 'train' or 'eval', got {self.mode!r}")
        if not 0 <= self.fail_weighted_rsi < 1:
            raise ValueError(f"fail_weighted_rsi must be a fraction in [0, 1), got {self.fail_weighted_rsi!r}")
        if self.switch_interval is not None:
            lo_hi = self.switch_interval
            if len(lo_hi) != 2 or not 0 < lo_hi[0] <= lo_hi[1] < np.inf:
                raise ValueError(f"switch_interval must be two seconds 0 < low <= high, got {lo_hi!r}")

    @property
    def drift_bound(self) -> float | None:
        """The drift bound in force: a training device, so None in evaluation."""
        return self.max_root_drift if self.mode == "train" else None

    @property
    def rsi_share(self) -> float:
        """The share of starts drawn by failure (:meth:`DeepMimicCore.start_weights`): training only."""
        return self.fail_weighted_rsi if self.mode == "train" else 0.0

    @property
    def pose_bound(self) -> float | None:
        """The pose termination in force (mean body-position error, m): training only, as the drift bound."""
        return self.pose_termination if self.mode == "train" else None


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


@dataclass
class Score:
    """What :meth:`DeepMimicCore.score` measures of N states (rows in environment order)."""

    total: np.ndarray  # (N,) reward
    terms: np.ndarray  # (N, len(TERMS))
    errors: np.ndarray  # (N, len(BODY_ERRORS)) mean body-position errors (m): global, root-relative
    drift_sq: np.ndarray  # (N,) horizontal root distance to the reference, squared
    root_angle: np.ndarray  # (N,) angle of the root's rotation from the reference's (rad)


def step_info(terms: np.ndarray, errors: np.ndarray) -> dict[str, np.ndarray]:
    """The per-step info arrays (N,) of reward terms and body-position errors."""
    info = {k: terms[:, j] for j, k in enumerate(INFO_KEYS)}
    info.update({k: errors[:, j] for j, k in enumerate(BODY_ERRORS)})
    return info


def fall_contact_body_ids(character: SimCharacter, names: Sequence[str] | None) -> np.ndarray:
    """Body ids whose contact ends an episode: ``names`` (the character's body names), or, when None, every
    body but the feet (the bodies of the sole sites: the humanoid's ankles, the dog's toes and fingers)."""
    model, index = character.model, character.index
    bodies = {model.body(b).name: int(b) for b in index.bodies}
    if names is None:
        feet = {int(model.site_bodyid[model.site(s).id]) for s in character.spec.soles}
        return np.array([b for b in bodies.values() if b not in feet], dtype=np.intp)
    unknown = [n for n in names if n not in bodies]
    if unknown:
        raise ValueError(f"fall_contact_bodies: unknown body {unknown[0]!r}; the character's bodies are "
                         f"{', '.join(bodies)}")
    return np.array([bodies[n] for n in names], dtype=np.intp)


def load_clips(motion_file=None, clip_name: str | None = None, motion_dir: str | None = None,
               cycle_heading: bool = True, character: SimCharacter | None = None
               ) -> tuple[list[MotionClip], np.ndarray]:
    """The clips of a clip file, ``builtin:<name>``, list of clips or motion set, and their weights."""
    if motion_file is None and clip_name is None:
        raise ValueError("DeepMimic-v0 needs motion_file=<clip path or builtin:walk>")
    paths, weights = resolve_motion_set(motion_file, clip_name, motion_dir)
    clips = [MotionClip.load(p, cycle_heading=cycle_heading, character=character)  # builtins ignore cycle_heading
             for p in paths]
    return clips, np.asarray(weights, dtype=np.float64) / float(np.sum(weights))


def find_character(character_file: str | None = None, controller_file: str | None = None,
                   motion_dir: str | None = None) -> SimCharacter:
    """The humanoid, or a character file compiled with its controller file; a bare file name is searched for
    like a clip (``motion_dir``, ``$TRPO_MIMIC_MOTION_DIR``, the package's data)."""
    if character_file is not None:
        character_file = find_motion_file(str(character_file), character_file, motion_dir, what="character file",
                                          flag="character_file")
        if controller_file is not None:
            controller_file = find_motion_file(str(controller_file), controller_file, motion_dir,
                                               what="controller file", flag="controller_file")
    return sim_character(character_file, controller_file)


def frame_skip_of(sim_hz: int | None, frame_skip: int | None) -> int:
    """Substeps per 30 Hz action from a simulation rate or a substep count (at most one given)."""
    if sim_hz is not None and frame_skip is not None:
        raise ValueError("give sim_hz or frame_skip, not both")
    if frame_skip is None:
        frame_skip = max(1, round((sim_hz or DEFAULT_SIM_HZ) / CONTROL_HZ))
    if frame_skip < 1:
        raise ValueError(f"frame_skip must be >= 1, got {frame_skip}")
    return int(frame_skip)


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
        if options.obs_mode == "deepmimic":
            self.task_obs_dim = 2 + nb * (3 + 4 + 3 + 3) + (REF_OBS_SIZE if options.ref_obs else 0)
        else:
            self.task_obs_dim = (m.nq - 7) + (m.nv - 6)
        self.obs_dim = self.task_obs_dim + (len(self.clips) if options.clip_id_obs else 0)
        if options.switch_interval is not None and len(self.clips) < 2:
            raise ValueError("switch_interval switches between clips: it needs at least two clips")
        self._clip_end = np.array([c.duration if c.loop == "none" else np.inf for c in self.clips])
        self._cycle_len = np.array([c.duration if c.loop == "wrap" else np.inf for c in self.clips])
        if physics not in PHYSICS:
            raise ValueError(f"physics must be one of {', '.join(PHYSICS)}, got {physics!r}")
        self.physics_name = physics
        if physics == "warp":
            from .warp_physics import WarpPhysics  # MuJoCo Warp is an optional extra
            backend = WarpPhysics
        else:
            backend = MujocoPhysics
        self.physics = backend(m, n, self.frame_skip, root, fall_geom, nthread,
                               clamp_total=options.pd_clamp == "total", **(physics_options or {}))
        self.t = np.zeros(n)
        self.root_offset = np.zeros((n, 2))  # the reward's reference root, moved by sync_root (m)
        self.clip_id = np.zeros(n, dtype=np.intp)
        self.rngs: list[np.random.Generator | None] = [None] * n
        self.switch_left = np.full(n, np.inf)  # seconds to each environment's next random clip switch
        self.start_clip = np.zeros(n, dtype=np.intp)  # the clip each episode started on
        # the reference's frame after a clip switch (:meth:`switch`): turned by ref_rot / ref_yq, moved by ref_off
        self.ref_moved = np.zeros(n, dtype=bool)
        self.ref_rot, self.ref_off, self.ref_yq = np.tile(np.eye(3), (n, 1, 1)), np.zeros((n, 3)), np.zeros((n, 4))
        # failure-weighted starts: per clip and bin of start time, decayed counts of episodes started and failed;
        # each environment's start bin, and the outcome of its episode that ended in this step (-1: none)
        nc = len(self.clips)
        self.rsi_started, self.rsi_failed = np.zeros((nc, RSI_BINS)), np.zeros((nc, RSI_BINS))
        self._rsi_weights = np.full((nc, RSI_BINS), 1.0 / RSI_BINS)
        self.start_bin = np.zeros(n, dtype=np.intp)
        self._outcome = np.full(n, -1, dtype=np.intp)  # 0: truncated (survived), 1: terminated (failed)
        self._outcome_bin, self._outcome_clip = np.zeros(n, dtype=np.intp), np.zeros(n, dtype=np.intp)

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

    def reference(self, t: np.ndarray, ids: np.ndarray, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rotations (N, J, 4), packed state (N, layout.size)) of the references of environments ``rows`` (all
        by default) at clip times t, in each environment's frame (moved by a clip :meth:`switch`)."""
        q, vec = self._by_clip(lambda c, tt: c.reference_packed_batch(tt), t, ids)
        rows = np.arange(len(t)) if rows is None else np.asarray(rows)
        k = np.flatnonzero(self.ref_moved[rows])
        if k.size:
            r = rows[k]
            qk, vk = q[k], vec[k]
            self.layout.transform(qk, vk, self.ref_rot[r], self.ref_off[r], self.ref_yq[r])
            q[k], vec[k] = qk, vk
        return q, vec

    def reference_qpos(self, i: int) -> np.ndarray:
        """The reference pose (nq,) of environment i now, in its frame (what a ghost draws)."""
        clip = self.clips[int(self.clip_id[i])]
        qpos = clip.qpos_at(float(self.t[i]))
        return clip.transform_qpos(qpos, self.ref_rot[i], self.ref_off[i], self.ref_yq[i]) if self.ref_moved[i] else qpos

    def switch(self, i: int, clip: int) -> float:
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

    def _random_switches(self, going: np.ndarray, obs: np.ndarray) -> None:
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

    def phase(self, t: np.ndarray, ids: np.ndarray) -> np.ndarray:
        return self._by_clip(lambda c, tt: c.phase_batch(tt), t, ids)

    # ------------------------------------------------------------------ maths over N
    def controls(self, actions: np.ndarray, t1: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """PD targets (N, nu) of normalised actions, for a step ending at clip times t1."""
        a = np.asarray(actions, dtype=np.float64).reshape(len(t1), -1)
        o = self.options
        if o.action_mode == "absolute":
            return self.act_center + self.act_half * a
        ctrl = self._by_clip(lambda c, tt: c.hinge_targets_batch(tt), t1, ids) + o.residual_scale * self.act_half * a
        if o.pd_feedforward:
            ctrl += self.ff_gain * self._by_clip(lambda c, tt: c.hinge_velocities_batch(tt), t1, ids)
        return ctrl

    def observe(self, s: PhysicsState, t: np.ndarray, ids: np.ndarray, ref) -> np.ndarray:
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

    def score(self, s: PhysicsState, ref, root_offset: np.ndarray | None = None) -> "Score":
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
        return Score(total, terms, self.reward.body_errors(diff), dxy[:, 0] ** 2 + dxy[:, 1] ** 2, ang[:, 0])

    def failed(self, sc: "Score") -> np.ndarray:
        """(N,) bool: the episode ends (terminated) on this score: root-rotation failure, or, while
        training, the pose termination or the drift bound."""
        o = self.options
        out = np.zeros(len(sc.total), dtype=bool)
        if o.root_rot_fail:
            out |= sc.root_angle > ROOT_ROT_FAIL_ANGLE
        if o.pose_bound is not None:
            out |= sc.errors[:, 0] > o.pose_bound
        if o.drift_bound is not None:
            out |= sc.drift_sq > o.drift_bound ** 2
        return out

    # ------------------------------------------------------------------ episodes
    def start_weights(self) -> np.ndarray:
        """(clips, RSI_BINS) probabilities of a start time's bin: uniform, or with failure-weighted starts
        (``fail_weighted_rsi`` = share s, training only) (1 - s) uniform + s in proportion to each bin's failure
        rate, (failed + 1) / (started + 2) of the episodes started there (as PHC and ProtoMotions weight motions
        by failure, here the times within a clip)."""
        share = self.options.rsi_share
        uniform = np.full(self.rsi_started.shape, 1.0 / RSI_BINS)
        if share == 0:
            return uniform
        rate = (self.rsi_failed + 1.0) / (self.rsi_started + 2.0)
        return (1 - share) * uniform + share * rate / rate.sum(axis=1, keepdims=True)

    def _tally_outcomes(self) -> None:
        """Fold the episodes that ended in this step into the failure counts, in row order (the workers only
        wrote each row's own outcome), and draw the next starts' weights from them."""
        rows = np.flatnonzero(self._outcome >= 0)
        for i in rows:
            c, b = self._outcome_clip[i], self._outcome_bin[i]
            self.rsi_started[c] *= RSI_DECAY
            self.rsi_failed[c] *= RSI_DECAY
            self.rsi_started[c, b] += 1.0
            self.rsi_failed[c, b] += float(self._outcome[i])
        self._outcome[rows] = -1
        if rows.size:
            self._rsi_weights = self.start_weights()

    def _ending(self, i: int, failed: bool) -> None:
        """Note how environment i's episode ended, before a restart replaces its start bin."""
        if self._outcome[i] < 0:
            self._outcome_bin[i], self._outcome_clip[i] = self.start_bin[i], self.start_clip[i]
        self._outcome[i] = int(failed)

    def _start(self, i: int, time: float | None = None, clip: int | None = None) -> None:
        """Reference state initialisation of environment i (its own generator picks what is not given)."""
        rng = self.rngs[i]
        if clip is None and len(self.clips) > 1:
            clip = int(rng.choice(len(self.clips), p=self.clip_weights))
        self.clip_id[i] = self.start_clip[i] = c = int(clip or 0)
        clip_ = self.clips[c]
        if self.options.switch_interval is not None:
            self.switch_left[i] = float(rng.uniform(*self.options.switch_interval))
        share = self.options.rsi_share
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
        qpos = clip_.qpos_at(t0)
        self.physics.set_state(i, qpos, clip_.qvel_at(t0), qpos[self.index.hinge_qpos])

    def _started(self, rows: np.ndarray) -> tuple[np.ndarray, dict]:
        """First observations and reset infos (arrays over rows) of freshly started environments."""
        s = self.physics.refresh(rows)
        t, ids = self.t[rows].copy(), self.clip_id[rows].copy()
        ref = self.reference(t, ids, rows)
        obs = self.observe(s, t, ids, ref)
        sc = self.score(s, ref)
        terms = sc.terms
        if (terms[:, 0] < 0.99).any():  # the sim would not start on the reference: a bug, not an event
            k = int(np.argmin(terms[:, 0]))
            raise RuntimeError(f"reference state initialisation failed: pose term {terms[k, 0]:.4f} at t={t[k]}")
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
        t1 = t0 + self.control_dt
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
        tally = o.rsi_share > 0

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

        ph.step(ctrl, ended)
        unstable = ph.unstable.copy()
        with np.errstate(invalid="ignore", over="ignore"):
            ref = self.reference(t1, ids)
            if o.sync_root:  # a new cycle of a looping clip: the reward's reference root moves onto the character
                dur = self._cycle_len[ids]
                new = np.floor(t1 / dur) > np.floor(t0 / dur)
                if new.any():
                    offset[new] = pre_root[new] - ref[1][new][:, self.layout.root_pos][:, :2]
            obs = self.observe(ph.state, t1, ids, ref)
            sc = self.score(ph.state, ref, offset)
        reward, terms, errors = sc.total, sc.terms, sc.errors
        late = self.failed(sc) & ~unstable & ~term  # decided on the reward's quantities, after the physics
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
        if unstable.any():
            bad = unstable & ~np.all(np.isfinite(obs), axis=1)
            obs[bad] = 0.0
            reward[unstable] = 0.0
            terms[unstable] = 0.0
            errors[unstable] = np.nan
        res = StepResult(obs, reward, terms, errors, term, trunc, unstable, t1, ids)
        if autoreset:
            res.reset_rows = np.flatnonzero(term | trunc)
            if res.reset_rows.size:
                res.reset_obs, res.reset_info = self._started(res.reset_rows)
        return res

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
    if options.get("fall_contact_bodies") is not None:
        bodies = options["fall_contact_bodies"]
        options["fall_contact_bodies"] = (bodies,) if isinstance(bodies, str) else tuple(bodies)
    for k in ("residual_scale", "max_root_drift", "pose_termination"):
        if options.get(k) is not None:
            options[k] = float(options[k])
    if options.get("switch_interval") is not None:
        options["switch_interval"] = tuple(float(x) for x in options["switch_interval"])
    skip = frame_skip_of(sim_hz, frame_skip)
    character = find_character(character_file, controller_file, motion_dir)
    clips, weights = load_clips(motion_file, clip_name, motion_dir, cycle_heading, character)
    return DeepMimicCore(num_envs, clips, weights, TaskOptions(**options), skip, reward_weights, nthread, character,
                         physics, physics_options)
