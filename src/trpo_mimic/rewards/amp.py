"""Adversarial motion priors (Peng et al. 2021) as a reward source: a discriminator learns to tell a motion set's
state transitions (the *expert*) from the policy's (the *agent*), and pays the policy a style reward for
transitions it takes for the expert's.

Generic: an observation of a transition is any vector (a task computes it, e.g. two frames of a character's
pose); the expert's come from a sampler ``expert(n, rng) -> (n, dim)``. As DeepMimic's released AMP
(``learning/amp_agent.py``; ``docs/amp.md`` in the shared material, section 2):

- a least-squares discriminator: logits d, targets +1 for the expert and -1 for the agent, loss
  ``0.5 [mean 0.5 (d_E - 1)^2 + mean 0.5 (d_A + 1)^2]``;
- a gradient penalty ``w_gp 0.5 mean |dD/dx_E|^2`` on the normalised expert inputs (w_gp = 10), a logit
  regularisation ``0.05 0.5 |W_out|^2`` and a weight decay ``5e-4 0.5 sum |W|^2`` over every weight matrix;
- inputs normalised by running statistics of both sides (std floor 0.02, frozen after 1e6 samples, no clip);
- each iteration: the agent's transitions join a replay buffer (random slots overwritten once it is full), then
  ``ceil(2 N / 256)`` steps, each on 256 expert transitions drawn fresh and 256 drawn from the buffer, then the
  rewards of the iteration's transitions from the updated discriminator;
- style reward ``r_S = max(0, 1 - 0.25 (d - 1)^2)``, mixed as ``(1 - lerp) scale r_S + lerp r_task``
  (scale 2, lerp 0.5 for task scenes: ``r_S + 0.5 r_task``; lerp 0 for imitation alone: ``2 r_S``).

One difference, kept on purpose: Adam (lr 1e-4 by default) instead of the release's SGD with momentum at lr 1e-5,
which was tuned for 100-300M samples; our budgets are a tenth of that.

The discriminator's maths runs with subnormal floats flushed to zero (:func:`flushed_subnormals`): the weight
decay shrinks the weights of units that no longer fire towards zero, through the subnormal range, where the CPU's
arithmetic is tens of times slower (heading-a2 in ``benchmarks/deepmimic/NOTES.md``: an update went from 0.4 s to
2.8 s after 4M samples).
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from .. import distributed as D
from ..policies.normalizer import RunningNormalizer
from ..tasks import TrainingExtension

ExpertSampler = Callable[[int, np.random.Generator], np.ndarray]


@contextmanager
def flushed_subnormals():
    """Subnormal floats read and written as zero inside (``torch.set_flush_denormal``), restored to torch's
    default (kept) after."""
    supported = torch.set_flush_denormal(True)
    try:
        yield supported
    finally:
        if supported:
            torch.set_flush_denormal(False)


@dataclass(frozen=True)
class AMPSettings:
    """The discriminator's settings (defaults: DeepMimic's ``ct_agent_humanoid_amp*.txt``, but the optimiser)."""

    hidden: tuple[int, ...] = (1024, 512)
    lr: float = 1e-4
    grad_penalty: float = 10.0
    logit_reg: float = 0.05
    weight_decay: float = 5e-4
    batch_size: int = 256
    buffer_size: int = 100_000
    std_floor: float = 0.02
    norm_samples: float = 1e6
    reward_scale: float = 2.0
    task_lerp: float = 0.0

    def __post_init__(self):
        for k in ("lr", "batch_size", "buffer_size", "reward_scale"):
            if not getattr(self, k) > 0:
                raise ValueError(f"AMP: {k} must be > 0, got {getattr(self, k)!r}")
        for k in ("grad_penalty", "logit_reg", "weight_decay"):
            if not getattr(self, k) >= 0:
                raise ValueError(f"AMP: {k} must be >= 0, got {getattr(self, k)!r}")
        if not 0 <= self.task_lerp <= 1:
            raise ValueError(f"AMP: task_lerp must be in [0, 1], got {self.task_lerp!r}")
        if not self.hidden or any(int(h) < 1 for h in self.hidden):
            raise ValueError(f"AMP: hidden sizes must be >= 1, got {self.hidden!r}")


def style_reward(d: np.ndarray) -> np.ndarray:
    """The style reward of discriminator logits: ``max(0, 1 - 0.25 (d - 1)^2)`` (1 at d = 1, 0 at d <= -1)."""
    d = np.asarray(d, dtype=np.float64)
    return np.maximum(0.0, 1.0 - 0.25 * (d - 1.0) ** 2)


class ReplayBuffer:
    """The agent's transitions: filled in order, then each new row overwrites a random slot (as DeepMimic's
    ``ReplayBufferRandStorage``), so old and new transitions mix."""

    def __init__(self, capacity: int, dim: int):
        self.data = np.zeros((int(capacity), int(dim)), dtype=np.float32)
        self.size = 0

    def add(self, rows: np.ndarray, rng: np.random.Generator) -> None:
        rows = np.asarray(rows, dtype=np.float32).reshape(-1, self.data.shape[1])
        cap = len(self.data)
        fill = min(cap - self.size, len(rows))
        self.data[self.size:self.size + fill] = rows[:fill]
        self.size += fill
        rest = rows[fill:]
        if len(rest):
            self.data[rng.integers(0, cap, size=len(rest))] = rest

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if self.size == 0:
            raise RuntimeError("AMP: the agent's replay buffer is empty")
        return self.data[rng.integers(0, self.size, size=n)]

    def state_dict(self) -> dict[str, Any]:
        return {"data": torch.from_numpy(self.data[:self.size].copy()), "capacity": len(self.data)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        rows = state["data"].numpy()
        if int(state["capacity"]) != len(self.data) or rows.shape[1:] != self.data.shape[1:]:
            raise ValueError(f"AMP: the checkpoint's replay buffer holds {int(state['capacity'])} x "
                             f"{rows.shape[1]} values, this run's {len(self.data)} x {self.data.shape[1]}")
        self.data[:len(rows)] = rows
        self.size = len(rows)


def discriminator_net(dim: int, hidden: tuple[int, ...]) -> nn.Sequential:
    """ReLU layers and a linear logit whose weights start uniform in [-1, 1] (DeepMimic's ``fc_2layers``)."""
    layers: list[nn.Module] = []
    last = dim
    for h in hidden:
        layers += [nn.Linear(last, int(h)), nn.ReLU()]
        last = int(h)
    out = nn.Linear(last, 1)
    nn.init.uniform_(out.weight, -1.0, 1.0)
    nn.init.zeros_(out.bias)
    return nn.Sequential(*layers, out)


class AMP:
    """The discriminator, its normaliser, the agent's replay buffer and their generator: :meth:`update` once per
    iteration with the iteration's agent transitions, then :meth:`reward` of them."""

    def __init__(self, dim: int, expert: ExpertSampler, settings: AMPSettings | None = None, seed: int = 0,
                 stream: int = 0):
        """``seed``: the discriminator's initial weights (alike on every rank) and, with ``stream`` (a rank), the
        generator of its samples."""
        self.dim, self.expert = int(dim), expert
        self.settings = s = settings or AMPSettings()
        with torch.random.fork_rng(devices=[]):  # its own initial weights, the global generator untouched
            torch.manual_seed(int(seed))
            self.net = discriminator_net(self.dim, s.hidden)
        self.norm = RunningNormalizer((self.dim,), clip=None, min_std=s.std_floor, max_count=s.norm_samples)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=s.lr)
        self.buffer = ReplayBuffer(s.buffer_size, self.dim)
        self.rng = np.random.default_rng((int(seed), int(stream)))

    # ------------------------------------------------------------------ maths
    def logits(self, obs: np.ndarray | torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(obs, dtype=torch.float32)
        return self.net(self.norm(x)).squeeze(-1)

    def loss(self, expert: torch.Tensor, agent: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """The discriminator's loss on raw (unnormalised) expert and agent observations, and its parts."""
        s = self.settings
        xe = self.norm(expert).requires_grad_(True)
        de = self.net(xe).squeeze(-1)
        da = self.net(self.norm(agent)).squeeze(-1)
        lsq = 0.5 * (0.5 * (de - 1.0).pow(2).mean() + 0.5 * (da + 1.0).pow(2).mean())
        grad, = torch.autograd.grad(de.sum(), xe, create_graph=True)
        gp = grad.pow(2).sum(dim=-1).mean()
        weights = [m.weight for m in self.net if isinstance(m, nn.Linear)]
        logit_reg = 0.5 * weights[-1].pow(2).sum()
        decay = 0.5 * sum(w.pow(2).sum() for w in weights)
        total = lsq + s.grad_penalty * 0.5 * gp + s.logit_reg * logit_reg + s.weight_decay * decay
        de, da = de.detach(), da.detach()
        parts = {"AMP/DiscLoss": float(lsq.detach()), "AMP/GradPenalty": float(gp.detach()),
                 "AMP/AccExpert": float((de > 0).float().mean()), "AMP/AccAgent": float((da < 0).float().mean()),
                 "AMP/LogitExpert": float(de.mean()), "AMP/LogitAgent": float(da.mean())}
        return total, parts

    def update(self, agent_obs: np.ndarray) -> dict[str, float]:
        """Train on this iteration's agent transitions (N, dim): they join the buffer and the normaliser's
        statistics (with as many fresh expert ones), then ``ceil(2 N / batch)`` steps. Returns mean metrics."""
        with flushed_subnormals():
            return self._update(agent_obs)

    def _update(self, agent_obs: np.ndarray) -> dict[str, float]:
        s = self.settings
        agent_obs = np.asarray(agent_obs, dtype=np.float32).reshape(-1, self.dim)
        n = len(agent_obs)
        self.buffer.add(agent_obs, self.rng)
        fresh = np.asarray(self.expert(n, self.rng), dtype=np.float32)
        self.norm.update(torch.from_numpy(np.concatenate([agent_obs, fresh])))
        steps = max(1, math.ceil(2 * n / s.batch_size))
        sums: dict[str, float] = {}
        for _ in range(steps):
            xe = torch.from_numpy(np.asarray(self.expert(s.batch_size, self.rng), dtype=np.float32))
            xa = torch.from_numpy(self.buffer.sample(s.batch_size, self.rng))
            total, parts = self.loss(xe, xa)
            self.opt.zero_grad(set_to_none=True)
            total.backward()
            D.average_gradients(self.net.parameters())  # under torchrun: one discriminator over every rank's data
            self.opt.step()
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
        return {k: v / steps for k, v in sums.items()}

    @torch.no_grad()
    def style(self, obs: np.ndarray) -> np.ndarray:
        """Style rewards r_S (N,) of transitions."""
        with flushed_subnormals():
            return style_reward(self.logits(obs).numpy())

    def reward(self, obs: np.ndarray, task_reward: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the reward that trains the policy, r_S) of transitions and their task rewards."""
        s = self.settings
        r_s = self.style(np.asarray(obs).reshape(-1, self.dim)).reshape(np.shape(task_reward))
        return (1.0 - s.task_lerp) * s.reward_scale * r_s + s.task_lerp * np.asarray(task_reward), r_s

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {**self.weights(), "opt": self.opt.state_dict(), "buffer": self.buffer.state_dict(),
                "rng": self.rng.bit_generator.state}

    def weights(self) -> dict[str, Any]:
        """The discriminator and its normaliser (a warm start's; no optimiser, buffer or generator)."""
        return {"settings": asdict(self.settings), "dim": self.dim, "net": self.net.state_dict(),
                "norm": self.norm.state_dict()}

    def load_weights(self, weights: dict[str, Any]) -> None:
        self._check_dim(weights)
        try:
            self.net.load_state_dict(weights["net"])
        except RuntimeError:
            raise ValueError(f"AMP: the warm start's discriminator has hidden sizes "
                             f"{tuple(weights['settings']['hidden'])}, this run's {self.settings.hidden} "
                             f"(--amp_hidden)") from None
        self.norm.load_state_dict(weights["norm"])

    def _check_dim(self, state: dict[str, Any]) -> None:
        if int(state["dim"]) != self.dim:
            raise ValueError(f"AMP: the checkpoint's discriminator observes {int(state['dim'])} values, this "
                             f"task's {self.dim}")

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._check_dim(state)
        self.net.load_state_dict(state["net"])
        self.norm.load_state_dict(state["norm"])
        self.opt.load_state_dict(state["opt"])
        self.buffer.load_state_dict(state["buffer"])
        self.rng.bit_generator.state = state["rng"]


class AMPReward(TrainingExtension):
    """Adversarial motion priors in training (a :class:`~.tasks.TrainingExtension`): each rollout's transition
    observations (the env's ``info["amp_obs"]``, kept per step by the collector: :attr:`info_keys`) train the
    discriminator (first, as the release: the current batch included), then its style reward replaces the
    env's reward or is mixed with it (the env's reward is then the task's: :meth:`AMP.reward`)."""

    key = "amp"
    info_keys = ("amp_obs",)

    def __init__(self, amp: AMP):
        self.amp = amp
        self._scalars: dict[str, float] = {}

    def rewards(self, rollout, rewards):
        obs = rollout.extras["amp_obs"]
        steps, n = rewards.shape
        flat = obs.reshape(steps * n, -1)
        self._scalars = self.amp.update(flat)
        mixed, r_s = self.amp.reward(flat, rewards.reshape(-1))
        self._scalars.update({"AMP/StyleReward": float(r_s.mean()), "AMP/TaskReward": float(rewards.mean()),
                              "AMP/Reward": float(mixed.mean())})
        return mixed.reshape(steps, n)

    def update(self, rollout, batch):
        return dict(self._scalars)

    def state_dict(self):
        return self.amp.state_dict()

    def load_state_dict(self, state):
        if not state:
            raise ValueError("AMP: the checkpoint holds no discriminator (it was not trained with --amp)")
        self.amp.load_state_dict(state)

    def weights(self):
        return self.amp.weights()

    def load_weights(self, weights):
        self.amp.load_weights(weights)
