"""A natively batched :class:`DeepMimicEnv`: N humanoids on one MjModel, stepped together.

``DeepMimicVectorEnv(num_envs, **DeepMimicEnv kwargs, max_episode_steps=300, nthread=None)``
is a ``gymnasium.vector.VectorEnv`` whose sub-environment ``i`` behaves exactly like
``DeepMimicEnv`` wrapped in ``TimeLimit(max_episode_steps)`` and reset with seed
``seed + i`` (same observations, rewards, reward terms, terminations and truncations,
to floating-point rounding of the vectorised maths; the physics is bit-identical).

It is the N > 1 case of ``core.DeepMimicCore``, the code that the single env runs with
N = 1: the actions of all sub-envs are mapped to PD targets at once; ``nthread`` threads
(the caller's included) step the N ``MjData`` with ``mujoco.mj_step`` (which releases the
GIL), copy the state into stacked arrays, decide whether each ended and, if so, start its
next episode (overlapping the other thread's physics); observations and rewards are then
computed once for all N with numpy on the stacked arrays. Each sub-env has its own clip:
with several clips (a list or a motion set) each episode draws one by weight.

Autoreset is gymnasium's ``SAME_STEP`` mode (``metadata["autoreset_mode"]``): when
sub-env ``i`` ends, ``obs[i]`` is already the first observation of its next episode,
``info["final_obs"][i]`` is its last observation (a float array (N, obs_dim), rows of
sub-envs that did not end are zero), ``info["_final_obs"]`` the mask of ended
sub-envs, and ``info["final_info"]`` the ending step's info in the vector convention
(arrays plus ``"_key"`` masks).  As in ``SyncVectorEnv``, the top-level info of an
ended sub-env is its *reset* info.

Step info keys (arrays over sub-envs, each with a ``"_key"`` mask): ``reward_pose``,
``reward_velocity``, ``reward_end_effector``, ``reward_root``, ``reward_com_vel``,
``reward_com``, ``error_body_pos``, ``error_body_pos_local``, ``time``, ``sim_unstable`` (and ``clip`` with several clips); ``phase`` and ``reward`` where a sub-env
was reset (and ``phase`` in ``final_info`` where the simulation went unstable).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from ..envs.vector_util import sub_env_seeds
from .core import CONTROL_HZ, make_core, step_info

DEFAULT_MAX_EPISODE_STEPS = 300


class DeepMimicVectorEnv(VectorEnv):
    """N DeepMimic humanoids sharing one MjModel, stepped by worker threads (see module doc)."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, num_envs: int, max_episode_steps: int | None = DEFAULT_MAX_EPISODE_STEPS,
                 nthread: int | None = None, **task_kwargs: Any):
        """``task_kwargs``: the keyword arguments of ``DeepMimicEnv`` (but rendering)."""
        self.core = core = make_core(num_envs, nthread=nthread, **task_kwargs)
        self.num_envs = n = core.num_envs
        self.clips, self.model, self.options = core.clips, core.model, core.options
        self.frame_skip, self.control_dt = core.frame_skip, core.control_dt
        self.sim_hz = CONTROL_HZ * self.frame_skip
        self.reward_weights = core.reward_weights
        self.max_episode_steps = max_episode_steps
        self.nthread = core.physics.nthread
        self.single_action_space = spaces.Box(-1.0, 1.0, shape=(self.model.nu,), dtype=np.float32)
        self.single_observation_space = spaces.Box(-np.inf, np.inf, shape=(core.obs_dim,), dtype=np.float64)
        self.observation_parts = tuple(core.obs_parts)  # ((name, size), ...) in order: see warm_start.remap
        self.action_space = batch_space(self.single_action_space, n)
        self.observation_space = batch_space(self.single_observation_space, n)
        self.render_mode = None
        self._elapsed = np.zeros(n, dtype=np.int64)
        self._needs_reset = True
        self._obs_buf = np.zeros((n, core.obs_dim))

    @property
    def datas(self):
        """The sub-envs' MjData (native MuJoCo physics only)."""
        return self.core.physics.datas

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None):
        """Reset every sub-env (or those in ``options["reset_mask"]``); seed i is ``seed + i``.

        ``options["time"]``: a start time for all, or one per sub-env (None = random);
        ``options["clip"]`` likewise picks clips.
        """
        n, core = self.num_envs, self.core
        seeds = sub_env_seeds(seed, n)
        options = options or {}
        mask = options.get("reset_mask")
        mask = np.ones(n, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        if self._needs_reset and not mask.all():
            raise ValueError("the first reset must reset every sub-env")
        rows = np.flatnonzero(mask)
        for i in rows:
            if seeds[i] is not None or core.rngs[i] is None:
                core.rngs[i], _ = seeding.np_random(seeds[i])
        obs_rows, info_rows = core.reset(rows, times=_per_env(options.get("time"), n)[rows],
                                         clips=_per_env(options.get("clip"), n)[rows])
        self._obs_buf[rows] = obs_rows
        self._elapsed[rows] = 0
        infos: dict[str, Any] = {}
        _put_rows(infos, info_rows, rows, n)
        self._needs_reset = False
        return self._obs_buf.copy(), infos

    def step(self, actions):
        """Step all sub-envs; ended ones are reset in the same call (SAME_STEP autoreset)."""
        if self._needs_reset:
            raise RuntimeError("call reset() before step()")
        n = self.num_envs
        self._elapsed += 1
        r = self.core.step(np.asarray(actions).reshape(n, -1), limit=self.max_episode_steps, elapsed=self._elapsed,
                           autoreset=True)
        obs, terminated, truncated, unstable = r.obs, r.terminated, r.truncated, r.unstable
        ones = np.ones(n, dtype=bool)
        info: dict[str, Any] = {}
        for k, col in step_info(r.terms, r.errors).items():
            info[k], info["_" + k] = col.copy(), ones
        info["time"], info["_time"] = r.time, ones
        if len(self.clips) > 1:
            info["clip"], info["_clip"] = r.clip, ones.copy()
        info["sim_unstable"], info["_sim_unstable"] = unstable, ones.copy()
        for k, v in r.extra.items():  # a scene's: the task reward and its terms, the AMP observations
            info[k], info["_" + k] = v, ones.copy()
        ended = terminated | truncated
        if ended.any():
            final_info = {k: v.copy() for k, v in info.items() if not k.startswith("_")}
            for k in list(final_info):
                final_info["_" + k] = ended.copy()
            if unstable.any():
                final_info["phase"] = self.core.phase(r.time, r.clip)
                final_info["_phase"] = unstable.copy()
            final_obs = np.zeros_like(obs)
            final_obs[ended] = obs[ended]
            rows = r.reset_rows
            obs[rows] = r.reset_obs
            self._elapsed[rows] = 0
            _put_rows(info, r.reset_info, rows, n)
            info["final_obs"], info["_final_obs"] = final_obs, ended
            info["final_info"], info["_final_info"] = final_info, ended.copy()
        self._obs_buf = obs.copy()
        return obs, r.reward, terminated, truncated, info

    def close_extras(self, **kwargs: Any) -> None:
        self.core.close()


def _put_rows(info: dict[str, Any], values: dict[str, np.ndarray], rows: np.ndarray, n: int) -> None:
    """Write arrays over ``rows`` into vector-env info arrays of n (each key with its ``"_key"`` mask)."""
    for key, v in values.items():
        if key not in info:
            info[key] = np.zeros(n, dtype=v.dtype)
            info["_" + key] = np.zeros(n, dtype=bool)
        info[key][rows] = v
        info["_" + key][rows] = True


def _per_env(value, n: int) -> np.ndarray:
    """One value for all sub-envs, or one per sub-env, as an object array of n."""
    out = np.empty(n, dtype=object)
    if value is None or np.ndim(value) == 0:
        out[:] = [value] * n
    else:
        out[:] = list(value)
    return out
