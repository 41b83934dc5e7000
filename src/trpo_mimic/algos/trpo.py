"""Trust Region Policy Optimisation (Schulman et al., 2015), one update read top-down.

surrogate and KL -> policy gradient g -> conjugate gradient on Fisher-vector products
for s = F^-1 g -> maximum step sqrt(2 max_kl / s'Fs) -> backtracking line search that
accepts only a finite, improving step with KL <= max_kl (times ls_kl_tolerance), otherwise restores the old
parameters exactly -> critic fitted by Adam on minibatches.

The trust region covers exactly `actor.parameters()`: the critic is a separate module.
"""
from __future__ import annotations

import copy
import math
import os
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn
from torch.distributions import Distribution, kl_divergence

from .. import distributed as D
from ..policies import mlp_kernels as K
from ..policies.networks import Actor, Critic
from ..rollout.frames import update_chunk
from .base import PolicyBatch
from .linalg import conjugate_gradient, fisher_vector_product_fn, flat_grad, flat_params, set_flat_params


@dataclass
class TRPOSettings:
    max_kl: float = 0.01
    entcoeff: float = 0.0
    cg_iters: int = 10
    cg_damping: float = 0.1
    ls_max_steps: int = 10
    ls_backtrack: float = 0.5
    vf_epochs: int = 10
    vf_batch_size: int = 128
    fvp_subsample: float = 1.0
    grad_chunk: int = 0  # > 0: the policy gradient is accumulated over chunks of this many samples (memory)
    vf_lr: float = 1e-3  # the critic's Adam
    critic_thread: bool = False  # fit the critic in a second thread beside the policy step (see TRPO)
    ls_kl_tolerance: float = 1.0  # the line search accepts a measured KL up to this many times max_kl


def kl_scale(actor: Actor) -> int:
    """The action's dimensions over which a per-dimension KL is averaged: a Gaussian's size, 1 for a
    categorical (one distribution per sample)."""
    return 1 if actor.discrete else int(actor.action_dim)


