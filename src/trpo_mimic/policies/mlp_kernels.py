"""The tanh-MLP kernels: the written-out maths of the networks `networks.mlp` builds, in one place.

For the small Linear/Tanh/.../Linear networks of the state-based tasks, torch's per-operation overhead
(and its CPU tanh) dominates, so the hot paths run written-out maths:

- `forward` and `backward`: one forward pass keeping the activations and one backward pass writing
  each layer's gradient into given arrays, for numpy arrays (`NUMPY`) or torch tensors (`TORCH`);
- `critic_mse_and_grad` (torch): the critic's squared error and its gradient, no autograd graph;
- `fisher_vector_product` (torch): v -> (F + damping I) v for a tanh-MLP actor, F = J'MJ;
- `NumpyInference`: the rollout's actions and values in numpy, on views of the parameters;
- `fit_critic_adam`: the critic's Adam fit in numpy, reading and writing back a `torch.optim.Adam`.

Which path a run takes is decided once, when the agent is built (`Agent.set_backend`); the kernels do
not fall back: given a network or optimiser they do not cover, they raise ValueError.
tests/test_kernels.py checks each kernel against autograd.
"""
from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from .. import distributed as D


# ---- recognising a tanh MLP --------------------------------------------------------------------------
def tanh_mlp_layers(body: Any) -> list[nn.Linear] | None:
    """The Linear layers of a Linear/Tanh/.../Linear stack (what `mlp` builds), or None for any other body."""
    mods = list(body) if isinstance(body, nn.Sequential) else []
    if not mods or len(mods) % 2 != 1 or not all(
            isinstance(m, nn.Linear if i % 2 == 0 else nn.Tanh) for i, m in enumerate(mods)):
        return None
    return mods[::2]


def net_tanh_mlp_layers(net: Any) -> list[nn.Linear] | None:
    """`tanh_mlp_layers` of an Actor's or Critic's body; None for image networks and any other body."""
    return None if getattr(net, "image", True) else tanh_mlp_layers(getattr(net, "body", None))


def actor_kernel_layers(actor: nn.Module) -> list[nn.Linear] | None:
    """The Linear layers of an actor whose parameters are exactly those layers' weights and biases (then a
    Gaussian's log-std), all trainable: what `fisher_vector_product` covers; None otherwise (also for a gSDE
    actor, whose spread depends on the state)."""
    linears = net_tanh_mlp_layers(actor)
    if linears is None or getattr(actor, "sde", False):
        return None
    expected = [t for lin in linears for t in (lin.weight, lin.bias)]
    if not getattr(actor, "discrete", True):
        expected.append(actor.log_std)
    params = list(actor.parameters())
    if sorted(map(id, params)) != sorted(map(id, expected)) or not all(p.requires_grad for p in params):
        return None
    return linears


def _layers_or_raise(net: nn.Module, what: str) -> list[nn.Linear]:
    linears = net_tanh_mlp_layers(net)
    if linears is None:
        raise ValueError(f"the numpy kernels need a tanh-MLP {what}; this one is an image network or another body")
    return linears


# ---- forward and backward, numpy or torch ----------------------------------------------------------
NUMPY = SimpleNamespace(tanh=np.tanh, affine=lambda x, wt, b: x @ wt + b,
                        matmul=lambda a, b, out: np.matmul(a, b, out=out),
                        sum0=lambda a, out: np.sum(a, axis=0, out=out))
# torch's matmul with out= may take another kernel than a @ b and round differently (seen for a (1, n) x (n, 64)
# product): the product is made as a @ b and copied, so results are the same bits as the autograd-free code before
TORCH = SimpleNamespace(tanh=torch.tanh, affine=lambda x, wt, b: torch.addmm(b, x, wt),
                        matmul=lambda a, b, out: out.copy_(a @ b),
                        sum0=lambda a, out: out.copy_(a.sum(0)))


def forward(ops: Any, layers: Sequence[tuple[Any, Any]], x: Any) -> tuple[list[Any], Any]:
    """(activations: the input and each hidden tanh output, output of the last layer) for layers [(W', b)]
    (each weight transposed, (in, out): a view of the (out, in) parameter)."""
    acts = [x]
    for wt, b in layers[:-1]:
        acts.append(ops.tanh(ops.affine(acts[-1], wt, b)))
    wt, b = layers[-1]
    return acts, ops.affine(acts[-1], wt, b)


