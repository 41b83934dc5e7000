"""Checkpoints: plain state_dicts, config and RNG states in a `.pt` file, written atomically.

Files load with `torch.load(weights_only=True)`: nothing in them can run code.
"""
from __future__ import annotations

import os
import pickle
import random
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, unsafe or of another architecture."""


def rng_state() -> dict[str, Any]:
    """torch, numpy (legacy global) and python RNG states, as weights_only-safe values."""
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": random.getstate(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write atomically: temporary file in the same directory, flush, fsync, rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format_version": FORMAT_VERSION, **payload}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a run directory (its latest.pt)."""
    p = Path(path)
    if p.is_dir():
        p = p / "latest.pt"
    if not p.exists():
        raise CheckpointError(f"checkpoint not found: {p}")
    return p


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load safely (weights_only); every failure becomes a CheckpointError that names the file."""
    p = resolve_checkpoint(path)
    try:
        data = torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{p}: refused to load: the file holds objects other than tensors and plain "
                              f"values (possibly code). Nothing was executed. ({first})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{p}: not a readable checkpoint (truncated or corrupt?): {first}") from None
    if not isinstance(data, dict) or "actor" not in data or "config" not in data:
        raise CheckpointError(f"{p}: not a trpo-mimic checkpoint (missing 'actor' or 'config')")
    return data


def load_module_state(module: nn.Module, state: dict[str, torch.Tensor], what: str, source: str | Path) -> None:
    """load_state_dict with an error that names every missing, unexpected or mismatched tensor."""
    own = module.state_dict()
    problems = []
    for k, v in own.items():
        if k not in state:
            problems.append(f"missing {k}")
        elif tuple(state[k].shape) != tuple(v.shape):
            problems.append(f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}")
    problems += [f"unexpected {k}" for k in state if k not in own]
    if problems:
        raise CheckpointError(f"{source}: {what} does not match this model's architecture: "
                              + "; ".join(problems[:8]) + (" ..." if len(problems) > 8 else ""))
    module.load_state_dict(state)