def normalize_advantages(adv: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit (unbiased) std over the whole batch, across ranks when distributed."""
    if not D.active():
        return (adv - adv.mean()) / (adv.std() + 1e-8)
    a = adv.double()
    n, s1, s2 = D.sum_(torch.stack([torch.tensor(float(a.numel()), dtype=torch.float64, device=a.device),
                                   a.sum(), (a * a).sum()]))
    m = s1 / n
    std = torch.sqrt(torch.clamp((s2 - n * m * m) / (n - 1), min=0.0))
    return ((a - m) / (std + 1e-8)).to(adv.dtype)


def surrogate_loss(actor: Actor, batch: PolicyBatch, old_logp: torch.Tensor, adv: torch.Tensor,
                   entcoeff: float, chunk: int = 0) -> tuple[torch.Tensor, Distribution]:
    """Importance-weighted advantage plus entropy bonus (to be maximised), and the new distribution.

    chunk > 0 runs the network on chunks of that many samples (see `Actor.batch_distribution`)."""
    dist = actor.batch_distribution(batch.obs, chunk)
    ratio = torch.exp(dist.log_prob(batch.actions) - old_logp)
    surr = (ratio * adv).mean()
    if entcoeff:
        surr = surr + entcoeff * dist.entropy().mean()
    return surr, dist


def mean_kl(old_dist: Distribution, new_dist: Distribution) -> torch.Tensor:
    """Mean KL(old || new) over the batch."""
    return kl_divergence(old_dist, new_dist).mean()


def line_search(actor: Actor, params: list[nn.Parameter], old_flat: torch.Tensor, full_step: torch.Tensor,
                evaluate: "callable", old_surr: float, max_kl: float, max_steps: int,
                backtrack: float) -> tuple[bool, int, float, float]:
    """Backtrack along full_step; accept the first finite step that improves with KL <= max_kl.

    `evaluate()` returns (surrogate, kl) for the actor's current parameters. On failure the
    parameters are restored bit-identically from old_flat. Returns (accepted, steps, surr, kl).
    """
    frac = 1.0
    for i in range(max_steps):
        set_flat_params(params, old_flat + frac * full_step)
        surr, kl = evaluate()
        if (torch.isfinite(surr) and torch.isfinite(kl) and kl <= max_kl and surr > old_surr):
            return True, i + 1, float(surr), float(kl)
        frac *= backtrack
    set_flat_params(params, old_flat)
    return False, max_steps, old_surr, 0.0


def local_fisher_product(actor: Actor, batch: PolicyBatch, cfg: TRPOSettings, fisher: str, params: list,
                         old_dist: Any, new_dist: Any, chunk: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """This rank's Fisher-vector product v -> F v (+ damping), on the batch or (``fvp_subsample`` < 1) a random
    part of it: written out for tanh MLPs, else the double backward of the mean KL (``new_dist``: the batch's
    distribution at the current parameters, if the first pass kept its graph)."""
    fisher_obs = batch.obs
    if cfg.fvp_subsample < 1.0:  # estimate the Fisher matrix on a random part of the batch (cheaper CG)
        n = batch.obs.shape[0]
        idx = torch.randperm(n)[:max(1, int(round(n * cfg.fvp_subsample)))].to(batch.obs.device)
        fisher_obs = batch.obs[idx]
    if fisher == "written_out":
        return K.fisher_vector_product(actor, fisher_obs, cfg.cg_damping)
    if cfg.fvp_subsample < 1.0:  # Hessian of the mean KL by double backward
        with torch.no_grad():
            old_sub = actor.distribution(fisher_obs)
        kl = mean_kl(old_sub, actor.distribution(fisher_obs))
    else:
        kl = mean_kl(old_dist, new_dist if new_dist is not None else actor.batch_distribution(batch.obs, chunk))
    return fisher_vector_product_fn(kl, params, cfg.cg_damping)


def update_policy(actor: Actor, batch: PolicyBatch, cfg: TRPOSettings, fisher: str = "autograd") -> dict[str, float]:
    """One TRPO step on the actor. Returns diagnostics; never leaves non-finite parameters.

    `fisher`: how Fisher-vector products are taken: "autograd" (double backward of the mean KL, any
    actor) or "written_out" (`mlp_kernels.fisher_vector_product`, tanh-MLP actors: a few matrix
    products per CG step, no KL graph)."""
    params = [p for p in actor.parameters() if p.requires_grad]
    adv = normalize_advantages(batch.advantages)
    n = batch.obs.shape[0]
    chunk = update_chunk(batch.obs, cfg.grad_chunk)  # stored frame stacks: rebuilt a chunk at a time

    def first_pass(obs: torch.Tensor, actions: torch.Tensor, adv_part: torch.Tensor):
        """At the old parameters one forward pass gives both the old distribution's outputs and the
        surrogate's gradient: the ratio exp(logp - logp.detach()) is 1 with gradient grad(logp)."""
        out = actor.output(obs)
        dist = actor.distribution_from(out)
        logp = dist.log_prob(actions)
        surr = (torch.exp(logp - logp.detach()) * adv_part).mean()
        if cfg.entcoeff:
            surr = surr + cfg.entcoeff * dist.entropy().mean()
        return surr, out.detach(), logp.detach(), dist

    # Everything below is a batch mean; across ranks, the mean of the ranks' means (equal batches).
    new_dist = None
    if 0 < chunk < n:  # sum of chunk gradients weighted by chunk size: no graph of the whole batch
        g_local = torch.zeros(sum(p.numel() for p in params), device=batch.obs.device)
        surr_local = 0.0
        outs, logps = [], []
        for start in range(0, n, chunk):
            sl = slice(start, start + chunk)
            s_part, out, logp, _ = first_pass(batch.obs[sl], batch.actions[sl], adv[sl])
            w = out.shape[0] / n
            g_local += w * flat_grad(s_part, params)
            surr_local += w * float(s_part.detach())
            outs.append(out)
            logps.append(logp)
        out, old_logp = torch.cat(outs), torch.cat(logps)
        g = D.mean(g_local)
        surr_value = D.scalar_mean(surr_local)
    else:
        surr, out, old_logp, new_dist = first_pass(batch.obs[:], batch.actions, adv)
        keep_kl_graph = cfg.fvp_subsample >= 1.0 and fisher == "autograd"
        g = D.mean(flat_grad(surr, params, retain_graph=keep_kl_graph))
        surr_value = D.scalar_mean(float(surr.detach()))
    old_dist = actor.distribution_from(out, None if actor.discrete else actor.log_std.detach().clone())
    entropy = D.scalar_mean(float(old_dist.entropy().mean()))
    stats = {"surrogate": surr_value, "entropy": entropy, "kl": 0.0, "improvement": 0.0,
             "line_search_steps": 0, "line_search_accepted": 0.0, "update_rejected": 0.0}
    if not torch.isfinite(g).all() or not math.isfinite(surr_value):
        stats["update_rejected"] = 1.0
        return stats

    local_fvp = local_fisher_product(actor, batch, cfg, fisher, params, old_dist, new_dist, chunk)

    def fvp(v: torch.Tensor) -> torch.Tensor:
        return D.mean(local_fvp(v))

    step_dir = conjugate_gradient(fvp, g, cfg.cg_iters)
    shs = torch.dot(step_dir, fvp(step_dir))
    if not torch.isfinite(step_dir).all() or not torch.isfinite(shs) or shs <= 0:
        stats["update_rejected"] = 1.0
        return stats
    full_step = torch.sqrt(2.0 * cfg.max_kl / shs) * step_dir

    def evaluate() -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            s, d = surrogate_loss(actor, batch, old_logp, adv, cfg.entcoeff, chunk)
            return D.mean(s), D.mean(mean_kl(old_dist, d))

    old_flat = flat_params(params)
    accepted, steps, new_surr, new_kl = line_search(actor, params, old_flat, full_step, evaluate, surr_value,
                                                    cfg.max_kl * cfg.ls_kl_tolerance, cfg.ls_max_steps,
                                                    cfg.ls_backtrack)
    stats.update(kl=new_kl, improvement=new_surr - surr_value, line_search_steps=steps,
                 line_search_accepted=float(accepted))
    return stats


def update_critic(critic: Critic, optimizer: torch.optim.Optimizer, obs: torch.Tensor, returns: torch.Tensor,
                  epochs: int, batch_size: int, generator: torch.Generator | None = None,
                  backend: str = "torch") -> dict[str, float]:
    """Fit V(s) to the returns by Adam on shuffled minibatches.

    A minibatch with a non-finite loss is skipped; if the parameters or optimiser state still end up
    non-finite, the whole fit is undone (parameters and Adam state restored). backend "numpy": the same
    maths in numpy (`mlp_kernels.fit_critic_adam`, tanh-MLP critics on the CPU)."""
    if backend == "numpy":
        return K.fit_critic_adam(critic, optimizer, obs, returns, epochs, batch_size, generator)
    params = list(critic.parameters())
    saved_params = [p.detach().clone() for p in params]
    saved_opt = copy.deepcopy(optimizer.state_dict())
    n = obs.shape[0]
    losses = []
    skipped = 0
    for _ in range(epochs):
        perm = torch.randperm(n, generator=generator).to(obs.device)
        for start in range(0, n, batch_size):
            idx = perm[start:start + batch_size]  # obs may be stored frame stacks: index per minibatch
            loss = critic.mse_and_grad(obs[idx], returns[idx])
            loss = D.average_gradients(params, extra=loss.detach(), group=D.critic_group())
            if not torch.isfinite(loss):
                skipped += 1
                continue
            optimizer.step()
            losses.append(loss)
    finite = all(bool(torch.isfinite(p).all()) for p in params)
    if not finite:
        with torch.no_grad():
            for p, s in zip(params, saved_params):
                p.copy_(s)
        optimizer.load_state_dict(saved_opt)
    value_loss = float(torch.stack(losses).mean()) if losses else float("nan")
    return {"value_loss": value_loss, "value_steps_skipped": float(skipped), "value_fit_undone": float(not finite)}


class TRPO:
    """The TRPO algorithm on an agent: the trust-region policy step and the critic's Adam fit.

    With ``settings.critic_thread`` (CPU, tanh-MLP critic, a second core) the critic is fitted in a
    second thread while the policy step runs: they share no state and both release the GIL in their
    matrix maths. The critic's minibatch order comes from its own generator, seeded from the global one
    before either starts, so the result does not depend on how the two interleave."""

    name = "TRPO"

    def __init__(self, agent: Any, settings: TRPOSettings) -> None:
        self.agent, self.settings = agent, settings
        # the fused kernel where torch has one for the device (same maths, faster)
        self.optimizer = torch.optim.Adam(agent.critic.parameters(), lr=settings.vf_lr, fused=True)
        # decided once: the written-out Fisher product for tanh-MLP actors, the critic fit on the agent's backend
        self.fisher = "written_out" if K.actor_kernel_layers(agent.actor) is not None else "autograd"
        self.backend = agent.backend
        self._pool = (ThreadPoolExecutor(1, thread_name_prefix="critic-fit") if settings.critic_thread
                      and agent.device.type == "cpu" and (os.cpu_count() or 1) > 1
                      and K.net_tanh_mlp_layers(agent.critic) is not None else None)

    @classmethod
    def from_config(cls, cfg: Any, agent: Any) -> "TRPO":
        # --kl_per_action_dim: sb3-contrib's KL, the mean over d action dimensions, is the summed KL / d; its
        # Fisher is then F / d, and bound delta with damping c on F / d is bound d delta with damping d c on F
        per = kl_scale(agent.actor) if cfg.kl_per_action_dim else 1
        return cls(agent, TRPOSettings(cfg.max_kl * per, cfg.policy_entcoeff, cfg.cg_iters, cfg.cg_damping * per,
                                       cfg.ls_max_steps, cfg.ls_backtrack, cfg.vf_epochs, cfg.vf_batch_size, cfg.fvp_subsample,
                                       cfg.grad_chunk or (1024 if agent.actor.image else 0), cfg.vf_lr,
                                       cfg.critic_thread, cfg.ls_kl_tolerance))

    @property
    def threaded(self) -> bool:
        return self._pool is not None

    def update(self, batch: PolicyBatch) -> dict[str, float]:
        s, agent = self.settings, self.agent
        gen = torch.Generator().manual_seed(int(torch.randint(0, 2 ** 62, (1,))))
        fit = (agent.critic, self.optimizer, batch.obs, batch.returns, s.vf_epochs, s.vf_batch_size, gen, self.backend)
        if self._pool is not None:
            pending = self._pool.submit(update_critic, *fit)
            try:
                pstats = update_policy(agent.actor, batch, s, self.fisher)
            finally:  # also on Ctrl-C: the critic is whole again before any checkpoint is written
                wait([pending])
            vstats = pending.result()
        else:
            pstats = update_policy(agent.actor, batch, s, self.fisher)
            vstats = update_critic(*fit)
        return {f"TRPO/{k}": float(v) for k, v in {**pstats, **vstats}.items()}

    def summary(self, stats: dict[str, float]) -> str:
        return (f"surr {stats['TRPO/surrogate']:.4f} | kl {stats['TRPO/kl']:.5f} | "
                f"ent {stats['TRPO/entropy']:.3f} | vloss {stats['TRPO/value_loss']:.4g} | "
                f"ls {int(stats['TRPO/line_search_steps'])}{'' if stats['TRPO/line_search_accepted'] else ' (rejected)'}")

    def state_dict(self) -> dict[str, Any]:
        return {"critic_optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, payload: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(payload["critic_optimizer"])

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
