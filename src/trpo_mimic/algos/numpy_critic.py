"""The critic's Adam fit for small tanh-MLP critics on the CPU, in numpy.

At the sizes TRPO uses (minibatches of 128-256, layers of 64-256) the fit is a few hundred tiny
operations per minibatch, and torch's per-operation overhead and its CPU tanh (several times slower
than numpy's here) dominate it. This path does the same maths as `Critic.mse_and_grad` followed by
`torch.optim.Adam.step`, on one flat float32 copy of the parameters, gradients and Adam moments:

- parameters and Adam state (exp_avg, exp_avg_sq, step) are read from the module and the
  optimiser at the start and written back at the end, so checkpoints, resume and the torch path
  see an ordinary `torch.optim.Adam`;
- the minibatch order comes from the same `torch.randperm` calls as the torch path;
- across ranks each minibatch's gradient and loss are averaged in one all-reduce, as in the torch path.

`fit_critic_numpy` returns None where it does not apply (image critics, other bodies, a GPU,
Adam options other than lr/betas/eps), and the caller uses the torch path.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import distributed as D
from ..policies.networks import net_tanh_mlp_layers


def _plain_adam(optimizer: torch.optim.Optimizer, params: list[nn.Parameter]) -> dict[str, Any] | None:
    """lr, betas, eps and the common step count of a one-group Adam with no other options, or None."""
    if type(optimizer) is not torch.optim.Adam or len(optimizer.param_groups) != 1:
        return None
    g = optimizer.param_groups[0]
    if ([id(p) for p in g["params"]] != [id(p) for p in params] or g["weight_decay"] or g["amsgrad"]
            or g["maximize"] or g.get("capturable") or g.get("differentiable") or isinstance(g["lr"], torch.Tensor)):
        return None
    steps = {float(optimizer.state[p]["step"]) if optimizer.state.get(p) else 0.0 for p in params}
    if len(steps) != 1:
        return None
    return {"lr": float(g["lr"]), "beta1": float(g["betas"][0]), "beta2": float(g["betas"][1]),
            "eps": float(g["eps"]), "step": steps.pop()}


def fit_critic_numpy(critic: nn.Module, optimizer: torch.optim.Optimizer, obs: Any, returns: torch.Tensor,
                     epochs: int, batch_size: int, generator: torch.Generator | None = None) -> dict[str, float] | None:
    """Fit V(s) to the returns by Adam on shuffled minibatches, in numpy; None where not applicable."""
    linears = net_tanh_mlp_layers(critic)
    if (linears is None or not isinstance(obs, torch.Tensor) or obs.device.type != "cpu"
            or obs.dtype != torch.float32 or returns.device.type != "cpu"):
        return None
    params = list(critic.parameters())
    order = [t for lin in linears for t in (lin.weight, lin.bias)]
    if ([id(p) for p in params] != [id(p) for p in order] or any(p.dtype != torch.float32 for p in params)
            or linears[-1].out_features != 1):
        return None
    adam = _plain_adam(optimizer, params)
    if adam is None:
        return None

    sizes = [p.numel() for p in params]
    total = sum(sizes)
    theta = np.concatenate([p.detach().numpy().reshape(-1) for p in params]).astype(np.float32)
    state = [optimizer.state.get(p) for p in params]
    m = (np.concatenate([s["exp_avg"].numpy().reshape(-1) for s in state]).astype(np.float32)
         if state[0] else np.zeros(total, np.float32))
    v = (np.concatenate([s["exp_avg_sq"].numpy().reshape(-1) for s in state]).astype(np.float32)
         if state[0] else np.zeros(total, np.float32))
    saved = (theta.copy(), m.copy(), v.copy())
    # with the loss in the last slot, so that ranks average gradient and loss in one all-reduce
    grad_and_loss = np.zeros(total + 1, np.float32)
    grad = grad_and_loss[:total]

    def views(flat: np.ndarray) -> list[np.ndarray]:
        out, off = [], 0
        for p, n in zip(params, sizes):
            out.append(flat[off:off + n].reshape(p.shape))
            off += n
        return out

    pw, gw = views(theta), views(grad)
    weights, biases = pw[0::2], pw[1::2]
    gweights, gbiases = gw[0::2], gw[1::2]
    hidden = len(linears) - 1

    x_all = obs.detach().reshape(obs.shape[0], -1).numpy()
    y_all = returns.detach().numpy().astype(np.float32, copy=False)
    n = x_all.shape[0]
    lr, b1, b2, eps, step = adam["lr"], adam["beta1"], adam["beta2"], adam["eps"], adam["step"]
    losses: list[float] = []
    skipped = 0
    tmp = np.empty(total, np.float32)
    for _ in range(epochs):
        perm = torch.randperm(n, generator=generator).numpy()
        xe, ye = x_all[perm], y_all[perm]
        for start in range(0, n, batch_size):
            xb, yb = xe[start:start + batch_size], ye[start:start + batch_size]
            acts = [xb]
            for i in range(hidden):
                acts.append(np.tanh(acts[-1] @ weights[i].T + biases[i]))
            err = (acts[-1] @ weights[-1].T)[:, 0] + biases[-1][0] - yb
            g = ((2.0 / err.shape[0]) * err)[:, None].astype(np.float32, copy=False)
            for i in range(hidden, -1, -1):
                np.matmul(g.T, acts[i], out=gweights[i])
                np.sum(g, axis=0, out=gbiases[i])
                if i:
                    g = g @ weights[i]
                    g *= 1.0 - acts[i] * acts[i]
            grad_and_loss[-1] = np.dot(err, err) / err.shape[0]
            if D.active():
                flat = torch.from_numpy(grad_and_loss)
                D.average_into(flat, D.critic_group())
            loss = float(grad_and_loss[-1])
            if not (math.isfinite(loss) and np.isfinite(grad).all()):
                skipped += 1
                continue
            # torch.optim.Adam's update (no weight decay, no amsgrad)
            step += 1.0
            bc1, bc2 = 1.0 - b1 ** step, 1.0 - b2 ** step
            np.subtract(grad, m, out=tmp)
            m += (1.0 - b1) * tmp
            v *= b2
            np.multiply(grad, grad, out=tmp)
            v += (1.0 - b2) * tmp
            np.sqrt(v, out=tmp)
            tmp /= math.sqrt(bc2)
            tmp += eps
            np.divide(m, tmp, out=tmp)
            theta -= (lr / bc1) * tmp
            losses.append(loss)
    finite = bool(np.isfinite(theta).all() and np.isfinite(m).all() and np.isfinite(v).all())
    if not finite:  # undo the whole fit: parameters and Adam state as they were
        theta, m, v = saved
        step = adam["step"]
    with torch.no_grad():
        for p, src in zip(params, views(theta)):
            p.copy_(torch.from_numpy(src))
    if step > 0:
        for p, ms, vs in zip(params, views(m), views(v)):
            st = optimizer.state[p]
            if not st:
                st["step"] = torch.tensor(0.0, dtype=torch.float32)
                st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            st["step"].fill_(step)
            st["exp_avg"].copy_(torch.from_numpy(ms))
            st["exp_avg_sq"].copy_(torch.from_numpy(vs))
    value_loss = float(np.mean(losses)) if losses else float("nan")
    return {"value_loss": value_loss, "value_steps_skipped": float(skipped), "value_fit_undone": float(not finite)}
