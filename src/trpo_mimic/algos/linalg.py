"""Pure linear-algebra helpers for trust-region updates: flat parameters, CG, the autograd Fisher-vector
product (the written-out one for tanh MLPs is `policies.mlp_kernels.fisher_vector_product`)."""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

import torch
from torch import nn


def flat_params(params: Iterable[nn.Parameter]) -> torch.Tensor:
    """Concatenate parameters into one detached flat vector (a copy)."""
    return torch.cat([p.detach().reshape(-1) for p in params]).clone()


def set_flat_params(params: Sequence[nn.Parameter], flat: torch.Tensor) -> None:
    """Copy a flat vector back into the parameters, bit for bit."""
    offset = 0
    with torch.no_grad():
        for p in params:
            n = p.numel()
            p.copy_(flat[offset:offset + n].view_as(p))
            offset += n
    if offset != flat.numel():
        raise ValueError(f"flat vector has {flat.numel()} elements, parameters need {offset}")


def flat_grad(output: torch.Tensor, params: Sequence[nn.Parameter], *, create_graph: bool = False,
              retain_graph: bool | None = None) -> torch.Tensor:
    """Gradient of a scalar with respect to params, as one flat vector (zeros for unused params)."""
    grads = torch.autograd.grad(output, params, create_graph=create_graph, retain_graph=retain_graph,
                                allow_unused=True)
    return torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for g, p in zip(grads, params)])


def conjugate_gradient(avp: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, iters: int = 10,
                       residual_tol: float = 1e-10) -> torch.Tensor:
    """Approximately solve A x = b for symmetric positive-definite A given only x -> A x.

    Stops early on a small residual. If a direction of non-positive or non-finite curvature
    is met, returns the iterate reached so far (which is finite), never a step along that direction.
    """
    x = torch.zeros_like(b)
    r = b.clone()
    p = b.clone()
    rr = torch.dot(r, r)
    if not torch.isfinite(rr):
        raise FloatingPointError("conjugate_gradient: right-hand side is not finite")
    for _ in range(iters):
        if rr <= residual_tol:
            break
        ap = avp(p)
        pap = torch.dot(p, ap)
        if not torch.isfinite(pap) or pap <= 0:
            break
        alpha = rr / pap
        x_new = x + alpha * p
        r_new = r - alpha * ap
        if not (torch.isfinite(x_new).all() and torch.isfinite(r_new).all()):
            break
        x, r = x_new, r_new
        rr_new = torch.dot(r, r)
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


def fisher_vector_product_fn(kl: torch.Tensor, params: Sequence[nn.Parameter],
                             damping: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """Return v -> (H + damping I) v where H is the Hessian of the scalar `kl` w.r.t. params.

    The first derivative is taken once with a graph, so each product costs one backward pass.
    """
    grad_kl = flat_grad(kl, params, create_graph=True)

    def fvp(v: torch.Tensor) -> torch.Tensor:
        hv = flat_grad(torch.dot(grad_kl, v), params, retain_graph=True)
        return hv + damping * v

    return fvp
