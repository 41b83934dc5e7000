"""Reward scaling by the running spread of the discounted return (``--normalize_reward``), as
Stable-Baselines3's ``VecNormalize(norm_reward=True)`` does and rl-baselines3-zoo's MuJoCo settings use:
each env keeps its discounted return ``g = gamma g + r`` (zeroed when its episode ends), the running
variance of those returns is merged from every step of the rollout, and the rewards are divided by its
square root and clipped. Advantages and the critic's targets are then in those units; logged episode
returns stay in the env's own."""
from __future__ import annotations

import numpy as np
import torch

from ..policies.normalizer import RunningNormalizer


class RewardScaler:
    """Scales the rewards of (T, num_envs) rollouts; its statistics go in the checkpoint (``state_dict``)."""

    def __init__(self, num_envs: int, gamma: float, clip: float = 10.0, epsilon: float = 1e-8) -> None:
        # the running mean and variance of the discounted returns (summed across ranks under torchrun), with the
        # clip and epsilon this scaling uses
        self.stats = RunningNormalizer((), clip=float(clip), epsilon=float(epsilon))
        self.returns = np.zeros(num_envs)  # each env's discounted return so far in its episode
        self.gamma = float(gamma)

    def __call__(self, rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray) -> np.ndarray:
        """The rollout's rewards scaled: (T, num_envs) float64."""
        rewards = np.asarray(rewards, dtype=np.float64)
        ends = np.asarray(terminated, dtype=bool) | np.asarray(truncated, dtype=bool)
        g, seen = self.returns, np.empty_like(rewards)
        for t in range(len(rewards)):
            g = self.gamma * g + rewards[t]
            seen[t] = g
            g = np.where(ends[t], 0.0, g)
        self.returns = g
        self.stats.update(torch.from_numpy(seen.reshape(-1)))
        stats = self.stats
        scale = 1.0 / np.sqrt(float(stats.var) + stats.epsilon)
        return np.clip(rewards * scale, -stats.clip, stats.clip)

    def state_dict(self) -> dict:
        return self.stats.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.stats.load_state_dict(state)
