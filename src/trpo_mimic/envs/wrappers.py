"""Wrappers the factory applies to every environment."""
from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np


class NonFiniteError(RuntimeError):
    """An environment produced a non-finite observation or reward."""


class NonFiniteGuard(gym.Wrapper):
    """Checks every observation and reward for NaN/inf.

    mode "raise": raise NonFiniteError naming the environment and the step.
    mode "terminate": end the episode there instead (observation zeroed, reward 0) and set
    info["nonfinite"] = True, so the trainer can count such episodes.
    """

    def __init__(self, env: gym.Env, env_id: str, mode: str = "raise") -> None:
        super().__init__(env)
        if mode not in ("raise", "terminate"):
            raise ValueError(f"unknown non-finite handling {mode!r}: choose raise or terminate")
        self.env_id, self.mode = env_id, mode
        self.episode_step = 0
        self.total_steps = 0

    @staticmethod
    def _finite(x: Any) -> bool:
        if isinstance(x, float):
            return math.isfinite(x)
        if isinstance(x, np.ndarray) and x.dtype.kind not in "fc":
            return True  # integer observations (e.g. uint8 frames) cannot be NaN
        return bool(np.isfinite(x).all())

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        self.episode_step = 0
        if not self._finite(obs):
            raise NonFiniteError(f"{self.env_id}: non-finite observation from reset()")
        return obs, info

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.episode_step += 1
        self.total_steps += 1
        bad = [what for what, x in (("observation", obs), ("reward", reward)) if not self._finite(x)]
        if bad:
            where = f"{self.env_id}: non-finite {' and '.join(bad)} at step {self.episode_step} of the episode " \
                    f"(step {self.total_steps} of this environment)"
            if self.mode == "raise":
                raise NonFiniteError(where + "; pass --nonfinite terminate to end such episodes instead")
            obs = np.zeros_like(np.asarray(obs), dtype=self.observation_space.dtype)
            info = dict(info, nonfinite=True)
            return obs, 0.0, True, False, info
        return obs, reward, terminated, truncated, info
