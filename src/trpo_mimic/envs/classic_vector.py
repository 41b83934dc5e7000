"""Pendulum-v1 for N environments at once: Gymnasium's pendulum dynamics, cost and observation computed as
arrays over the N (each sub-env's start state still drawn by its own Gymnasium env, with its own generator), so
a step costs one set of numpy operations instead of N Python env steps behind SyncVectorEnv's wrappers. Step
by step equal to ``SyncVectorEnv`` of ``gym.make("Pendulum-v1")`` with the same seeds
(``tests/test_classic_vector.py``)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .vector_util import GymBatchVectorEnv, same_step_autoreset

SUPPORTED = ("Pendulum-v1",)


class PendulumVectorEnv(GymBatchVectorEnv):
    """N Pendulum-v1 sub-envs, batched; SAME_STEP autoreset like our other vector envs."""

    def __init__(self, env_id: str, num_envs: int, max_episode_steps: int | None = None, **make_kwargs: Any) -> None:
        if env_id not in SUPPORTED:
            raise ValueError(f"no batched classic-control env for {env_id!r}: it exists for {', '.join(SUPPORTED)}")
        super().__init__(env_id, num_envs, max_episode_steps, make_kwargs)
        self._th, self._thdot = np.zeros(num_envs), np.zeros(num_envs)

    def _started(self, i: int) -> None:
        self._th[i], self._thdot[i] = self.envs[i].state

    def step(self, actions):
        """Gymnasium's Pendulum step for all N (the same operations, on arrays); ended sub-envs start again."""
        a, e = self._actions_of(actions), self.envs[0]
        th, thdot = self._th, self._thdot
        u = np.clip(a, -e.max_torque, e.max_torque)[:, 0]
        costs = (((th + np.pi) % (2 * np.pi)) - np.pi) ** 2 + 0.1 * thdot ** 2 + 0.001 * (u ** 2)
        new_thdot = thdot + (3 * e.g / (2 * e.l) * np.sin(th) + 3.0 / (e.m * e.l ** 2) * u) * e.dt
        new_thdot = np.clip(new_thdot, -e.max_speed, e.max_speed)
        self._th, self._thdot = th + new_thdot * e.dt, new_thdot
        obs = np.stack([np.cos(self._th), np.sin(self._th), self._thdot], axis=1).astype(np.float32)
        terminated, truncated = np.zeros(self.num_envs, dtype=bool), self._truncated()
        info: dict[str, Any] = {}
        if truncated.any():
            same_step_autoreset(obs, info, truncated, lambda i: self._reset_one(i, None))
        return obs, -costs.astype(np.float64), terminated, truncated, info
