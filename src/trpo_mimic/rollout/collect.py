"""Rollout collection from vectorised environments into flat batches."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from ..envs import is_step_metric
from ..envs.vector_util import ended_info, info_row
from ..envs.wrappers import NonFiniteError
from ..policies.agent import Agent
from .frames import StackedFrames


@dataclass
class Rollout:
    """One iteration's samples, time-major (T, num_envs, ...)."""

    obs: np.ndarray | StackedFrames  # StackedFrames for uint8 frame stacks (each frame stored once)
    actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    values: np.ndarray
    final_values: np.ndarray
    last_values: np.ndarray
    episode_returns: list[float] = field(default_factory=list)
    episode_lengths: list[int] = field(default_factory=list)
    episode_infos: list[dict] = field(default_factory=list)
    step_info_means: dict[str, float] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)  # info arrays the collector was asked to keep, (T, N, ...)
    nonfinite_episodes: int = 0
    unstable_episodes: int = 0
    env_time: float = 0.0
    inference_time: float = 0.0

    @property
    def num_samples(self) -> int:
        return int(self.rewards.size)


class RolloutCollector:
    """Steps a vector env with the agent's stochastic policy and keeps episodes going across iterations."""

    def __init__(self, envs: gym.vector.VectorEnv, agent: Agent, env_id: str, seed: int | None = None) -> None:
        self.envs = envs
        self.agent = agent
        self.env_id = env_id
        self.num_envs = envs.num_envs
        self.obs, _ = envs.reset(seed=seed)
        self._check_finite(self.obs, None, 0)
        self.ep_return = np.zeros(self.num_envs)
        self.ep_length = np.zeros(self.num_envs, dtype=np.int64)
        self.total_steps = 0
        self.info_keys: tuple[str, ...] = ()
        """Per-step info arrays kept whole in :attr:`Rollout.extras` (e.g. a training extension's:
        :attr:`.tasks.TrainingExtension.info_keys`)."""

    def _check_finite(self, obs: np.ndarray, reward: np.ndarray | None, step: int) -> None:
        if obs.dtype != np.uint8 and not np.all(np.isfinite(obs)):
            bad = np.argwhere(~np.isfinite(obs.reshape(self.num_envs, -1)).all(axis=1)).ravel().tolist()
            raise NonFiniteError(f"{self.env_id}: non-finite observation from env(s) {bad} at step {step}")
        if reward is not None and not np.all(np.isfinite(reward)):
            bad = np.argwhere(~np.isfinite(reward)).ravel().tolist()
            raise NonFiniteError(f"{self.env_id}: non-finite reward from env(s) {bad} at step {step}")

    def _ended(self, roll: Rollout, t: int, info: dict[str, Any], done: np.ndarray, infer: Any,
               trunc_obs: list[tuple[int, np.ndarray, np.ndarray]]) -> None:
        """Step t ended the episodes of envs ``done``: the final observations of the truncated ones valued (or
        kept in ``trunc_obs`` for the batched pass), each episode's return, length and end info recorded."""
        final_obs = info["final_obs"]
        trunc_idx = np.flatnonzero(roll.truncated[t])
        if trunc_idx.size:
            fo = np.stack([final_obs[i] for i in trunc_idx])
            if infer.batched_values:
                trunc_obs.append((t, trunc_idx, fo))
            else:
                roll.final_values[t, trunc_idx] = infer.values(fo)
        final_info = info.get("final_info", {})
        for i in np.flatnonzero(done):
            roll.episode_returns.append(float(self.ep_return[i]))
            roll.episode_lengths.append(int(self.ep_length[i]))
            end_info = info_row(final_info, i)
            roll.episode_infos.append(end_info)
            roll.nonfinite_episodes += bool(end_info.get("nonfinite", False))
            roll.unstable_episodes += bool(end_info.get("sim_unstable", False))
        self.ep_return[done] = 0.0
        self.ep_length[done] = 0

    @torch.inference_mode()
    def collect(self, steps: int) -> Rollout:
        n = self.num_envs
        if StackedFrames.suits(self.obs):
            obs_buf = StackedFrames(steps, n, self.obs.shape[1], self.obs.shape[2:], self.obs.dtype)
            put_obs = obs_buf.put
        else:
            obs_buf = np.zeros((steps, *self.obs.shape), dtype=self.obs.dtype)
            put_obs = obs_buf.__setitem__
        act_space = self.envs.single_action_space
        act_shape = () if isinstance(act_space, gym.spaces.Discrete) else act_space.shape
        act_dtype = np.int64 if isinstance(act_space, gym.spaces.Discrete) else np.float32
        act_buf = np.zeros((steps, n, *act_shape), dtype=act_dtype)
        rew_buf = np.zeros((steps, n), dtype=np.float32)
        term_buf = np.zeros((steps, n), dtype=bool)
        trunc_buf = np.zeros((steps, n), dtype=bool)
        val_buf = np.zeros((steps, n), dtype=np.float32)
        final_val_buf = np.zeros((steps, n), dtype=np.float32)
        roll = Rollout(obs_buf, act_buf, rew_buf, term_buf, trunc_buf, val_buf, final_val_buf, np.zeros(n))
        agent = self.agent
        infer = agent.inference()  # the agent's backend: numpy (tanh MLPs on the CPU) or torch
        t_env = t_inf = 0.0
        info_sums: dict[str, float] = {}
        info_counts: dict[str, int] = {}
        trunc_obs: list[tuple[int, np.ndarray, np.ndarray]] = []  # batched values: (t, envs, final obs), valued at the end
        for t in range(steps):
            t0 = time.perf_counter()
            env_action, act_buf[t] = infer.act(self.obs)
            if not infer.batched_values:  # else computed for the whole rollout at once after the loop
                val_buf[t] = infer.values(self.obs)
            put_obs(t, self.obs)
            t1 = time.perf_counter()
            next_obs, reward, terminated, truncated, info = self.envs.step(env_action)
            t2 = time.perf_counter()
            self.total_steps += n
            self._check_finite(next_obs, reward, self.total_steps)
            rew_buf[t] = reward
            term_buf[t] = terminated
            trunc_buf[t] = truncated & ~terminated
            done = terminated | truncated
            step_info = ended_info(info, done)  # an ended episode's last step, not the next one's reset
            for k in self.info_keys:
                roll.extras.setdefault(k, []).append(np.asarray(step_info[k]))
            for k, v in step_info.items():
                if is_step_metric(k) and v.dtype.kind == "f":
                    ok = step_info["_" + k] & np.isfinite(v)  # e.g. an error is NaN where the simulation went unstable
                    info_sums[k] = info_sums.get(k, 0.0) + float(v[ok].sum())
                    info_counts[k] = info_counts.get(k, 0) + int(ok.sum())
            self.ep_return += reward
            self.ep_length += 1
            if done.any():
                self._ended(roll, t, info, done, infer, trunc_obs)
            self.obs = next_obs
            t_inf += t1 - t0 + (time.perf_counter() - t2)
            t_env += t2 - t1
        t0 = time.perf_counter()
        if infer.batched_values:
            # The critic and the normaliser do not change during a rollout: one batched pass over all the
            # observations (the last ones and the final observations of truncated episodes included)
            # gives the values the per-step calls would, at a fraction of the per-call overhead.
            parts = [obs_buf.reshape(steps * n, -1), self.obs.reshape(n, -1)] + [fo.reshape(len(fo), -1)
                                                                             for _, _, fo in trunc_obs]
            v = infer.values(np.concatenate(parts))
            val_buf[:] = v[:steps * n].reshape(steps, n)
            roll.last_values = v[steps * n:steps * n + n]
            k = steps * n + n
            for t, idx, fo in trunc_obs:
                final_val_buf[t, idx] = v[k:k + len(fo)]
                k += len(fo)
        else:
            roll.last_values = infer.values(self.obs)
        t_inf += time.perf_counter() - t0
        roll.env_time, roll.inference_time = t_env, t_inf
        roll.step_info_means = {k: v / max(info_counts[k], 1) for k, v in info_sums.items()}
        roll.extras = {k: np.stack(v) for k, v in roll.extras.items()}
        return roll