def backward(ops: Any, g: Any, acts: Sequence[Any], derivs: Sequence[Any], weights: Sequence[Any],
             grads: Sequence[tuple[Any, Any]]) -> None:
    """Back-propagate g (d loss / d output) and write each layer's (dW, db) into `grads`.

    `derivs[i]` is tanh' at hidden layer i (1 - acts[i + 1]^2)."""
    for i in reversed(range(len(weights))):
        ops.matmul(g.T, acts[i], grads[i][0])
        ops.sum0(g, grads[i][1])
        if i:
            g = (g @ weights[i]) * derivs[i - 1]


def _torch_layers(linears: Sequence[nn.Linear]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(lin.weight.t(), lin.bias) for lin in linears]


# ---- torch kernels -----------------------------------------------------------------------------------
@torch.no_grad()
def critic_mse_and_grad(linears: Sequence[nn.Linear], obs: torch.Tensor, returns: torch.Tensor) -> torch.Tensor:
    """Mean squared error of a tanh-MLP critic to `returns`, its gradient written into each `.grad`."""
    acts, out = forward(TORCH, _torch_layers(linears), obs.flatten(1))
    err = out.squeeze(-1) - returns
    for lin in linears:
        lin.weight.grad, lin.bias.grad = torch.empty_like(lin.weight), torch.empty_like(lin.bias)
    backward(TORCH, (2.0 / returns.numel()) * err.unsqueeze(-1), acts, [1.0 - h * h for h in acts[1:]],
             [lin.weight for lin in linears], [(lin.weight.grad, lin.bias.grad) for lin in linears])
    return err.pow(2).mean()


