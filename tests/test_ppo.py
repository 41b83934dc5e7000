import copy
import functools
import math

import numpy as np
import pytest
import torch

from trpo_mimic.algos.linalg import flat_params
from trpo_mimic.algos.ppo import (PPOSettings, approx_kl_from_log_ratio, explained_variance, make_ppo_optimizer,
                                  ppo_losses, update_ppo)
from trpo_mimic.algos.trpo import PolicyBatch, normalize_advantages

from rollout_util import real_batch as shared_real_batch


def real_batch(env_id: str = "Pendulum-v1", steps: int = 128, seed: int = 0):
    """A real rollout (as in test_trpo.py), plus the collection-time values: a fresh copy each call."""
    return copy.deepcopy(_real_batch(env_id, steps, seed))


@functools.lru_cache(maxsize=None)
def _real_batch(env_id: str, steps: int, seed: int):
    agent, batch = shared_real_batch(env_id, steps, seed)
    # the rollout's values were computed before the normaliser update; recompute for these obs
    with torch.no_grad():
        old_values = agent.critic(batch.obs)
    return agent, batch, old_values


def clipped_objective(actor, batch, old_logp, adv, clip=0.2) -> float:
    with torch.no_grad():
        ratio = torch.exp(actor.distribution(batch.obs).log_prob(batch.actions) - old_logp)
        return float(torch.min(ratio * adv, torch.clamp(ratio, 1 - clip, 1 + clip) * adv).mean())


def test_first_minibatch_has_ratio_one_and_nothing_clipped():
    agent, batch, old_values = real_batch()
    seen = []
    opt = make_ppo_optimizer(agent, 3e-4)
    stats = update_ppo(agent.actor, agent.critic, opt, batch, old_values,
                       PPOSettings(epochs=2, minibatch_size=64, target_kl=None), callback=seen.append)
    first = seen[0]
    assert (first["epoch"], first["minibatch"]) == (0, 0)
    assert first["clip_fraction"] == 0.0
    assert abs(first["ratio_mean"] - 1.0) < 1e-6 and first["ratio_max_dev"] < 1e-5
    assert first["approx_kl"] < 1e-10
    # later minibatches see a changed policy: the ratios move away from 1
    assert max(s["ratio_max_dev"] for s in seen[1:]) > 1e-4
    assert len(seen) == 2 * math.ceil(batch.obs.shape[0] / 64)
    assert stats["epochs_done"] == 2.0 and stats["early_stopped"] == 0.0
    for key in ("surrogate", "value_loss", "entropy", "approx_kl", "kl", "clip_fraction", "explained_variance",
                "epochs_done"):
        assert isinstance(stats[key], float) and math.isfinite(stats[key]), key


def test_tiny_target_kl_stops_early():
    agent, batch, old_values = real_batch()
    settings = PPOSettings(epochs=10, minibatch_size=64, target_kl=1e-7, lr=1e-3)
    opt = make_ppo_optimizer(agent, settings.lr)
    stats = update_ppo(agent.actor, agent.critic, opt, batch, old_values, settings)
    assert stats["early_stopped"] == 1.0
    assert 0 < stats["epochs_done"] < 1.0 < settings.epochs
    # without a target the same update runs every epoch
    agent2, batch2, old_values2 = real_batch()
    stats2 = update_ppo(agent2.actor, agent2.critic, make_ppo_optimizer(agent2, 1e-3), batch2, old_values2,
                        PPOSettings(epochs=3, minibatch_size=64, target_kl=None, lr=1e-3))
    assert stats2["epochs_done"] == 3.0 and stats2["early_stopped"] == 0.0


def test_update_improves_the_surrogate_on_a_real_rollout():
    agent, batch, old_values = real_batch()
    with torch.no_grad():
        old_logp = agent.actor.distribution(batch.obs).log_prob(batch.actions)
        v_before = (agent.critic(batch.obs) - batch.returns).pow(2).mean().item()
    adv = normalize_advantages(batch.advantages)
    before = clipped_objective(agent.actor, batch, old_logp, adv)
    settings = PPOSettings(epochs=4, minibatch_size=64, target_kl=0.05, lr=1e-3)
    stats = update_ppo(agent.actor, agent.critic, make_ppo_optimizer(agent, settings.lr), batch, old_values,
                       settings, generator=torch.Generator().manual_seed(0))
    after = clipped_objective(agent.actor, batch, old_logp, adv)
    assert after > before + 1e-3
    assert stats["improvement"] > 0
    with torch.no_grad():
        log_ratio = agent.actor.distribution(batch.obs).log_prob(batch.actions) - old_logp
        kl = approx_kl_from_log_ratio(log_ratio).item()
        v_after = (agent.critic(batch.obs) - batch.returns).pow(2).mean().item()
    assert abs(kl - stats["kl"]) < 1e-6 and stats["kl"] == stats["approx_kl"]
    assert 0 < kl < 0.2
    assert v_after < v_before


