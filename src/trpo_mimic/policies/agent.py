"""The agent: observation normaliser, actor and critic, built from the environment's spaces."""
from __future__ import annotations

from typing import Sequence

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from .mlp_kernels import NumpyInference, net_tanh_mlp_layers
from .networks import Actor, Critic, ExplorationNoise, is_image_space
from .normalizer import RunningNormalizer

BACKENDS = ("auto", "torch", "numpy")


class TorchInference:
    """The rollout's actions and values through the torch modules (any network, any device), per step."""

    batched_values = False

    def __init__(self, agent: "Agent") -> None:
        self.agent = agent
        self._last: tuple[np.ndarray | None, torch.Tensor | None] = (None, None)
        self.noise = agent.exploration_noise()  # gSDE's matrices, held across this rollout's steps; else None

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(environment action, sampled action) for a batch of raw observations; deterministic: the mean (the
        most likely category) instead of a sample."""
        x = self.agent.obs_tensor(obs)
        self._last = (obs, x)  # the values of the same observations, asked for next, reuse it
        actor = self.agent.actor
        action = actor(x) if deterministic else actor.sample(x, self.noise)  # noise: None without gSDE
        return self.agent.to_env_action(action), action.cpu().numpy()

    def values(self, obs: np.ndarray) -> np.ndarray:
        last, x = self._last
        self._last = (None, None)
        return self.agent.critic(x if last is obs else self.agent.obs_tensor(obs)).cpu().numpy()


class Agent(nn.Module):
    """Holds the normaliser, the actor and the critic as three separate sub-modules.

    `backend` says how the rollout's inference and the critic fit run: "numpy" (`mlp_kernels`: tanh-MLP
    networks on the CPU, the fast path) or "torch" (the modules themselves). It is chosen once, by
    `set_backend` (at construction: "auto"; call it again after moving the agent to another device)."""

    def __init__(self, obs_space: gym.Space, action_space: gym.Space, hidden_sizes: Sequence[int] | int = (64, 64),
                 value_hidden_sizes: Sequence[int] | int | None = None, init_log_std: float = 0.0,
                 normalize_obs: bool = True, backend: str = "auto", sde: bool = False,
                 sde_sample_freq: int = -1) -> None:
        super().__init__()
        image = is_image_space(obs_space)
        self.obs_normalizer = RunningNormalizer(obs_space.shape, enabled=normalize_obs and not image)
        self.actor = Actor(obs_space, action_space, hidden_sizes, init_log_std, sde)
        self.sde_sample_freq = int(sde_sample_freq)
        self.critic = Critic(obs_space, value_hidden_sizes if value_hidden_sizes else hidden_sizes)
        self.action_space = action_space
        if isinstance(action_space, gym.spaces.Box):
            self.register_buffer("action_low", torch.as_tensor(action_space.low, dtype=torch.float32))
            self.register_buffer("action_high", torch.as_tensor(action_space.high, dtype=torch.float32))
        self.set_backend(backend)

    def set_backend(self, requested: str) -> str:
        """Choose the numpy or torch path for the agent where it is now; "numpy" where it cannot run is an error."""
        if requested not in BACKENDS:
            raise ValueError(f"unknown backend {requested!r} (one of {', '.join(BACKENDS)})")
        problem = None
        if net_tanh_mlp_layers(self.actor) is None or net_tanh_mlp_layers(self.critic) is None:
            problem = "the networks are not tanh MLPs (image observations use a CNN)"
        elif self.device.type != "cpu":
            problem = f"the agent is on {self.device.type}, numpy runs on the CPU"
        if requested == "numpy" and problem:
            raise ValueError(f"--backend numpy: {problem}; use --backend torch or auto")
        self.backend = "torch" if requested == "torch" or problem else "numpy"
        return self.backend

    def exploration_noise(self) -> ExplorationNoise | None:
        """A rollout's gSDE noise (new matrices every `sde_sample_freq` steps, and at the rollout's start); None
        without gSDE."""
        return ExplorationNoise(self.actor, self.sde_sample_freq) if self.actor.sde else None

    def inference(self) -> NumpyInference | TorchInference:
        """The rollout's inference for the chosen backend (build one per rollout)."""
        return NumpyInference(self) if self.backend == "numpy" else TorchInference(self)

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
