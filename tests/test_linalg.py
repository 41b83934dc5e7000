import torch

from trpo_mimic.algos.linalg import conjugate_gradient, flat_params, set_flat_params

from test_kernels import _tiny_actor


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


def test_set_flat_params_roundtrip_is_exact():
    actor, _ = _tiny_actor(False)
    params = list(actor.parameters())
    flat = flat_params(params)
    set_flat_params(params, flat + 1.0)
    set_flat_params(params, flat)
    assert torch.equal(flat_params(params), flat)
