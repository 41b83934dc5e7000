"""The agent: observation normaliser, actor and critic, built from the environment's spaces."""
from __future__ import annotations

from typing import Sequence

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from .networks import Actor, Critic, is_image_space, net_tanh_mlp_layers
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


def _numpy_mlp(net: nn.Module) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """(W^T, b) numpy views of a tanh-MLP network's parameters, or None for image networks and other bodies."""
    linears = net_tanh_mlp_layers(net)
    if linears is None:
        return None
    return [(m.weight.detach().numpy().T, m.bias.detach().numpy()) for m in linears]


class NumpyActorCritic:
    """The rollout's hot path for small MLP agents on the CPU, in numpy.

    A batched call of a 64x64 actor and critic on a few observations is dominated by torch's
    per-operation overhead; numpy on views of the same parameters (no copies) does the same maths
    about three times faster. The noise still comes from torch's generator (`torch.randn`,
    `torch.multinomial`), so a seed gives the same actions as `Actor.sample`. Build one per rollout:
    the views follow in-place parameter updates but not replaced tensors.
    """

    def __init__(self, agent: "Agent", actor_layers, critic_layers) -> None:
        norm = agent.obs_normalizer
        self.normalize = norm.enabled
        self.mean, self.inv_std, self.clip = norm.mean32.numpy(), norm.inv_std32.numpy(), norm.clip
        self.actor_layers, self.critic_layers = actor_layers, critic_layers
        self.discrete = agent.actor.discrete
        if not self.discrete:
            self.std = agent.actor.log_std.detach().exp().numpy()
            self.low, self.high = agent.action_low.numpy(), agent.action_high.numpy()

    @staticmethod
    def build(agent: "Agent") -> "NumpyActorCritic | None":
        """The numpy path for `agent`, or None where it does not apply (images, GPU)."""
        if agent.device.type != "cpu":
            return None
        actor_layers, critic_layers = _numpy_mlp(agent.actor), _numpy_mlp(agent.critic)
        if actor_layers is None or critic_layers is None:
            return None
        return NumpyActorCritic(agent, actor_layers, critic_layers)

    @staticmethod
    def _forward(x: np.ndarray, layers) -> np.ndarray:
        for w, b in layers[:-1]:
            x = np.tanh(x @ w + b)
        w, b = layers[-1]
        return x @ w + b

    def _inputs(self, obs: np.ndarray) -> np.ndarray:
        x = np.asarray(obs, dtype=np.float32).reshape(len(obs), -1)
        if self.normalize:
            x = np.clip((x - self.mean.reshape(-1)) * self.inv_std.reshape(-1), -self.clip, self.clip)
        return x

    def act(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(environment action, sampled action) for a batch of raw observations."""
        out = self._forward(self._inputs(obs), self.actor_layers)
        if self.discrete:
            z = np.exp(out - out.max(axis=1, keepdims=True))
            probs = torch.from_numpy(z / z.sum(axis=1, keepdims=True))
            action = torch.multinomial(probs, 1).squeeze(-1).numpy()
            return action, action
        action = out + self.std * torch.randn(out.shape).numpy()
        return np.minimum(np.maximum(action, self.low), self.high), action

    def values(self, obs: np.ndarray) -> np.ndarray:
        """Critic values (float32) of a batch of raw observations."""
        return self._forward(self._inputs(obs), self.critic_layers)[:, 0]
