"""A natively batched vector env for Gymnasium's planar MuJoCo locomotion tasks.

``MujocoLocomotionVectorEnv(env_id, num_envs, max_episode_steps=None, nthread=None, **make_kwargs)``
covers Hopper-v5, Walker2d-v5 and HalfCheetah-v5. Sub-env ``i`` behaves exactly like
``gym.make(env_id, **make_kwargs)`` in a ``SyncVectorEnv`` reset with seed ``seed + i``: the same
observations, rewards, terminations, truncations and info entries (to the rounding of the
vectorised maths; the physics is bit-identical, which ``tests/test_mujoco_vector.py`` checks
against gymnasium step by step).

Why: in ``SyncVectorEnv`` each Hopper step is ~90 us of ``mj_step`` and ~60 us of Python (wrappers,
observation, reward, health check) on one core. Here ``nthread`` threads (the caller's included)
run the physics of all sub-envs (``mujoco.mj_step`` releases the GIL, so they use several cores),
and the observation, reward and health check are computed once for all sub-envs with numpy.

Each sub-env is a real Gymnasium environment instance (its own ``MjModel``/``MjData`` and random
generator): resets go through its own ``reset`` (so reset noise and seeding are Gymnasium's), and
the task parameters (reward weights, healthy ranges, frame skip, ...) are read from the instance,
so ``make_kwargs`` such as ``ctrl_cost_weight=...`` are honoured. Gymnasium's step also calls
``mj_rnePostConstraint`` (contact forces for Ant/Humanoid observations); these tasks do not
use its outputs and it does not change the state, so it is not called.

Autoreset is ``SAME_STEP`` with ``info["final_obs"]``/``info["final_info"]``, as ``SyncVectorEnv``.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from .vector_util import add_info_row, sub_env_seeds

# env id -> (health check: None, "hopper" or "walker"; qvel clipped to +-10 in the observation)
SUPPORTED = {"Hopper-v5": ("hopper", True), "Walker2d-v5": ("walker", True), "HalfCheetah-v5": (None, False)}


class MujocoLocomotionVectorEnv(VectorEnv):
    """N sub-envs of a planar MuJoCo locomotion task, physics in threads, maths batched (see module doc)."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, env_id: str, num_envs: int, max_episode_steps: int | None = None,
                 nthread: int | None = None, **make_kwargs: Any) -> None:
        if env_id not in SUPPORTED:
            raise ValueError(f"no native vector env for {env_id!r}: it exists for {', '.join(SUPPORTED)}")
        if make_kwargs.get("render_mode") is not None:
            raise ValueError("the native MuJoCo vector env does not render; use --vec_env sync")
        spec = gym.spec(env_id)
        self.max_episode_steps = spec.max_episode_steps if max_episode_steps is None else int(max_episode_steps)
        self.envs = [gym.make(env_id, **make_kwargs).unwrapped for _ in range(num_envs)]
        e = self.envs[0]
        self.env_id, self.num_envs = env_id, num_envs
        self.single_observation_space, self.single_action_space = e.observation_space, e.action_space
        self.observation_space = batch_space(e.observation_space, num_envs)
        self.action_space = batch_space(e.action_space, num_envs)
        self.spec = spec
        self.health, self.clip_qvel = SUPPORTED[env_id]
        self.frame_skip, self.dt = int(e.frame_skip), float(e.dt)
        self.skip_x = bool(e._exclude_current_positions_from_observation)
        self.forward_w, self.ctrl_w = float(e._forward_reward_weight), float(e._ctrl_cost_weight)
        if self.health is not None:
            self.healthy_reward = float(e._healthy_reward)
            self.terminate_unhealthy = bool(e._terminate_when_unhealthy)
            self.z_range, self.angle_range = e._healthy_z_range, e._healthy_angle_range
            self.state_range = getattr(e, "_healthy_state_range", None)
            self.init_z = float(e.init_qpos[1])
        nq, nv = e.model.nq, e.model.nv
        self._qpos = np.zeros((num_envs, nq))
        self._qvel = np.zeros((num_envs, nv))
        self._actions: np.ndarray | None = None
        self._elapsed = np.zeros(num_envs, dtype=np.int64)
        self._needs_reset = True
        nthread = (os.cpu_count() or 1) if nthread is None else int(nthread)
        self.nthread = max(1, min(nthread, num_envs))
        self._pool = ThreadPoolExecutor(self.nthread - 1, thread_name_prefix="mujoco-vec") \
            if self.nthread > 1 else None

    # ------------------------------------------------------------------ internals
    def _reset_one(self, i: int, seed: int | None) -> tuple[np.ndarray, dict]:
        env = self.envs[i]
        obs, info = env.reset(seed=seed)
        self._qpos[i] = env.data.qpos
        self._qvel[i] = env.data.qvel
        self._elapsed[i] = 0
        return obs, info

    def _physics(self, it) -> None:
        """Worker body: step the sub-envs handed out by the shared iterator (mj_step releases the GIL)."""
        envs, a, fs, qpos, qvel, step = self.envs, self._actions, self.frame_skip, self._qpos, self._qvel, mujoco.mj_step
        for i in it:
            env = envs[i]
            d = env.data
            d.ctrl[:] = a[i]
            step(env.model, d, nstep=fs)
            qpos[i] = d.qpos
            qvel[i] = d.qvel

    def _observations(self) -> np.ndarray:
        pos = self._qpos[:, 1:] if self.skip_x else self._qpos
        vel = np.clip(self._qvel, -10.0, 10.0) if self.clip_qvel else self._qvel
        return np.concatenate((pos, vel), axis=1)

    def _healthy(self) -> np.ndarray:
        z, angle = self._qpos[:, 1], self._qpos[:, 2]
        ok = ((self.z_range[0] < z) & (z < self.z_range[1])
              & (self.angle_range[0] < angle) & (angle < self.angle_range[1]))
        if self.health == "hopper":
            lo, hi = self.state_range
            state = np.concatenate((self._qpos[:, 2:], self._qvel), axis=1)
            ok &= ((lo < state) & (state < hi)).all(axis=1)
        return ok

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None):
        """Reset every sub-env; sub-env i gets seed ``seed + i`` (as ``SyncVectorEnv``)."""
        n = self.num_envs
        seeds = sub_env_seeds(seed, n)
        if options:
            raise ValueError(f"{self.env_id}: the native vector env takes no reset options, got {sorted(options)}")
        obs = np.zeros((n, *self.single_observation_space.shape), dtype=self.single_observation_space.dtype)
        infos: dict[str, Any] = {}
        for i in range(n):
            obs[i], info = self._reset_one(i, seeds[i])
            add_info_row(infos, info, i, n)
        self._needs_reset = False
        return obs, infos

    def step(self, actions):
        """Step all sub-envs; ended ones are reset in the same call (SAME_STEP autoreset)."""
        if self._needs_reset:
            raise RuntimeError("call reset() before step()")
        n = self.num_envs
        a = np.asarray(actions)
        if a.shape != (n, *self.single_action_space.shape):
            raise ValueError(f"{self.env_id}: expected actions of shape {(n, *self.single_action_space.shape)}, "
                             f"got {a.shape}")
        x_before = self._qpos[:, 0].copy()
        self._actions = a
        it = iter(range(n))
        if self._pool is None:
            self._physics(it)
        else:
            futs = [self._pool.submit(self._physics, it) for _ in range(self.nthread - 1)]
            self._physics(it)
            for f in futs:
                f.result()
        self._elapsed += 1
        x_after = self._qpos[:, 0].copy()
        x_velocity = (x_after - x_before) / self.dt
        obs = self._observations()
        forward = self.forward_w * x_velocity
        ctrl_cost = self.ctrl_w * np.square(a).sum(axis=1)  # in the actions' dtype, as Gymnasium
        ones = np.ones(n, dtype=bool)
        info: dict[str, Any] = {"x_position": x_after, "_x_position": ones}
        if self.health is not None:
            healthy = self._healthy()
            survive = healthy * self.healthy_reward
            reward = (forward + survive) - ctrl_cost
            terminated = ~healthy if self.terminate_unhealthy else np.zeros(n, dtype=bool)
            info["z_distance_from_origin"], info["_z_distance_from_origin"] = self._qpos[:, 1] - self.init_z, ones
        else:
            reward = forward - ctrl_cost
            terminated = np.zeros(n, dtype=bool)
        info["x_velocity"], info["_x_velocity"] = x_velocity, ones
        info["reward_forward"], info["_reward_forward"] = forward, ones
        info["reward_ctrl"], info["_reward_ctrl"] = -ctrl_cost, ones
        if self.health is not None:
            info["reward_survive"], info["_reward_survive"] = survive, ones
        truncated = self._elapsed >= self.max_episode_steps if self.max_episode_steps is not None \
            else np.zeros(n, dtype=bool)
        ended = terminated | truncated
        if ended.any():
            final_info = {k: v.copy() for k, v in info.items() if not k.startswith("_")}
            for k in list(final_info):
                final_info["_" + k] = ended.copy()
            final_obs = np.zeros_like(obs)
            final_obs[ended] = obs[ended]
            reset_info: dict[str, Any] = {}
            for i in np.flatnonzero(ended):
                i = int(i)
                obs[i], rinfo = self._reset_one(i, None)
                add_info_row(reset_info, rinfo, i, n)
            # as SyncVectorEnv: an ended sub-env's top-level info is its reset info only
            for k in [k for k in info if not k.startswith("_")]:
                if k in reset_info:
                    info[k] = np.where(ended, reset_info[k], info[k])
                else:
                    info[k] = np.where(ended, 0.0, info[k])
                    info["_" + k] = ~ended
            for k, v in reset_info.items():
                if not k.startswith("_") and k not in info:
                    info[k], info["_" + k] = v, reset_info["_" + k]
            info["final_obs"], info["_final_obs"] = final_obs, ended
            info["final_info"], info["_final_info"] = final_info, ended.copy()
        return obs, np.asarray(reward, dtype=np.float64), terminated, truncated, info

    def close_extras(self, **kwargs: Any) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for env in self.envs:
            env.close()