def test_explained_variance_matches_hand_computation():
    # returns 1..4, values [1, 2, 2, 5]: residuals [0, 0, 1, -1], Var 0.5; Var(returns) 1.25 -> 1 - 0.4 = 0.6
    assert explained_variance(np.array([1.0, 2.0, 2.0, 5.0]), np.array([1.0, 2.0, 3.0, 4.0])) == pytest.approx(0.6)
    assert math.isnan(explained_variance(np.ones(3), np.full(3, 2.0)))
    assert explained_variance(np.arange(5.0), np.arange(5.0)) == 1.0
    # and as reported by update_ppo, from the collection-time values
    agent, batch, _ = real_batch(steps=4)
    small = PolicyBatch(batch.obs[:4], batch.actions[:4], batch.advantages[:4], torch.tensor([1.0, 2.0, 3.0, 4.0]))
    stats = update_ppo(agent.actor, agent.critic, make_ppo_optimizer(agent, 1e-4), small,
                       torch.tensor([1.0, 2.0, 2.0, 5.0]), PPOSettings(epochs=1, target_kl=None))
    assert stats["explained_variance"] == pytest.approx(0.6, abs=1e-12)


def test_gradient_norm_clipping_bounds_the_update():
    # plain SGD with lr 1 on one full-batch minibatch: the parameter change is the clipped gradient
    def change(max_grad_norm: float) -> float:
        agent, batch, old_values = real_batch()
        params = list(agent.actor.parameters()) + list(agent.critic.parameters())
        before = flat_params(params)
        opt = torch.optim.SGD(params, lr=1.0)
        n = batch.obs.shape[0]
        stats = update_ppo(agent.actor, agent.critic, opt, batch, old_values,
                           PPOSettings(epochs=1, minibatch_size=n, target_kl=None, max_grad_norm=max_grad_norm))
        return float((flat_params(params) - before).norm()), stats["grad_norm"]

    bound = 0.01
    clipped, raw_norm = change(bound)
    assert raw_norm > bound  # the gradient was bigger than the bound ...
    assert clipped <= bound * (1 + 1e-4)  # ... yet the step is not
    assert clipped > 0.5 * bound
    unclipped, _ = change(1e6)
    assert unclipped > 10 * bound
    assert abs(unclipped - raw_norm) < 1e-3 * raw_norm


def test_value_clipping_uses_the_larger_error():
    agent, batch, _ = real_batch(steps=8)
    obs, acts = batch.obs[:6], batch.actions[:6]
    with torch.no_grad():
        logp = agent.actor.distribution(obs).log_prob(acts)
        v = agent.critic(obs)
    returns = v + torch.tensor([1.0, -1.0, 0.05, 2.0, -0.05, 0.0])
    old_values = v + torch.tensor([0.5, 0.5, 0.5, -0.5, -0.5, 0.0])
    adv = torch.zeros(6)
    s = PPOSettings(clip_range_vf=0.1)
    _, info = ppo_losses(agent.actor, agent.critic, obs, acts, logp, adv, returns, old_values, s)
    v_clip = old_values + torch.clamp(v - old_values, -0.1, 0.1)
    expected = torch.max((v - returns) ** 2, (v_clip - returns) ** 2).mean()
    assert float(info["value_loss"]) == pytest.approx(float(expected), rel=1e-6)
    _, plain = ppo_losses(agent.actor, agent.critic, obs, acts, logp, adv, returns, old_values, PPOSettings())
    assert float(plain["value_loss"]) == pytest.approx(float(((v - returns) ** 2).mean()), rel=1e-6)
    assert float(info["value_loss"]) > float(plain["value_loss"])


def test_settings_are_validated():
    with pytest.raises(ValueError):
        PPOSettings(clip_range=0)
    with pytest.raises(ValueError):
        PPOSettings(target_kl=0)
    with pytest.raises(ValueError):
        PPOSettings(minibatch_size=0)
