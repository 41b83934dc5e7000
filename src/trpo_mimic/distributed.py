"""Multi-process and multi-machine training on torch.distributed, launched by torchrun.

`torchrun --nproc_per_node=N -m trpo_mimic train ...` starts N ranks; each collects its own
rollouts, and every quantity the update needs is averaged across ranks with all-reduce: the policy
gradient, each Fisher-vector product inside CG, the line search's surrogate and KL, the critic's
gradients, the advantage statistics and the observation normaliser's moments. With equal per-rank
batches this is exactly the update a single process would make on the combined batch.

A rank that dies or stops answering ends the others within `--dist_timeout` seconds: every collective goes
through this module, which turns the backend's failure into `PeerLost`, one line naming this rank and, with two
ranks, the one lost (gloo says which address closed the connection or that a receive timed out, not which
rank; with more ranks the line says so).
"""
from __future__ import annotations

import functools
import os
import re
from datetime import timedelta
from typing import Any, Callable, Iterable, TypeVar

import torch
import torch.distributed as dist

from .faults import PeerLost

F = TypeVar("F", bound=Callable[..., Any])


def launched_by_torchrun() -> bool:
    return "WORLD_SIZE" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1


_critic_group = None
_timeout_s = 300.0


def init(device: str, timeout_s: float = 300.0) -> None:
    """Join the process group torchrun describes (gloo on CPU, nccl on CUDA); no-op when alone.

    `timeout_s` bounds every collective (and the joining itself): past it a rank gives up on the others
    (`PeerLost`). On the CPU a second gloo group of the same ranks carries the critic fit's all-reduces, so
    that the fit can run in its own thread beside the policy step: each group then sees its collectives in
    the same order on every rank."""
    global _critic_group, _timeout_s
    if launched_by_torchrun() and not dist.is_initialized():
        _timeout_s = float(timeout_s)
        timeout = timedelta(seconds=timeout_s)
        try:
            dist.init_process_group(backend="nccl" if device == "cuda" else "gloo", timeout=timeout)
            if device == "cuda":
                torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
            else:
                _critic_group = dist.new_group(backend="gloo", timeout=timeout)  # not inherited from the default
        except RuntimeError as exc:  # dist.DistError is one
            me, n = os.environ.get("RANK", "?"), os.environ.get("WORLD_SIZE", "?")
            raise PeerLost(f"rank {me} of {n} could not join the other ranks within --dist_timeout "
                           f"{_timeout_s:g} s ({backend_reason(exc)})") from None


def backend_reason(exc: BaseException) -> str:
    """The backend's own words, without its source location and advice: e.g. "Read error [127.0.0.1]:41234:
    Connection reset by peer", "Timed out waiting 10000ms for recv operation to complete"."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = re.sub(r"^\[[^\]]*\.(cc|cpp|h):\d+\]\s*", "", text)
    return text.split(". ")[0].rstrip(".")


def is_peer_failure(exc: BaseException) -> bool:
    """A collective's failure that comes from the other ranks (a closed connection, a timeout), not a bug here."""
    return isinstance(exc, dist.DistError) or (isinstance(exc, RuntimeError) and "gloo" in str(exc).lower())


def peer_lost(exc: BaseException) -> PeerLost:
    me, n = rank(), world_size()
    lost = f"rank {1 - me}" if n == 2 else "another rank (gloo does not say which)"
    return PeerLost(f"rank {me} of {n} lost {lost}: {backend_reason(exc)} (--dist_timeout {_timeout_s:g} s)")


def collective(fn: F) -> F:
    """A collective of this module: the other ranks' failure becomes `PeerLost`."""
    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RuntimeError as exc:  # dist.DistError is one
            if active() and is_peer_failure(exc):
                raise peer_lost(exc) from None
            raise
    return wrapped  # type: ignore[return-value]


def critic_group():
    """The process group of the critic fit's all-reduces (None: the default group)."""
    return _critic_group if active() else None


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def is_main() -> bool:
    return rank() == 0


@collective
def mean(t: torch.Tensor) -> torch.Tensor:
    """All-reduce average across ranks (identity when alone). Returns a new tensor."""
    if not active():
        return t
    out = t.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / dist.get_world_size()


@collective
def sum_(t: torch.Tensor) -> torch.Tensor:
    if not active():
        return t
    out = t.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


def scalar_mean(x: float, device: torch.device | str = "cpu") -> float:
    return float(mean(torch.tensor([x], dtype=torch.float64, device=device))[0])


@collective
def broadcast_parameters(tensors: Iterable[torch.Tensor]) -> None:
    """Copy rank 0's values into every rank's tensors (parameters and buffers)."""
    if active():
        for t in tensors:
            dist.broadcast(t.data, src=0)


@collective
def average_gradients(params: Iterable[torch.nn.Parameter], extra: torch.Tensor | None = None,
                      group=None) -> torch.Tensor | None:
    """Average the parameters' gradients (and `extra`, e.g. the loss) across ranks in ONE all-reduce."""
    if not active():
        return extra
    params = [p for p in params if p.grad is not None]
    parts = [p.grad.reshape(-1) for p in params] + ([extra.detach().reshape(-1).to(params[0].grad)]
                                                     if extra is not None else [])
    flat = torch.cat(parts)
    average_into(flat, group)
    offset = 0
    for p in params:
        n = p.grad.numel()
        p.grad.copy_(flat[offset:offset + n].view_as(p.grad))
        offset += n
    return flat[offset:].reshape(extra.shape) if extra is not None else None


@collective
def average_into(t: torch.Tensor, group=None) -> None:
    """All-reduce average of `t` across ranks (in `group`, default the whole world), in place (no-op when alone)."""
    if active():
        dist.all_reduce(t, op=dist.ReduceOp.SUM, group=group)
        t /= dist.get_world_size()


@collective
def max_divergence(tensors: Iterable[torch.Tensor]) -> float:
    """Largest absolute difference between this rank's values and rank 0's (0.0 when alone)."""
    if not active():
        return 0.0
    flat = torch.cat([t.detach().reshape(-1).double() for t in tensors])
    ref = flat.clone()
    dist.broadcast(ref, src=0)
    diff = (flat - ref).abs().max()
    dist.all_reduce(diff, op=dist.ReduceOp.MAX)
    return float(diff)


@collective
def from_main(x: int) -> int:
    """Rank 0's integer, on every rank (`x` itself when alone)."""
    if not active():
        return x
    t = torch.tensor([x], dtype=torch.int64, device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.broadcast(t, src=0)
    return int(t[0])


@collective
def barrier() -> None:
    """Wait until every rank gets here (no-op when alone)."""
    if active():
        dist.barrier()


def shutdown() -> None:
    global _critic_group
    _critic_group = None
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
