"""DeepMimic's AMP scenes on the batched core (``docs/amp.md`` in the shared material, section 4): a motion set
and, but for ``amp`` (imitation by adversarial motion priors alone), a goal (:mod:`.goals`).

In a scene the character tracks no clip: an episode starts from a state of the set (a clip by weight, a time
uniform in it), the observation's phase is 0 and the goal's observation follows the character's, the env's
reward is the goal's task reward (0 in ``amp``: the discriminator's style reward is added in training, by
:class:`~trpo_mimic.rewards.amp.AMPReward`), an episode ends on a fall, the goal's own failure or the time limit
(not at a clip's end, not on the pose termination), and each step's ``info["amp_obs"]`` is the discriminator's
observation of the step's transition (:mod:`.amp_obs`)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .amp_obs import AMPObservation
from .goals import GOALS, Goal, Kinematics, StrikeGoal
from .options import SCENES

TASK_REWARD_KEY = "reward_task"
"""The info key of a step's task reward (evaluation reports the normalised task return from it)."""
STRIKE_HAND = "right_wrist"
STRIKE_TORSO = ("root", "chest", "neck")


def set_speeds(clips: Sequence) -> tuple[float, float]:
    """(slowest, fastest) mean horizontal root speed of a set's clips (m/s), along their paths."""
    speeds = []
    for c in clips:
        t = np.arange(0.0, c.duration, 1.0 / 30.0)
        xy = c.qpos_batch(t)[:, c.index.root_qpos:c.index.root_qpos + 2]
        speeds.append(float(np.linalg.norm(np.diff(xy, axis=0), axis=1).sum() / max(c.duration, 1e-9)))
    return min(speeds), max(speeds)


def attach(core) -> "Scene | None":
    """The scene of a core's options (None for ``imitate``): it widens the observation by the goal's and lets
    no episode end at a clip's end."""
    o = core.options
    if o.scene == "imitate":
        if o.heading_speeds is not None:
            raise ValueError("heading_speeds is an option of the heading scene (scene='heading')")
        return None
    for name, bad in (("action_mode='residual'", o.action_mode != "absolute"), ("ref_obs", o.ref_obs),
                      ("clip_id_obs", o.clip_id_obs), ("switch_interval", o.switch_interval is not None),
                      ("obs_mode='compact'", o.obs_mode != "deepmimic")):
        if bad:
            raise ValueError(f"scene {o.scene!r} tracks no clip: {name} does not apply")
    if o.heading_speeds is not None and o.scene != "heading":
        raise ValueError(f"heading_speeds is an option of the heading scene, not of scene {o.scene!r}")
    sc = Scene(o.scene, core.num_envs, core.control_dt, core.model, core.index, core.layout, core.clips,
               o.heading_speeds, training=o.mode == "train")
    core.obs_dim += sc.obs_dim
    if sc.obs_dim:
        core.obs_parts.append((f"{o.scene} goal", sc.obs_dim))
    core._clip_end[:] = np.inf
    return sc


class Scene:
    """The per-environment state of a scene over N characters of one core."""

    def __init__(self, name: str, num_envs: int, control_dt: float, model, index, layout, clips: Sequence,
                 heading_speeds: tuple[float, float] | None = None, training: bool = False):
        if name not in SCENES[1:]:
            raise ValueError(f"scene must be one of {', '.join(SCENES[1:])} (or imitate: no scene), got {name!r}")
        self.name, self.n = name, int(num_envs)
        self.index = index
        if name == "heading":
            speeds = heading_speeds or set_speeds(clips)
            self.goal: Goal = GOALS[name](num_envs, control_dt, speeds)
        elif name == "strike":
            self.goal = StrikeGoal(num_envs, control_dt, StrikeGoal.START_HIT if training else 0.0)
        elif name in GOALS:
            self.goal = GOALS[name](num_envs, control_dt)
        else:
            self.goal = Goal(num_envs, control_dt)
        self.amp = AMPObservation(layout)
        self.prev_q = np.zeros((self.n, layout.n_joints, 4))
        self.prev_vec = np.zeros((self.n, layout.size))
        self.hand = model.body(STRIKE_HAND).id if name == "strike" else None
        self.torso = np.array([model.body(b).id for b in STRIKE_TORSO]) if name == "strike" else None

    @property
    def obs_dim(self) -> int:
        return self.goal.obs_dim

    def kinematics(self, s) -> Kinematics:
        """What the goal reads of physics state ``s`` (every row)."""
        root = s.xpos[:, self.index.root_body]
        kin = Kinematics(root[:, :2].copy(), np.arctan2(s.root_mat[:, 3], s.root_mat[:, 0]), s.com[:, :2].copy())
        if self.hand is not None:
            kin.hand = s.xpos[:, self.hand].copy()
            kin.hand_vel = hand_velocity(s, self.hand)
            kin.torso = s.xpos[:, self.torso].copy()
        return kin

    def on_start(self, core, rows: np.ndarray, obs: np.ndarray, sc) -> None:
        """Environments ``rows`` started episodes (``obs``, ``sc``: their first observations and score): new goals,
        their first frames as the previous frames of their first transitions, and the goal in ``obs``."""
        kin = self.kinematics(core.physics.state)
        for i in rows:
            self.goal.reset(int(i), core.rngs[int(i)], kin)
        self.prev_q[rows], self.prev_vec[rows] = sc.sim
        self.fill_observation(obs, kin, rows)
        sc.terms[:], sc.errors[:] = np.nan, np.nan

    def on_step(self, core, sc) -> tuple[np.ndarray, np.ndarray, dict, Kinematics]:
        """One control step of every environment, scored (``sc``): (the task reward (N,), the goal's failures
        (N,), the step's info arrays: the task reward, its terms, the transitions' AMP observations, and what the
        goal read). The score's imitation terms and errors become NaN: no clip is tracked."""
        kin = self.kinematics(core.physics.state)
        reward, terms = self.goal.reward(kin)
        failed = self.goal.failed(kin)
        self.goal.moved(kin)
        extra = {"amp_obs": self.amp(sc.sim, (self.prev_q, self.prev_vec)), TASK_REWARD_KEY: reward}
        extra.update({f"reward_{k}": terms[:, j] for j, k in enumerate(self.goal.terms)})
        self.prev_q[:], self.prev_vec[:] = sc.sim
        sc.terms[:], sc.errors[:] = np.nan, np.nan
        return reward, failed, extra, kin

    def after_step(self, core, going: np.ndarray, obs: np.ndarray, kin: Kinematics) -> None:
        """The continuing environments' goals move on; every row of ``obs`` shows its goal."""
        self.goal.advance(np.flatnonzero(going), core.rngs, kin)
        self.fill_observation(obs, kin, np.arange(self.n))

    def fill_observation(self, obs: np.ndarray, kin: Kinematics, rows: np.ndarray) -> None:
        """``obs`` (rows of ``rows``): no phase (column 0), the goal in the last columns."""
        obs[:, 0] = 0.0
        if self.goal.obs_dim:
            obs[:, -self.goal.obs_dim:] = self.goal.observe(kin)[rows]


def hand_velocity(s, body: int) -> np.ndarray:
    """World linear velocity (N, 3) of a body's origin, from MuJoCo's com-based ``cvel``."""
    w, v = s.cvel[:, body, :3], s.cvel[:, body, 3:]
    r = s.xpos[:, body] - s.com  # cvel is about the subtree com of the root
    return v + np.cross(w, r)
