"""A warm start across tasks whose observations share parts (``--pretrained_weight_path``).

An environment may name the parts of its observation vector, in order: ``observation_parts``, a tuple of
``(name, size)`` on the (vector) environment's ``unwrapped`` (a DeepMimic scene: the character's state, then the
goal). When a checkpoint's observation differs from this run's, the parts both name alike (same name, same size)
carry over: the columns of the actor's and the critic's first layers and of the observation normaliser. A part
only this run has starts with zero weights in the first layers (the warm-started policy acts at first as the
checkpoint's did, and learns to read it) and the normaliser's plain statistics (mean 0, variance 1); a part only
the checkpoint has is dropped. E.g. a heading policy (state + heading goal) warm-starts a strike run (state +
strike goal).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from .checkpoint import CheckpointError, env_of
from .config import Config

Parts = Sequence[tuple[str, int]]


def observation_parts(env: Any) -> tuple[tuple[str, int], ...] | None:
    """The (vector) environment's named observation parts, or None when it names none."""
    parts = getattr(getattr(env, "unwrapped", env), "observation_parts", None)
    return tuple((str(k), int(n)) for k, n in parts) if parts is not None else None


def saved_observation_parts(ckpt: dict[str, Any]) -> tuple[tuple[str, int], ...] | None:
    """The observation parts of the environment a checkpoint was trained on (built from its config)."""
    env = env_of(Config.from_dict(ckpt["config"]))
    try:
        return observation_parts(env)
    finally:
        env.close()


def column_map(old: Parts, new: Parts) -> tuple[np.ndarray, np.ndarray, list[str], list[str], list[str]]:
    """(columns of the new observation, the old columns they come from, the parts carried over, the new parts,
    the dropped parts). Parts match by name and size."""
    def offsets(parts: Parts) -> dict[tuple[str, int], int]:
        out, at = {}, 0
        for name, size in parts:
            out[(name, size)] = at
            at += size
        return out

    old_at, new_at = offsets(old), offsets(new)
    new_cols, old_cols, kept = [], [], []
    for part, at in new_at.items():
        if part in old_at:
            new_cols.append(np.arange(at, at + part[1]))
            old_cols.append(np.arange(old_at[part], old_at[part] + part[1]))
            kept.append(f"{part[0]} ({part[1]})")
    added = [f"{k} ({n})" for k, n in new if (k, n) not in old_at]
    dropped = [f"{k} ({n})" for k, n in old if (k, n) not in new_at]
    cat = (lambda a: np.concatenate(a) if a else np.zeros(0, dtype=np.int64))
    return cat(new_cols), cat(old_cols), kept, added, dropped


def _first_linear_key(module: nn.Module) -> str:
    for name, m in module.named_modules():
        if isinstance(m, nn.Linear):
            return f"{name}.weight"
    raise CheckpointError("a warm start across observation parts needs an MLP policy (no linear layer found)")


def remap(agent: Any, ckpt: dict[str, Any], old: Parts, new: Parts, source: str | Path) -> tuple[dict, str]:
    """``ckpt`` with its actor, critic and normaliser remapped onto ``agent``'s observation (parts ``new``, the
    checkpoint's ``old``), and a one-line note of what carried over."""
    new_cols, old_cols, kept, added, dropped = column_map(old, new)
    if not kept:
        raise CheckpointError(f"{source}: its observation ({', '.join(f'{k} ({n})' for k, n in old)}) shares no "
                              f"part with this run's ({', '.join(f'{k} ({n})' for k, n in new)})")
    n_new = sum(n for _, n in new)
    out = dict(ckpt)
    for key, module in (("actor", agent.actor), ("critic", agent.critic)):
        state = dict(ckpt[key])
        w_key = _first_linear_key(module)
        w_old = state[w_key]
        w = torch.zeros(w_old.shape[0], n_new, dtype=w_old.dtype)
        w[:, new_cols] = w_old[:, old_cols]
        state[w_key] = w
        out[key] = state
    norm = dict(ckpt["obs_normalizer"])
    for k, fresh in (("mean", 0.0), ("var", 1.0)):
        v = torch.full((n_new,), fresh, dtype=norm[k].dtype)
        v[new_cols] = norm[k][old_cols]
        norm[k] = v
    out["obs_normalizer"] = norm
    note = (f"warm start from {source}: observation parts carried over: {', '.join(kept)}"
            + (f"; new (zero weights): {', '.join(added)}" if added else "")
            + (f"; dropped: {', '.join(dropped)}" if dropped else ""))
    return out, note


def fit_observation(agent: Any, env: Any, ckpt: dict[str, Any], source: str | Path) -> tuple[dict, str | None]:
    """``ckpt`` as is when its observation has this run's size, else remapped by the parts both environments
    name (:func:`remap`), with its note. Unnamed observations are left as they are: loading them fails with the
    sizes named."""
    n_saved = int(ckpt["obs_normalizer"]["mean"].shape[0])
    if n_saved == int(agent.obs_normalizer.mean.shape[0]):
        return ckpt, None
    new = observation_parts(env)
    old = saved_observation_parts(ckpt) if new is not None else None
    if new is None or old is None or sum(n for _, n in old) != n_saved:
        return ckpt, None
    return remap(agent, ckpt, old, new, source)
