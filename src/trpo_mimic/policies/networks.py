"""Actor (Gaussian or categorical head on an MLP or Atari CNN trunk) and critic, as separate modules."""
from __future__ import annotations

from typing import Any, Sequence

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical, Distribution, Independent, Normal

from .mlp_kernels import critic_mse_and_grad, tanh_mlp_layers


def expand_hidden_sizes(sizes: Sequence[int] | int) -> tuple[int, ...]:
    """One number means two layers of that width (as in the PyTorch TRPO ports)."""
    if isinstance(sizes, int):
        sizes = [sizes]
    sizes = tuple(int(s) for s in sizes)
    if any(s <= 0 for s in sizes):
        raise ValueError(f"hidden sizes must be positive, got {sizes}")
    return sizes * 2 if len(sizes) == 1 else sizes


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int, out_gain: float = 1.0) -> nn.Sequential:
    """tanh MLP with orthogonal initialisation."""
    layers: list[nn.Module] = []
    last = in_dim
    for h in hidden:
        lin = nn.Linear(last, h)
        nn.init.orthogonal_(lin.weight, gain=np.sqrt(2))
        nn.init.zeros_(lin.bias)
        layers += [lin, nn.Tanh()]
        last = h
    out = nn.Linear(last, out_dim)
    nn.init.orthogonal_(out.weight, gain=out_gain)
    nn.init.zeros_(out.bias)
    layers.append(out)
    return nn.Sequential(*layers)


class NatureCNN(nn.Module):
    """The Nature-DQN trunk for stacked uint8 frames (C, 84, 84); scales to [0, 1] inside."""

    def __init__(self, in_channels: int, out_dim: int = 512) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, 32, 8, stride=4), nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(),
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, out_dim), nn.ReLU(),
        )
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.float() / 255.0)


def is_image_space(space: gym.Space) -> bool:
    return isinstance(space, gym.spaces.Box) and space.dtype == np.uint8 and len(space.shape) == 3


def _obs_dim(space: gym.Space) -> int:
    if not isinstance(space, gym.spaces.Box):
        raise ValueError(f"unsupported observation space {space}: only Box observations are supported")
    return int(np.prod(space.shape))


SDE_EPSILON = 1e-6
"""Added to a gSDE action's variance (as Stable-Baselines3's StateDependentNoiseDistribution)."""


