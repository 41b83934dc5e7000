"""Proximal Policy Optimisation (Schulman et al., 2017): the clipped-surrogate alternative to TRPO.

One update, read top-down: log-probabilities of the batch under the collecting policy ->
epochs of shuffled minibatches, each: per-minibatch advantage normalisation, clipped surrogate,
value loss (optionally clipped around the collection-time values), entropy bonus -> one
gradient step of a single optimiser over actor and critic, the gradient norm over both
clipped to ``max_grad_norm`` -> stop early once the minibatch's approximate KL
(the ``(r - 1) - log r`` estimator, measured before its step) exceeds ``target_kl``.

Unlike TRPO (``trpo.update_policy`` + ``trpo.update_critic``) the actor and the critic are
updated together, by one optimiser (see :func:`make_ppo_optimizer`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from .. import distributed as D
from ..policies.networks import Actor, Critic
from ..rollout.frames import update_chunk
from .base import PolicyBatch
from .trpo import normalize_advantages


@dataclass
class PPOSettings:
    clip_range: float = 0.2
    clip_range_vf: float | None = None
    epochs: int = 10
    minibatch_size: int = 64
    target_kl: float | None = 0.015
    entcoeff: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    lr: float = 3e-4  # of the one Adam over actor and critic that `PPO` builds

    def __post_init__(self) -> None:
        if not self.clip_range > 0:
            raise ValueError(f"clip_range must be positive, got {self.clip_range}")
        if self.clip_range_vf is not None and self.clip_range_vf < 0:
            raise ValueError(f"clip_range_vf must be non-negative or None, got {self.clip_range_vf}")
        if self.epochs <= 0 or self.minibatch_size <= 0:
            raise ValueError(f"epochs and minibatch_size must be positive, got {self.epochs}, {self.minibatch_size}")
        if self.target_kl is not None and not self.target_kl > 0:
            raise ValueError(f"target_kl must be positive or None, got {self.target_kl}")
        if not self.max_grad_norm > 0:
            raise ValueError(f"max_grad_norm must be positive, got {self.max_grad_norm}")


def make_ppo_optimizer(agent: nn.Module, lr: float) -> torch.optim.Adam:
    """One Adam over the actor's and the critic's parameters (eps 1e-5, as usual for PPO)."""
    params = list(agent.actor.parameters()) + list(agent.critic.parameters())
    return torch.optim.Adam(params, lr=lr, eps=1e-5)


def explained_variance(pred: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray) -> float:
    """1 - Var[target - pred] / Var[target] (population variances); nan when Var[target] is 0."""
    p = torch.as_tensor(pred, dtype=torch.float64).reshape(-1)
    t = torch.as_tensor(target, dtype=torch.float64).reshape(-1)
    var_t = float(t.var(unbiased=False))
    if var_t == 0.0:
        return float("nan")
    return 1.0 - float((t - p).var(unbiased=False)) / var_t


def approx_kl_from_log_ratio(log_ratio: torch.Tensor) -> torch.Tensor:
    """Mean of (r - 1) - log r with r = pi_new / pi_old: an unbiased, non-negative estimate of KL(old || new)."""
    return (torch.expm1(log_ratio) - log_ratio).mean()


def ppo_losses(actor: Actor, critic: Critic, obs: torch.Tensor, actions: torch.Tensor, old_logp: torch.Tensor,
               advantages: torch.Tensor, returns: torch.Tensor, old_values: torch.Tensor,
               settings: PPOSettings) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The total loss of one minibatch (to be minimised) and its parts (detached).

    ``advantages`` are used as given (normalise them first). The value loss is the mean squared
    error to ``returns``; with ``clip_range_vf`` the element-wise larger of the unclipped error and
    the error of the prediction clipped to ``old_values +- clip_range_vf`` (as in PPO2).
    """
    dist = actor.distribution(obs)
    log_ratio = dist.log_prob(actions) - old_logp
    ratio = torch.exp(log_ratio)
    eps = settings.clip_range
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - eps, 1.0 + eps) * advantages
    policy_loss = -torch.min(unclipped, clipped).mean()

    values = critic(obs)
    err = (values - returns).pow(2)
    if settings.clip_range_vf is not None:
        c = settings.clip_range_vf
        v_clipped = old_values + torch.clamp(values - old_values, -c, c)
        err = torch.max(err, (v_clipped - returns).pow(2))
    value_loss = err.mean()

    entropy = dist.entropy().mean()
    loss = policy_loss + settings.vf_coef * value_loss - settings.entcoeff * entropy
    with torch.no_grad():
        info = {
            "policy_loss": policy_loss.detach(),
            "value_loss": value_loss.detach(),
            "entropy": entropy.detach(),
            "approx_kl": approx_kl_from_log_ratio(log_ratio.detach()),
            "clip_fraction": ((ratio - 1.0).abs() > eps).float().mean(),
            "ratio_mean": ratio.mean(),
            "ratio_max_dev": (ratio - 1.0).abs().max(),
        }
    return loss, info


