import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch.distributions import kl_divergence

from trpo_mimic.policies import Actor, Critic, expand_hidden_sizes
from trpo_mimic.policies.agent import Agent


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_parameter_counts_match_pytorch_trpo_port():
    obs = gym.spaces.Box(-np.inf, np.inf, (56,), np.float32)
    act = gym.spaces.Box(-1, 1, (28,), np.float32)
    assert expand_hidden_sizes([100]) == (100, 100)
    assert n_params(Actor(obs, act, [100])) == 18_656
    assert n_params(Critic(obs, [100])) == 15_901


def test_actor_and_critic_share_no_parameters():
    obs = gym.spaces.Box(-1, 1, (4,), np.float32)
    agent = Agent(obs, gym.spaces.Discrete(2))
    a = {id(p) for p in agent.actor.parameters()}
    c = {id(p) for p in agent.critic.parameters()}
    assert a and c and not (a & c)


def test_categorical_kl_and_entropy_by_hand():
    obs = gym.spaces.Box(-1, 1, (2,), np.float32)
    actor = Actor(obs, gym.spaces.Discrete(3), [8])
    p = torch.tensor([[0.5, 0.25, 0.25]])
    q = torch.tensor([[0.25, 0.25, 0.5]])
    dp, dq = actor.distribution_from(p.log()), actor.distribution_from(q.log())
    expected_h = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))
    expected_kl = 0.5 * math.log(2) + 0.25 * math.log(1) + 0.25 * math.log(0.5)
    assert abs(dp.entropy().item() - expected_h) < 1e-6
    assert abs(kl_divergence(dp, dq).item() - expected_kl) < 1e-6


def test_gaussian_entropy_and_kl_by_hand():
    obs = gym.spaces.Box(-1, 1, (2,), np.float32)
    actor = Actor(obs, gym.spaces.Box(-1, 1, (2,), np.float32), [8], init_log_std=math.log(0.5))
    d0 = actor.distribution_from(torch.zeros(1, 2))
    d1 = actor.distribution_from(torch.ones(1, 2), torch.zeros(2))
    h = 2 * (0.5 * math.log(2 * math.pi * math.e) + math.log(0.5))
    assert abs(d0.entropy().item() - h) < 1e-5
    # KL(N(0, .5^2) || N(1, 1)) per dim = log(1/.5) + (.25 + 1) / 2 - .5
    kl = 2 * (math.log(2) + 1.25 / 2 - 0.5)
    assert abs(kl_divergence(d0, d1).item() - kl) < 1e-5
