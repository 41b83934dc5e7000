"""Each tanh-MLP kernel (policies/mlp_kernels.py) against autograd or the torch modules it replaces."""
import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch.func import functional_call

from trpo_mimic.algos.linalg import fisher_vector_product_fn, flat_params
from trpo_mimic.algos.trpo import mean_kl, update_critic
from trpo_mimic.policies import Actor, Critic
from trpo_mimic.policies import mlp_kernels as K
from trpo_mimic.policies.agent import Agent, TorchInference

from rollout_util import real_batch


def test_numpy_forward_and_backward_equal_autograd():
    torch.manual_seed(0)
    critic = Critic(gym.spaces.Box(-1, 1, (7,), np.float32), [16, 8, 5]).double()
    x, g_out = torch.randn(33, 7, dtype=torch.float64), torch.randn(33, 1, dtype=torch.float64)
    out = critic.body(x)
    (out * g_out).sum().backward()
    layers = K.numpy_layers(critic, "critic")
    acts, got = K.forward(K.NUMPY, layers, x.numpy())
    np.testing.assert_allclose(got, out.detach().numpy(), rtol=1e-12, atol=1e-12)
    grads = [(np.empty_like(wt.T), np.empty_like(b)) for wt, b in layers]
    K.backward(K.NUMPY, g_out.numpy(), acts, [1.0 - h * h for h in acts[1:]], [wt.T for wt, _ in layers], grads)
    for (gw, gb), lin in zip(grads, K.tanh_mlp_layers(critic.body)):
        np.testing.assert_allclose(gw, lin.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(gb, lin.bias.grad.numpy(), rtol=1e-10, atol=1e-12)


def _tiny_actor(discrete: bool) -> tuple[Actor, torch.Tensor]:
    torch.manual_seed(1)
    obs_space = gym.spaces.Box(-1, 1, (3,), np.float32)
    act_space = gym.spaces.Discrete(3) if discrete else gym.spaces.Box(-1, 1, (2,), np.float32)
    actor = Actor(obs_space, act_space, hidden_sizes=[4], init_log_std=-0.3).double()
    with torch.no_grad():  # make the output layer non-trivial so the Hessian is too
        for p in actor.parameters():
            p.add_(0.3 * torch.randn_like(p))
    obs = torch.randn(16, 3, dtype=torch.float64)
    return actor, obs


def _check_fvp(discrete: bool) -> None:
    actor, obs = _tiny_actor(discrete)
    params = list(actor.parameters())
    names = [n for n, _ in actor.named_parameters()]
    shapes = [p.shape for p in params]
    theta0 = flat_params(params)
    with torch.no_grad():
        old = actor.distribution(obs)

    def kl_of(theta: torch.Tensor) -> torch.Tensor:
        tensors, off = {}, 0
        for n, s in zip(names, shapes):
            k = int(np.prod(s))
            tensors[n] = theta[off:off + k].view(s)
            off += k
        body = {k[len("body."):]: v for k, v in tensors.items() if k.startswith("body.")}
        out = functional_call(actor.body, body, (obs,))
        return mean_kl(old, actor.distribution_from(out, tensors.get("log_std")))

    hess = torch.autograd.functional.hessian(kl_of, theta0)
    damping = 0.1
    v = torch.randn(theta0.numel(), dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    kl = mean_kl(old, actor.distribution(obs))
    fvp = fisher_vector_product_fn(kl, params, damping)
    expected = hess @ v + damping * v
    assert torch.allclose(fvp(v), expected, atol=1e-9, rtol=1e-7)
    assert hess.abs().max() > 1e-3  # the check is not vacuous
    analytic = K.fisher_vector_product(actor, obs, damping)  # J'MJ written out, no autograd
    assert torch.allclose(analytic(v), expected, atol=1e-9, rtol=1e-7)
    assert torch.equal(flat_params(params), theta0)  # products leave the parameters alone


def test_fvp_equals_explicit_kl_hessian_gaussian():
    _check_fvp(discrete=False)


def test_fvp_equals_explicit_kl_hessian_categorical():
    _check_fvp(discrete=True)


def test_analytic_fvp_declines_actors_it_does_not_cover():
    actor, obs = _tiny_actor(False)
    actor.log_std.requires_grad_(False)  # parameters no longer match the written-out layout
    with pytest.raises(ValueError, match="tanh-MLP actor"):
        K.fisher_vector_product(actor, obs, 0.1)
    image_actor = Actor(gym.spaces.Box(0, 255, (4, 84, 84), np.uint8), gym.spaces.Discrete(3))
    with pytest.raises(ValueError, match="tanh-MLP actor"):
        K.fisher_vector_product(image_actor, torch.zeros(2, 4, 84, 84, dtype=torch.uint8), 0.1)


def test_analytic_fvp_matches_autograd_on_a_wide_float32_actor():
    """The size the DeepMimic presets use, float32: the written-out product equals double backward."""
    torch.manual_seed(0)
    actor = Actor(gym.spaces.Box(-1, 1, (197,)), gym.spaces.Box(-1, 1, (28,)), hidden_sizes=[256, 256],
                  init_log_std=-1.0)
    with torch.no_grad():
        actor.body[-1].weight.mul_(50.0)
    obs = torch.randn(512, 197)
    params = list(actor.parameters())
    with torch.no_grad():
        old = actor.distribution(obs)
    fvp = fisher_vector_product_fn(mean_kl(old, actor.distribution(obs)), params, 0.1)
    v = torch.randn(sum(p.numel() for p in params))
    ref, got = fvp(v), K.fisher_vector_product(actor, obs, 0.1)(v)
    assert (got - ref).norm() <= 1e-5 * ref.norm()


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
    obs_space = gym.spaces.Box(-np.inf, np.inf, (5,), np.float64)
    act_space = gym.spaces.Discrete(4) if discrete else gym.spaces.Box(-0.5, 0.5, (3,), np.float32)
    torch.manual_seed(0)
    agent = Agent(obs_space, act_space, (32, 16), init_log_std=0.3)
    rng = np.random.default_rng(0)
    agent.obs_normalizer.update(torch.as_tensor(rng.normal(3.0, 2.0, (100, 5))))
    with torch.no_grad():
        for p in agent.parameters():
            p.add_(0.1 * torch.randn_like(p))
    assert agent.backend == "numpy"
    fast = agent.inference()
    assert isinstance(fast, K.NumpyInference)
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
    # deterministic (the evaluations): the mean, clipped for the env, or the most likely category, as Agent.act;
    # the torch path gives the same
    want = agent.act(obs, deterministic=True)
    for path in (fast, TorchInference(agent)):
        env_d, d = path.act(obs, deterministic=True)
        if discrete:
            np.testing.assert_array_equal(env_d, want)
        else:
            np.testing.assert_allclose(env_d, want, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(env_d, np.clip(d, -0.5, 0.5))
            assert not np.allclose(env_d, env_a)  # the mean, not the sample


def test_numpy_rollout_path_is_not_used_for_images():
    agent = Agent(gym.spaces.Box(0, 255, (4, 84, 84), np.uint8), gym.spaces.Discrete(4))
    assert agent.backend == "torch"
    with pytest.raises(ValueError, match="--backend numpy: the networks are not tanh MLPs"):
        agent.set_backend("numpy")
    with pytest.raises(ValueError, match="tanh-MLP critic"):
        K.fit_critic_adam(agent.critic, torch.optim.Adam(agent.critic.parameters()), torch.zeros(2, 4, 84, 84),
                          torch.zeros(2), 1, 2)


@pytest.mark.parametrize("fused", [True, False])
def test_numpy_critic_fit_equals_torch_adam_fit(fused):
    """The numpy fit (small CPU critics) does the torch path's maths: same minibatches, same Adam."""
    import copy
    agent, batch = real_batch()
    twin = copy.deepcopy(agent)
    opt_np = torch.optim.Adam(agent.critic.parameters(), lr=3e-3, fused=fused)
    opt_t = torch.optim.Adam(twin.critic.parameters(), lr=3e-3, fused=fused)
    for call in range(2):  # the second call starts from the Adam state the first one wrote back
        s_np = update_critic(agent.critic, opt_np, batch.obs, batch.returns, 3, 64,
                             generator=torch.Generator().manual_seed(call), backend="numpy")
        s_t = update_critic(twin.critic, opt_t, batch.obs, batch.returns, 3, 64,
                            generator=torch.Generator().manual_seed(call), backend="torch")
        assert s_np["value_loss"] == pytest.approx(s_t["value_loss"], rel=1e-4)
    a, b = flat_params(agent.critic.parameters()), flat_params(twin.critic.parameters())
    assert not torch.equal(a, flat_params(real_batch()[0].critic.parameters()))  # it did train
    assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)
    for p, q in zip(agent.critic.parameters(), twin.critic.parameters()):
        sp, sq = opt_np.state[p], opt_t.state[q]
        assert float(sp["step"]) == float(sq["step"]) == 2 * 3 * -(-batch.obs.shape[0] // 64)
        assert torch.allclose(sp["exp_avg"], sq["exp_avg"], atol=1e-6, rtol=1e-4)
        assert torch.allclose(sp["exp_avg_sq"], sq["exp_avg_sq"], atol=1e-8, rtol=1e-4)


def test_numpy_critic_fit_skips_non_finite_minibatches():
    agent, batch = real_batch()
    opt = torch.optim.Adam(agent.critic.parameters(), lr=1e-3)
    returns = batch.returns.clone()
    returns[0] = float("nan")  # poisons exactly one minibatch per epoch
    stats = update_critic(agent.critic, opt, batch.obs, returns, 2, 64, backend="numpy")
    assert stats["value_steps_skipped"] == 2.0
    assert all(torch.isfinite(p).all() for p in agent.critic.parameters())
    assert math.isfinite(stats["value_loss"])


def test_backend_is_chosen_once_and_numpy_where_it_cannot_run_is_an_error(monkeypatch):
    agent = Agent(gym.spaces.Box(-1, 1, (3,), np.float32), gym.spaces.Box(-1, 1, (2,), np.float32), [8])
    assert agent.backend == "numpy" and agent.set_backend("torch") == "torch"
    assert not isinstance(agent.inference(), K.NumpyInference)
    monkeypatch.setattr(Agent, "device", property(lambda self: torch.device("cuda")))
    assert agent.set_backend("auto") == "torch"
    with pytest.raises(ValueError, match="--backend numpy: the agent is on cuda, numpy runs on the CPU"):
        agent.set_backend("numpy")
