import torch
from torch.func import functional_call

from trpo_mimic.algos.linalg import (conjugate_gradient, fisher_vector_product_fn, flat_params,
                                     mlp_fisher_vector_product_fn, set_flat_params)
from trpo_mimic.algos.trpo import mean_kl
from trpo_mimic.policies import Actor
import gymnasium as gym
import numpy as np


def test_cg_solves_random_spd_system():
    g = torch.Generator().manual_seed(0)
    n = 30
    m = torch.randn(n, n, generator=g, dtype=torch.float64)
    a = m @ m.T + 0.5 * torch.eye(n, dtype=torch.float64)
    b = torch.randn(n, generator=g, dtype=torch.float64)
    x = conjugate_gradient(lambda v: a @ v, b, iters=200, residual_tol=1e-28)
    expected = torch.linalg.solve(a, b)
    assert torch.allclose(x, expected, atol=1e-6, rtol=0)


def test_cg_stops_on_non_positive_curvature():
    a = -torch.eye(4, dtype=torch.float64)
    b = torch.ones(4, dtype=torch.float64)
    x = conjugate_gradient(lambda v: a @ v, b, iters=10)
    assert torch.isfinite(x).all()
    assert torch.equal(x, torch.zeros(4, dtype=torch.float64))


def test_cg_stops_on_non_finite_products():
    b = torch.ones(3, dtype=torch.float64)
    x = conjugate_gradient(lambda v: v * float("nan"), b, iters=10)
    assert torch.isfinite(x).all()


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
    analytic = mlp_fisher_vector_product_fn(actor, obs, damping)  # J'MJ written out, no autograd
    assert analytic is not None
    assert torch.allclose(analytic(v), expected, atol=1e-9, rtol=1e-7)
    assert torch.equal(flat_params(params), theta0)  # products leave the parameters alone


def test_fvp_equals_explicit_kl_hessian_gaussian():
    _check_fvp(discrete=False)


def test_fvp_equals_explicit_kl_hessian_categorical():
    _check_fvp(discrete=True)


def test_set_flat_params_roundtrip_is_exact():
    actor, _ = _tiny_actor(False)
    params = list(actor.parameters())
    flat = flat_params(params)
    set_flat_params(params, flat + 1.0)
    set_flat_params(params, flat)
    assert torch.equal(flat_params(params), flat)


def test_analytic_fvp_declines_actors_it_does_not_cover():
    actor, obs = _tiny_actor(False)
    actor.log_std.requires_grad_(False)  # parameters no longer match the written-out layout
    assert mlp_fisher_vector_product_fn(actor, obs, 0.1) is None
    image_actor = Actor(gym.spaces.Box(0, 255, (4, 84, 84), np.uint8), gym.spaces.Discrete(3))
    assert mlp_fisher_vector_product_fn(image_actor, torch.zeros(2, 4, 84, 84, dtype=torch.uint8), 0.1) is None


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
    ref, got = fvp(v), mlp_fisher_vector_product_fn(actor, obs, 0.1)(v)
    assert (got - ref).norm() <= 1e-5 * ref.norm()
