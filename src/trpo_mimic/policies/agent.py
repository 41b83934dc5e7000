"""The agent: observation normaliser, actor and critic, built from the environment's spaces."""
from __future__ import annotations

from typing import Sequence

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from .networks import Actor, Critic, is_image_space
from .normalizer import RunningNormalizer


class Agent(nn.Module):
    """Holds the normaliser, the actor and the critic as three separate sub-modules."""

    def __init__(self, obs_space: gym.Space, action_space: gym.Space, hidden_sizes: Sequence[int] | int = (64, 64),
                 value_hidden_sizes: Sequence[int] | int | None = None, init_log_std: float = 0.0,
                 normalize_obs: bool = True) -> None:
        super().__init__()
        image = is_image_space(obs_space)
        self.obs_normalizer = RunningNormalizer(obs_space.shape, enabled=normalize_obs and not image)
        self.actor = Actor(obs_space, action_space, hidden_sizes, init_log_std)
        self.critic = Critic(obs_space, value_hidden_sizes if value_hidden_sizes else hidden_sizes)
        self.action_space = action_space
        if isinstance(action_space, gym.spaces.Box):
            self.register_buffer("action_low", torch.as_tensor(action_space.low, dtype=torch.float32))
            self.register_buffer("action_high", torch.as_tensor(action_space.high, dtype=torch.float32))

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def obs_tensor(self, obs: np.ndarray) -> torch.Tensor:
        """Raw observations (numpy) -> normalised tensor on the agent's device."""
        t = torch.from_numpy(obs) if isinstance(obs, np.ndarray) else torch.as_tensor(obs)
        t = t.to(self.obs_normalizer.mean32.device)
        return self.obs_normalizer(t) if self.obs_normalizer.enabled else t

    def to_env_action(self, action: torch.Tensor) -> np.ndarray:
        """Clip Box actions to the action space before they reach the environment."""
        if self.actor.discrete:
            return action.cpu().numpy()
        return torch.maximum(torch.minimum(action, self.action_high), self.action_low).cpu().numpy()

    @torch.inference_mode()
    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """Environment actions for a batch of raw observations (no statistics are updated)."""
        x = self.obs_tensor(obs)
        action = self.actor(x) if deterministic else self.actor.sample(x)
        return self.to_env_action(action)