class Actor(nn.Module):
    """Policy: returns an action distribution for (normalised) observations.

    `sde` (Box actions, MLP body): generalised state-dependent exploration (gSDE, Raffin et al. 2022, as
    Stable-Baselines3's ``use_sde``): the exploration noise is h(s) E, h(s) the last hidden layer's output
    (not trained through the noise) and E a (hidden, action) matrix of independent N(0, exp(log_std)^2) entries
    held for several steps (`ExplorationNoise`), so the action's spread depends on the state and is smooth in
    time; as a distribution, N(mean(s), h(s)^2 exp(2 log_std) + SDE_EPSILON) per action dimension. `log_std`
    is then a (hidden, action) matrix."""

    def __init__(self, obs_space: gym.Space, action_space: gym.Space, hidden_sizes: Sequence[int] | int = (64, 64),
                 init_log_std: float = 0.0, sde: bool = False) -> None:
        super().__init__()
        self.sde = bool(sde)
        hidden = expand_hidden_sizes(hidden_sizes)
        if isinstance(action_space, gym.spaces.Box):
            self.discrete = False
            out_dim = int(np.prod(action_space.shape))
        elif isinstance(action_space, gym.spaces.Discrete):
            self.discrete = True
            out_dim = int(action_space.n)
        else:
            raise ValueError(f"unsupported action space {action_space}: only Box and Discrete are supported")
        self.image = is_image_space(obs_space)
        if self.image:
            self.trunk: nn.Module = NatureCNN(obs_space.shape[0])
            self.head = nn.Linear(self.trunk.out_dim, out_dim)
            nn.init.orthogonal_(self.head.weight, gain=0.01)
            nn.init.zeros_(self.head.bias)
            self.body = nn.Sequential(self.trunk, self.head)
        else:
            self.body = mlp(_obs_dim(obs_space), hidden, out_dim, out_gain=0.01)
        self.action_dim = out_dim
        if self.sde and (self.discrete or self.image):
            raise ValueError("gSDE (--use_sde) needs Box actions and vector observations (an MLP policy)")
        if not self.discrete:
            shape = (hidden[-1], out_dim) if self.sde else (out_dim,)
            self.log_std = nn.Parameter(torch.full(shape, float(init_log_std)))

    def output(self, obs: torch.Tensor) -> torch.Tensor:
        """The body's output: logits, or Gaussian means (with gSDE, followed by the last hidden layer's output)."""
        if self.sde:
            h = self.body[:-1](obs.flatten(1))
            return torch.cat([self.body[-1](h), h], dim=-1)
        return self.body(obs if self.image else obs.flatten(1))

    def distribution(self, obs: torch.Tensor) -> Distribution:
        return self.distribution_from(self.output(obs))

    def batch_distribution(self, obs: Any, chunk: int = 0) -> Distribution:
        """The distribution for a whole batch, the network run on chunks of `chunk` samples (0: at once).

        `obs` may be a tensor or stored frame stacks (`rollout.frames.FlatStackedFrames`), anything with
        `.shape` and slicing; `rollout.frames.update_chunk` gives the chunk size frame stacks need."""
        n = obs.shape[0]
        if not 0 < chunk < n:
            return self.distribution(obs[:])
        return self.distribution_from(torch.cat([self.output(obs[s:s + chunk]) for s in range(0, n, chunk)]))

    def distribution_from(self, out: torch.Tensor, log_std: torch.Tensor | None = None) -> Distribution:
        """The action distribution for the body's output (logits, or Gaussian means)."""
        if self.discrete:
            return Categorical(logits=out, validate_args=False)
        log_std = self.log_std if log_std is None else log_std
        if self.sde:
            mean, h = out[:, :self.action_dim], out[:, self.action_dim:].detach()
            std = torch.sqrt(h.square() @ torch.exp(2.0 * log_std) + SDE_EPSILON)
            return Independent(Normal(mean, std, validate_args=False), 1, validate_args=False)
        return Independent(Normal(out, log_std.expand_as(out).exp(), validate_args=False), 1, validate_args=False)

    def sde_matrices(self, n: int) -> torch.Tensor:
        """n exploration matrices E (n, hidden, action) of independent N(0, exp(log_std)^2) entries (gSDE)."""
        std = self.log_std.detach().exp()
        return std * torch.randn((n, *std.shape), device=std.device, dtype=std.dtype)

    def sample(self, obs: torch.Tensor, noise: "ExplorationNoise | None" = None) -> torch.Tensor:
        """A stochastic action, without building a distribution object (the rollout's hot path). With gSDE,
        `noise` holds the exploration matrices (none: a fresh matrix per row)."""
        if self.sde:
            h = self.body[:-1](obs.flatten(1))
            return self.body[-1](h) + (noise or ExplorationNoise(self))(h)
        out = self.body(obs if self.image else obs.flatten(1))
        if self.discrete:
            return torch.multinomial(torch.softmax(out, dim=-1), 1).squeeze(-1)
        return out + self.log_std.exp() * torch.randn_like(out)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """The deterministic action: the mean, or the most likely category."""
        out = self.body(obs if self.image else obs.flatten(1))
        return out.argmax(-1) if self.discrete else out


class ExplorationNoise:
    """gSDE's noise h(s) E for a batch of n environments: E, one matrix per row, is drawn at the first call and
    again every `every` calls (every <= 0: never again; a rollout makes a new one, so as Stable-Baselines3's
    ``sde_sample_freq=-1``, once per rollout), and whenever the batch size changes."""

    def __init__(self, actor: Actor, every: int = 0) -> None:
        self.actor, self.every = actor, int(every)
        self.matrices: torch.Tensor | None = None
        self.calls = 0

    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        """The noise (n, action) for hidden outputs h (n, hidden)."""
        n = h.shape[0]
        if self.matrices is None or self.matrices.shape[0] != n or (self.every > 0 and self.calls % self.every == 0):
            self.matrices = self.actor.sde_matrices(n)
        self.calls += 1
        return torch.bmm(h.detach()[:, None, :], self.matrices)[:, 0, :]


class Critic(nn.Module):
    """State-value function V(s)."""

    def __init__(self, obs_space: gym.Space, hidden_sizes: Sequence[int] | int = (64, 64)) -> None:
        super().__init__()
        self.image = is_image_space(obs_space)
        if self.image:
            trunk = NatureCNN(obs_space.shape[0])
            head = nn.Linear(trunk.out_dim, 1)
            self.body = nn.Sequential(trunk, head)
        else:
            self.body = mlp(_obs_dim(obs_space), expand_hidden_sizes(hidden_sizes), 1, out_gain=1.0)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.body(obs if self.image else obs.flatten(1)).squeeze(-1)

    def mse_and_grad(self, obs: torch.Tensor, returns: torch.Tensor) -> torch.Tensor:
        """Mean squared error to `returns`, with the gradient written into each parameter's .grad.

        For the tanh MLP the backward pass is written out (`mlp_kernels.critic_mse_and_grad`, about twice
        as fast as autograd for these small networks); image critics use autograd.
        """
        if self.image:
            self.zero_grad(set_to_none=True)
            loss = (self(obs) - returns).pow(2).mean()
            loss.backward()
            return loss.detach()
        return critic_mse_and_grad(tanh_mlp_layers(self.body), obs, returns)