def fisher_vector_product(actor: nn.Module, obs: torch.Tensor,
                          damping: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """v -> (F + damping I) v for a tanh-MLP actor, F the policy's mean Fisher information over `obs`.

    F equals the Hessian of mean KL(old || new) at new = old (what `linalg.fisher_vector_product_fn` gets
    by double backward). Here F = J'MJ: J the Jacobian of the body's output (Gaussian means or logits)
    with respect to the body's parameters, M the Fisher of the output distribution (diag(1/sigma^2) for
    a Gaussian, diag(p) - pp' for a categorical); a state-independent log-std adds 2 I on its own
    coordinates (no cross terms at new = old). Each product is one forward-mode pass (J v) and one
    `backward` (J'u) on the activations cached here. The flat vector follows `actor.parameters()` order.
    Raises ValueError for actors this does not cover (see `actor_kernel_layers`)."""
    linears = actor_kernel_layers(actor)
    if linears is None:
        raise ValueError("the written-out Fisher product needs a tanh-MLP actor whose parameters all train")
    params = list(actor.parameters())
    log_std = None if actor.discrete else actor.log_std
    slot = {id(p): i for i, p in enumerate(params)}  # where each tensor sits in the flat vector
    w_slot = [slot[id(lin.weight)] for lin in linears]
    b_slot = [slot[id(lin.bias)] for lin in linears]
    with torch.no_grad():
        acts, out = forward(TORCH, _torch_layers(linears), obs.flatten(1))
        derivs = [1.0 - h * h for h in acts[1:]]  # tanh' at each hidden layer
        n = acts[0].shape[0]
        if actor.discrete:
            probs = torch.softmax(out, dim=-1)
        else:
            inv_var = torch.exp(-2.0 * log_std.detach())
    sizes = [p.numel() for p in params]
    weights = [lin.weight for lin in linears]

    @torch.no_grad()
    def fvp(v: torch.Tensor) -> torch.Tensor:
        pieces = torch.split(v, sizes)
        # forward mode: tangent of the body's output along v
        tangent = None
        for i, lin in enumerate(linears):
            a = torch.addmm(pieces[b_slot[i]], acts[i], pieces[w_slot[i]].view_as(lin.weight).t())
            if tangent is not None:
                a = a.addmm_(tangent, lin.weight.t())
            tangent = a * derivs[i] if i < len(linears) - 1 else a
        # output Fisher, batch mean
        u = probs * (tangent - (probs * tangent).sum(-1, keepdim=True)) if actor.discrete else tangent * inv_var
        flat = torch.empty_like(v)
        views = [t.view_as(p) for t, p in zip(torch.split(flat, sizes), params)]
        backward(TORCH, u / n, acts, derivs, weights, [(views[w], views[b]) for w, b in zip(w_slot, b_slot)])
        if log_std is not None:
            torch.mul(pieces[slot[id(log_std)]], 2.0, out=views[slot[id(log_std)]])
        return flat.add_(v, alpha=damping)

    return fvp


# ---- numpy kernels -----------------------------------------------------------------------------------
def numpy_layers(net: nn.Module, what: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(W', b) numpy views of a CPU tanh-MLP network's parameters (they follow in-place updates)."""
    return [(m.weight.detach().numpy().T, m.bias.detach().numpy()) for m in _layers_or_raise(net, what)]


class NumpyInference:
    """The rollout's actions and values for small MLP agents on the CPU, in numpy.

    A batched call of a 64x64 actor and critic on a few observations is dominated by torch's
    per-operation overhead; numpy on views of the same parameters (no copies) does the same maths
    about three times faster. The noise still comes from torch's generator (`torch.randn`,
    `torch.multinomial`), so a seed gives the same actions as `Actor.sample`. Build one per rollout:
    the views follow in-place parameter updates but not replaced tensors. Values are computed for the
    whole rollout at once after it (`batched_values`): the critic does not change during a rollout."""

    batched_values = True

    def __init__(self, agent: Any) -> None:
        norm = agent.obs_normalizer
        self.normalize = norm.enabled
        self.mean, self.inv_std, self.clip = norm.mean32.numpy(), norm.inv_std32.numpy(), norm.clip
        self.actor_layers = numpy_layers(agent.actor, "actor")
        self.critic_layers = numpy_layers(agent.critic, "critic")
        self.discrete = agent.actor.discrete
        self.noise = agent.exploration_noise()  # gSDE's matrices, held across this rollout's steps; else None
        if not self.discrete:
            self.std = agent.actor.log_std.detach().exp().numpy()
            self.low, self.high = agent.action_low.numpy(), agent.action_high.numpy()

    def _inputs(self, obs: np.ndarray) -> np.ndarray:
        x = np.asarray(obs, dtype=np.float32).reshape(len(obs), -1)
        if self.normalize:
            x = np.clip((x - self.mean.reshape(-1)) * self.inv_std.reshape(-1), -self.clip, self.clip)
        return x

    def act(self, obs: np.ndarray, deterministic: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(environment action, sampled action) for a batch of raw observations; deterministic: the mean (the
        most likely category) instead of a sample."""
        acts, out = forward(NUMPY, self.actor_layers, self._inputs(obs))
        if deterministic:
            action = out.argmax(axis=1) if self.discrete else out
            return (action if self.discrete else np.minimum(np.maximum(action, self.low), self.high)), action
        if self.noise is not None:
            action = out + self.noise(torch.from_numpy(acts[-1])).numpy()
            return np.minimum(np.maximum(action, self.low), self.high), action
        if self.discrete:
            z = np.exp(out - out.max(axis=1, keepdims=True))
            probs = torch.from_numpy(z / z.sum(axis=1, keepdims=True))
            action = torch.multinomial(probs, 1).squeeze(-1).numpy()
            return action, action
        action = out + self.std * torch.randn(out.shape).numpy()
        return np.minimum(np.maximum(action, self.low), self.high), action

    def values(self, obs: np.ndarray) -> np.ndarray:
        """Critic values (float32) of a batch of raw observations."""
        return forward(NUMPY, self.critic_layers, self._inputs(obs))[1][:, 0]


def _plain_adam(optimizer: torch.optim.Optimizer, params: list[nn.Parameter]) -> dict[str, Any]:
    """lr, betas, eps and the common step count of a one-group Adam with no other options."""
    g = optimizer.param_groups[0]
    if (type(optimizer) is not torch.optim.Adam or len(optimizer.param_groups) != 1
            or [id(p) for p in g["params"]] != [id(p) for p in params] or g["weight_decay"] or g["amsgrad"]
            or g["maximize"] or g.get("capturable") or g.get("differentiable") or isinstance(g["lr"], torch.Tensor)):
        raise ValueError("the numpy critic fit needs a plain torch.optim.Adam over exactly the critic's parameters")
    steps = {float(optimizer.state[p]["step"]) if optimizer.state.get(p) else 0.0 for p in params}
    if len(steps) != 1:
        raise ValueError("the numpy critic fit needs one Adam step count for all the critic's parameters")
    return {"lr": float(g["lr"]), "beta1": float(g["betas"][0]), "beta2": float(g["betas"][1]),
            "eps": float(g["eps"]), "step": steps.pop()}


def adam_step(theta: np.ndarray, m: np.ndarray, v: np.ndarray, grad: np.ndarray, tmp: np.ndarray, step: float,
              lr: float, b1: float, b2: float, eps: float) -> None:
    """torch.optim.Adam's update (no weight decay, no amsgrad) of step number ``step``, in place on the flat
    parameters ``theta`` and moments ``m``, ``v`` (``tmp``: scratch of their size)."""
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


def write_back(params: list[nn.Parameter], optimizer: torch.optim.Optimizer, theta: list[np.ndarray],
               m: list[np.ndarray], v: list[np.ndarray], step: float) -> None:
    """The numpy fit's parameters and Adam state (per parameter) into the module and the optimiser, as
    torch.optim.Adam would hold them after ``step`` steps (none taken: the state is left alone)."""
    with torch.no_grad():
        for p, src in zip(params, theta):
            p.copy_(torch.from_numpy(src))
    if step > 0:
        for p, ms, vs in zip(params, m, v):
            st = optimizer.state[p]
            if not st:
                st["step"] = torch.tensor(0.0, dtype=torch.float32)
                st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            st["step"].fill_(step)
            st["exp_avg"].copy_(torch.from_numpy(ms))
            st["exp_avg_sq"].copy_(torch.from_numpy(vs))


def fit_critic_adam(critic: nn.Module, optimizer: torch.optim.Optimizer, obs: torch.Tensor, returns: torch.Tensor,
                    epochs: int, batch_size: int, generator: torch.Generator | None = None) -> dict[str, float]:
    """Fit V(s) to the returns by Adam on shuffled minibatches, in numpy: the maths of `critic_mse_and_grad`
    followed by `torch.optim.Adam.step`, on one flat float32 copy of the parameters, gradients and moments.

    Parameters and Adam state (exp_avg, exp_avg_sq, step) are read from the module and the optimiser at
    the start and written back at the end, so checkpoints, resume and the torch path see an ordinary
    Adam; the minibatch order comes from the same `torch.randperm` calls as the torch path; across ranks
    each minibatch's gradient and loss are averaged in one all-reduce. A minibatch with a non-finite loss
    is skipped; a fit that ends non-finite is undone (parameters and Adam state as they were)."""
    linears = _layers_or_raise(critic, "critic")
    params = list(critic.parameters())
    if ([id(p) for p in params] != [id(t) for lin in linears for t in (lin.weight, lin.bias)]
            or any(p.dtype != torch.float32 or p.device.type != "cpu" for p in params)
            or linears[-1].out_features != 1 or obs.device.type != "cpu" or obs.dtype != torch.float32):
        raise ValueError("the numpy critic fit needs a float32 tanh-MLP critic with one output and its data on the CPU")
    adam = _plain_adam(optimizer, params)

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
    weights = pw[0::2]
    layers, grads = [(w.T, b) for w, b in zip(weights, pw[1::2])], list(zip(gw[0::2], gw[1::2]))

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
            acts, out = forward(NUMPY, layers, xb)
            err = out[:, 0] - yb
            g = ((2.0 / err.shape[0]) * err)[:, None].astype(np.float32, copy=False)
            backward(NUMPY, g, acts, [1.0 - h * h for h in acts[1:]], weights, grads)
            grad_and_loss[-1] = np.dot(err, err) / err.shape[0]
            if D.active():
                D.average_into(torch.from_numpy(grad_and_loss), D.critic_group())
            loss = float(grad_and_loss[-1])
            if not (math.isfinite(loss) and np.isfinite(grad).all()):
                skipped += 1
                continue
            step += 1.0
            adam_step(theta, m, v, grad, tmp, step, lr, b1, b2, eps)
            losses.append(loss)
    finite = bool(np.isfinite(theta).all() and np.isfinite(m).all() and np.isfinite(v).all())
    if not finite:  # undo the whole fit: parameters and Adam state as they were
        theta, m, v = saved
        step = adam["step"]
    write_back(params, optimizer, views(theta), views(m), views(v), step)
    value_loss = float(np.mean(losses)) if losses else float("nan")
    return {"value_loss": value_loss, "value_steps_skipped": float(skipped), "value_fit_undone": float(not finite)}
