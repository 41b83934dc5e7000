"""gSDE (--use_sde): the state-dependent Gaussian, the exploration matrices held for sde_sample_freq steps, the
noise's spread, the TRPO step on it, and a training's checkpoint."""
from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from trpo_mimic.algos.trpo import TRPO, kl_scale, mean_kl
from trpo_mimic.config import Config
from trpo_mimic.policies.agent import Agent
from trpo_mimic.policies.networks import SDE_EPSILON, Actor, ExplorationNoise

OBS = gym.spaces.Box(-np.inf, np.inf, (3,), dtype=np.float32)
ACT = gym.spaces.Box(-2.0, 2.0, (2,), dtype=np.float32)


def _actor() -> Actor:
    torch.manual_seed(0)
    actor = Actor(OBS, ACT, (4, 4), sde=True)
    with torch.no_grad():
        actor.log_std.copy_(torch.tensor([[0.0, -1.0], [0.5, 0.0], [-0.5, 0.2], [0.1, -0.3]]))
    return actor


def test_the_distribution_is_the_state_dependent_gaussian():
    """log p(a|s) = sum_j log N(a_j; mean_j(s), sum_i h_i(s)^2 sigma_ij^2 + eps), written out by hand."""
    actor = _actor()
    assert tuple(actor.log_std.shape) == (4, 2) and kl_scale(actor) == 2
    x = torch.tensor([[0.3, -1.0, 2.0], [0.0, 0.5, -0.2]])
    a = torch.tensor([[0.1, -0.4], [1.5, 0.0]])
    with torch.no_grad():
        h = actor.body[:-1](x)
        mean = actor.body[-1](h)
        sigma2 = torch.exp(2 * actor.log_std)
    logp = torch.zeros(2)
    for n in range(2):
        for j in range(2):
            var = sum(float(h[n, i]) ** 2 * float(sigma2[i, j]) for i in range(4)) + SDE_EPSILON
            logp[n] += -0.5 * (float(a[n, j] - mean[n, j]) ** 2 / var + math.log(2 * math.pi * var))
    assert torch.allclose(actor.distribution(x).log_prob(a), logp, atol=1e-5)
    assert torch.allclose(actor(x), mean)  # the deterministic action is the mean


def test_the_matrices_are_held_for_sde_sample_freq_steps():
    actor = _actor()
    h = torch.tensor([[0.5, -0.2, 0.9, 0.1], [0.1, 0.3, -0.7, 0.4]])
    noise = ExplorationNoise(actor, every=3)
    draws = [noise(h) for _ in range(7)]
    for k in (1, 2, 4, 5):  # calls 0-2 share one set of matrices, 3-5 the next, 6 a third
        assert torch.equal(draws[k], draws[k - 1])
    assert not torch.equal(draws[3], draws[2]) and not torch.equal(draws[6], draws[5])
    assert not torch.equal(draws[0][0], draws[0][1])  # one matrix per environment
    held = ExplorationNoise(actor, every=-1)
    first = held(h)
    assert all(torch.equal(held(h), first) for _ in range(5))
    assert held(h[:1]).shape == (1, 2)  # another batch size: new matrices


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_a_rollouts_actions_follow_the_held_noise(backend):
    """The rollout's inference (either backend) keeps one set of matrices for sde_sample_freq steps: the same
    observation gives the same action within them, another after; a new rollout draws new ones."""
    torch.manual_seed(1)
    agent = Agent(OBS, ACT, (8, 8), sde=True, sde_sample_freq=2, normalize_obs=False, backend=backend)
    obs = np.array([[0.2, -0.1, 0.4], [1.0, 0.0, -1.0]], dtype=np.float32)
    with torch.inference_mode():  # as the collector runs it
        infer = agent.inference()
        a = [infer.act(obs)[1] for _ in range(4)]
        again = agent.inference().act(obs)[1]
    assert np.array_equal(a[0], a[1]) and np.array_equal(a[2], a[3]) and not np.array_equal(a[1], a[2])
    assert not np.array_equal(again, a[0])


def test_the_noise_has_the_distributions_spread():
    """Over many matrices the noise h E has variance sum_i h_i^2 sigma_ij^2 per action dimension."""
    actor = _actor()
    torch.manual_seed(2)
    h = torch.tensor([[0.5, -0.2, 0.9, 0.1]]).expand(40000, 4)
    samples = ExplorationNoise(actor)(h)
    expected = (h[:1] ** 2) @ torch.exp(2 * actor.log_std.detach())
    assert torch.allclose(samples.var(dim=0), expected[0], rtol=0.03)
    assert torch.allclose(samples.mean(dim=0), torch.zeros(2), atol=0.03)


def test_the_trpo_step_on_a_gsde_policy_keeps_its_bound():
    """The written-out Fisher product assumes a state-independent spread: a gSDE actor takes autograd's, and
    its step stays within max_kl, with its log-std matrix moved."""
    torch.manual_seed(3)
    agent = Agent(OBS, ACT, (16, 16), sde=True, normalize_obs=False)
    algo = TRPO.from_config(Config(env_id="Pendulum-v1", max_kl=0.01, vf_epochs=1), agent)
    assert algo.fisher == "autograd"
    from trpo_mimic.algos.base import PolicyBatch
    obs = torch.randn(512, 3)
    with torch.no_grad():
        acts = agent.actor.distribution(obs).sample()
        old = agent.actor.distribution(obs)
    adv = acts[:, 0] * obs[:, 0] + 0.3 * torch.randn(512)
    before = agent.actor.log_std.detach().clone()
    stats = algo.update(PolicyBatch(obs, acts, adv, torch.zeros(512)))
    with torch.no_grad():
        kl = mean_kl(old, agent.actor.distribution(obs)).item()
    assert stats["TRPO/line_search_accepted"] == 1.0 and 0 < kl <= 0.01 * (1 + 1e-6)
    assert not torch.equal(agent.actor.log_std, before)


def test_a_gsde_training_saves_and_loads_its_policy(tmp_path):
    from trpo_mimic.checkpoint import load_agent
    from trpo_mimic.train import Trainer
    cfg = Config(env_id="Pendulum-v1", num_timesteps=512, num_envs=2, steps_per_env=128, vf_epochs=1, use_sde=True,
                 sde_sample_freq=4, eval_episodes=0, checkpoint_dir=str(tmp_path), run_name="sde", progress=False)
    Trainer(cfg).run()
    agent, saved, _ = load_agent(str(tmp_path / "sde"), "cpu")
    assert saved.use_sde and saved.sde_sample_freq == 4
    assert agent.actor.sde and tuple(agent.actor.log_std.shape) == (64, 1)
    with pytest.raises(ValueError, match="gSDE"):
        Actor(OBS, gym.spaces.Discrete(3), (8, 8), sde=True)
