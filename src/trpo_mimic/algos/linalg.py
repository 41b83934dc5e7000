"""Pure linear-algebra helpers for trust-region updates: flat parameters, CG, Fisher-vector products."""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

import torch
from torch import nn

from ..policies.networks import net_tanh_mlp_layers


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


def tanh_mlp_linears(actor: nn.Module) -> list[nn.Linear] | None:
    """The Linear layers of an actor whose body is Linear/Tanh/.../Linear and whose parameters are exactly
    those layers' weights and biases (then a Gaussian's log-std), all trainable; None otherwise."""
    linears = net_tanh_mlp_layers(actor)
    if linears is None:
        return None
    expected = [t for lin in linears for t in (lin.weight, lin.bias)]
    if not getattr(actor, "discrete", True):
        expected.append(actor.log_std)
    params = list(actor.parameters())
    if sorted(map(id, params)) != sorted(map(id, expected)) or not all(p.requires_grad for p in params):
        return None
    return linears


def mlp_fisher_vector_product_fn(actor: nn.Module, obs: torch.Tensor,
                                 damping: float) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """v -> (F + damping I) v for a tanh-MLP actor, F the policy's mean Fisher information over `obs`.

    F equals the Hessian of mean KL(old || new) at new = old, which `fisher_vector_product_fn`
    gets by double backward through autograd. Here it is F = J' M J: J the Jacobian of the body's
    output (Gaussian means or logits) with respect to the body's parameters, M the Fisher of the
    output distribution (diag(1/sigma^2) for a Gaussian, diag(p) - p p' for a categorical); a
    state-independent log-std adds 2 I on its own coordinates (no cross terms at new = old). Each
    product is one forward-mode pass (J v) and one backward pass (J' u) written out on the
    activations cached here, so it costs a few matrix products instead of a double backward.

    The flat vector follows `actor.parameters()` order. Returns None for actors this does not
    cover (image trunks, bodies other than Linear/Tanh/.../Linear, frozen parameters).
    """
    linears = tanh_mlp_linears(actor)
    if linears is None:
        return None
    params = list(actor.parameters())
    log_std = None if actor.discrete else actor.log_std
    slot = {id(p): i for i, p in enumerate(params)}  # where each tensor sits in the flat vector
    w_slot = [slot[id(lin.weight)] for lin in linears]
    b_slot = [slot[id(lin.bias)] for lin in linears]
    with torch.no_grad():
        acts = [obs.flatten(1)]
        for lin in linears[:-1]:
            acts.append(torch.tanh(torch.addmm(lin.bias, acts[-1], lin.weight.t())))
        derivs = [1.0 - h * h for h in acts[1:]]  # tanh' at each hidden layer
        n = acts[0].shape[0]
        if actor.discrete:
            probs = torch.softmax(torch.addmm(linears[-1].bias, acts[-1], linears[-1].weight.t()), dim=-1)
        else:
            inv_var = torch.exp(-2.0 * log_std.detach())
    sizes = [p.numel() for p in params]

    @torch.no_grad()
    def fvp(v: torch.Tensor) -> torch.Tensor:
        pieces = torch.split(v, sizes)
        # forward mode: tangent of the body's output along v
        tangent = None
        for i, lin in enumerate(linears):
            dw, db = pieces[w_slot[i]].view_as(lin.weight), pieces[b_slot[i]]
            a = torch.addmm(db, acts[i], dw.t())
            if tangent is not None:
                a = a.addmm_(tangent, lin.weight.t())
            tangent = a * derivs[i] if i < len(linears) - 1 else a
        # output Fisher, batch mean
        if actor.discrete:
            u = probs * (tangent - (probs * tangent).sum(-1, keepdim=True))
        else:
            u = tangent * inv_var
        u = u / n
        # backward: J' u
        out: list[torch.Tensor] = [None] * len(params)  # type: ignore[list-item]
        g = u
        for i in reversed(range(len(linears))):
            out[w_slot[i]] = (g.t() @ acts[i]).reshape(-1)
            out[b_slot[i]] = g.sum(0)
            if i:
                g = (g @ linears[i].weight) * derivs[i - 1]
        if log_std is not None:
            out[slot[id(log_std)]] = 2.0 * pieces[slot[id(log_std)]]
        return torch.cat(out).add_(v, alpha=damping)

    return fvp