def batch_targets(batch: PolicyBatch, old_values: torch.Tensor | np.ndarray
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(returns, advantages, old values) as float tensors on the observations' device, checked to match them."""
    dev, n = batch.obs.device, batch.obs.shape[0]
    returns = torch.as_tensor(batch.returns, device=dev).float()
    advantages = torch.as_tensor(batch.advantages, device=dev).float()
    old_values = torch.as_tensor(old_values, device=dev).float().reshape(-1)
    if old_values.shape[0] != n or returns.shape[0] != n or advantages.shape[0] != n:
        raise ValueError(f"batch sizes differ: obs {n}, advantages {advantages.shape[0]}, "
                         f"returns {returns.shape[0]}, old_values {old_values.shape[0]}")
    return returns, advantages, old_values


def after_update(actor: Actor, obs: Any, actions: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor,
                 chunk: int) -> tuple[float, float, float]:
    """On the whole batch after the epochs: (approximate KL, surrogate improvement with batch-normalised
    advantages, entropy), each the mean over ranks."""
    with torch.no_grad():
        dist = actor.batch_distribution(obs, chunk)
        log_ratio = dist.log_prob(actions) - old_logp
        full_kl = D.scalar_mean(float(approx_kl_from_log_ratio(log_ratio)))
        adv_all = normalize_advantages(advantages)
        improvement = D.scalar_mean(float((torch.expm1(log_ratio) * adv_all).mean()))
        entropy_after = D.scalar_mean(float(dist.entropy().mean()))
    return full_kl, improvement, entropy_after


def minibatch_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, params: list, max_grad_norm: float
                   ) -> torch.Tensor | None:
    """One optimiser step on ``loss`` (gradients averaged over ranks, clipped to ``max_grad_norm``); the
    gradient's norm before clipping, or None (no step) where the loss or the gradient is not finite."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    D.average_gradients(params)
    grad_norm = torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    if not (torch.isfinite(D.mean(loss.detach())) and torch.isfinite(grad_norm)):
        optimizer.zero_grad(set_to_none=True)
        return None
    optimizer.step()
    return grad_norm


def update_ppo(actor: Actor, critic: Critic, optimizer: torch.optim.Optimizer, batch: PolicyBatch,
               old_values: torch.Tensor | np.ndarray, settings: PPOSettings,
               generator: torch.Generator | None = None,
               callback: Callable[[dict[str, Any]], None] | None = None) -> dict[str, float]:
    """Epochs of clipped-surrogate minibatch steps on actor and critic together.

    ``batch.obs`` are normalised observations; ``old_values`` the critic's values for them at
    collection time (``roll.values``), used for value clipping and explained variance.
    ``optimizer`` covers both networks (:func:`make_ppo_optimizer`); ``settings.lr`` is not read
    here (the optimiser carries its own). ``callback``, if given, receives each minibatch's
    diagnostics (floats, plus ``epoch`` and ``minibatch``) before its step.

    Returns floats: surrogate (the clipped policy loss, to be minimised, mean over the steps
    taken), value_loss, entropy, approx_kl (full batch, after the update), kl (the same),
    clip_fraction, explained_variance (of ``old_values``), epochs_done (minibatch steps taken
    / minibatches per epoch, so an early stop gives a fraction), improvement (unclipped
    surrogate gain on the whole batch, batch-normalised advantages), grad_norm (mean norm
    before clipping), early_stopped, minibatches_skipped (non-finite loss or gradient).
    """
    params = [p for p in list(actor.parameters()) + list(critic.parameters()) if p.requires_grad]
    obs, actions = batch.obs, batch.actions
    dev = obs.device
    n = obs.shape[0]
    returns, advantages, old_values = batch_targets(batch, old_values)
    chunk = update_chunk(obs)  # stored frame stacks: rebuilt a chunk at a time
    with torch.no_grad():
        old_logp = actor.batch_distribution(obs, chunk).log_prob(actions)

    mb = min(settings.minibatch_size, n)
    per_epoch = math.ceil(n / mb)
    sums = {"policy_loss": 0.0, "value_loss": 0.0, "entropy": 0.0, "clip_fraction": 0.0, "grad_norm": 0.0}
    steps = skipped = 0
    stopped = False
    for epoch in range(settings.epochs):
        perm = torch.randperm(n, generator=generator).to(dev)
        for k, start in enumerate(range(0, n, mb)):
            idx = perm[start:start + mb]
            adv = advantages[idx]
            if adv.numel() > 1:
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)
            loss, info = ppo_losses(actor, critic, obs[idx], actions[idx], old_logp[idx], adv, returns[idx],
                                    old_values[idx], settings)
            kl = D.scalar_mean(float(info["approx_kl"]))
            if callback is not None:
                callback({"epoch": epoch, "minibatch": k, **{key: float(v) for key, v in info.items()},
                          "approx_kl": kl})
            if settings.target_kl is not None and kl > settings.target_kl:
                stopped = True
                break
            grad_norm = minibatch_step(optimizer, loss, params, settings.max_grad_norm)
            if grad_norm is None:
                skipped += 1
                continue
            steps += 1
            for key in ("policy_loss", "value_loss", "entropy", "clip_fraction"):
                sums[key] += float(info[key])
            sums["grad_norm"] += float(grad_norm)
        if stopped:
            break
    optimizer.zero_grad(set_to_none=True)

    full_kl, improvement, entropy_after = after_update(actor, obs, actions, old_logp, advantages, chunk)

    def avg(key: str) -> float:
        return D.scalar_mean(sums[key] / steps) if steps else float("nan")

    return {
        "surrogate": avg("policy_loss"),
        "value_loss": avg("value_loss"),
        "entropy": avg("entropy") if steps else entropy_after,
        "approx_kl": full_kl,
        "kl": full_kl,
        "clip_fraction": avg("clip_fraction"),
        "explained_variance": D.scalar_mean(explained_variance(old_values, returns)),
        "epochs_done": steps / per_epoch,
        "improvement": improvement,
        "grad_norm": avg("grad_norm"),
        "early_stopped": float(stopped),
        "minibatches_skipped": float(skipped),
    }


class PPO:
    """The PPO algorithm on an agent: one Adam (``settings.lr``) over actor and critic, `update_ppo` epochs."""

    name = "PPO"

    def __init__(self, agent: Any, settings: PPOSettings) -> None:
        self.agent, self.settings = agent, settings
        self.optimizer = make_ppo_optimizer(agent, settings.lr)

    @classmethod
    def from_config(cls, cfg: Any, agent: Any) -> "PPO":
        return cls(agent, PPOSettings(cfg.clip_range, cfg.clip_range_vf, cfg.ppo_epochs, cfg.minibatch_size,
                                      cfg.target_kl, cfg.policy_entcoeff, cfg.vf_coef, cfg.max_grad_norm, cfg.lr))

    def update(self, batch: PolicyBatch) -> dict[str, float]:
        stats = update_ppo(self.agent.actor, self.agent.critic, self.optimizer, batch, batch.values, self.settings)
        stats["clip_loss"] = stats.pop("surrogate")  # the clipped surrogate's loss, minimised
        del stats["kl"]  # the same number as approx_kl
        return {f"PPO/{k}": float(v) for k, v in stats.items()}

    def summary(self, stats: dict[str, float]) -> str:
        return (f"clip loss {stats['PPO/clip_loss']:.4f} | kl {stats['PPO/approx_kl']:.5f} | "
                f"ent {stats['PPO/entropy']:.3f} | vloss {stats['PPO/value_loss']:.4g} | "
                f"clip {stats['PPO/clip_fraction']:.3f} | ev {stats['PPO/explained_variance']:.3f} | "
                f"epochs {stats['PPO/epochs_done']:.1f}")

    def state_dict(self) -> dict[str, Any]:
        return {"critic_optimizer": self.optimizer.state_dict()}  # the key every checkpoint has used

    def load_state_dict(self, payload: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(payload["critic_optimizer"])

    def close(self) -> None:
        pass
