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


def test_critic_handwritten_gradient_equals_autograd():
    torch.manual_seed(0)
    obs_space = gym.spaces.Box(-1, 1, (7,), np.float32)
    critic = Critic(obs_space, [16, 8, 5]).double()
    x, y = torch.randn(33, 7, dtype=torch.float64), torch.randn(33, dtype=torch.float64)
    loss = critic.mse_and_grad(x, y)
    manual = [p.grad.clone() for p in critic.parameters()]
    critic.zero_grad()
    ref = (critic(x) - y).pow(2).mean()
    ref.backward()
    assert abs(loss.item() - ref.item()) < 1e-12
    for a, p in zip(manual, critic.parameters()):
        assert torch.allclose(a, p.grad, atol=1e-12)


@pytest.mark.parametrize("discrete", [False, True])
def test_numpy_rollout_path_equals_the_torch_policy(discrete):
    """The collector's numpy path: same actions (same torch noise), values and clipping as Actor/Critic."""
    import gymnasium as gym
    from trpo_mimic.policies.agent import Agent, NumpyActorCritic
    obs_space = gym.spaces.Box(-np.inf, np.inf, (5,), np.float64)
    act_space = gym.spaces.Discrete(4) if discrete else gym.spaces.Box(-0.5, 0.5, (3,), np.float32)
    torch.manual_seed(0)
    agent = Agent(obs_space, act_space, (32, 16), init_log_std=0.3)
    rng = np.random.default_rng(0)
    agent.obs_normalizer.update(torch.as_tensor(rng.normal(3.0, 2.0, (100, 5))))
    with torch.no_grad():
        for p in agent.parameters():
            p.add_(0.1 * torch.randn_like(p))
    fast = NumpyActorCritic.build(agent)
    assert fast is not None
    obs = rng.normal(3.0, 4.0, (7, 5)) * np.array([1, 1, 1, 1, 100.0])  # the last one hits the clip
    torch.manual_seed(1)
    env_a, a = fast.act(obs)
    v = fast.values(obs)
    torch.manual_seed(1)
    with torch.inference_mode():
        x = agent.obs_tensor(obs)
        want_a = agent.actor.sample(x)
        want_env = agent.to_env_action(want_a)
        want_v = agent.critic(x).numpy()
    np.testing.assert_allclose(v, want_v, rtol=1e-5, atol=1e-5)
    if discrete:
        np.testing.assert_array_equal(a, want_a.numpy())
        np.testing.assert_array_equal(env_a, want_env)
    else:
        np.testing.assert_allclose(a, want_a.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(env_a, want_env, rtol=1e-5, atol=1e-5)
        assert (np.abs(env_a) <= 0.5).all() and (np.abs(a) > 0.5).any()  # clipped for the env, kept raw


def test_numpy_rollout_path_is_not_used_for_images():
    import gymnasium as gym
    from trpo_mimic.policies.agent import Agent, NumpyActorCritic
    agent = Agent(gym.spaces.Box(0, 255, (4, 84, 84), np.uint8), gym.spaces.Discrete(4))
    assert NumpyActorCritic.build(agent) is None
