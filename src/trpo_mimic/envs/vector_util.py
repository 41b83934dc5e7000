"""Helpers shared by the natively batched vector envs (DeepMimic, MuJoCo locomotion)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def sub_env_seeds(seed: int | Sequence[int | None] | None, n: int) -> list[int | None]:
    """Per-sub-env seeds as SyncVectorEnv gives them: ``seed + i`` for an int, a list as it is."""
    if seed is None:
        return [None] * n
    if isinstance(seed, (int, np.integer)):
        return [int(seed) + i for i in range(n)]
    seeds = list(seed)
    if len(seeds) != n:
        raise ValueError(f"expected {n} seeds, got {len(seeds)}")
    return seeds


def add_info_row(infos: dict[str, Any], info: dict[str, Any], i: int, n: int) -> None:
    """Put sub-env i's info dict into vector-env info arrays (each key with its ``"_key"`` mask)."""
    for k, v in info.items():
        if k not in infos:
            if isinstance(v, np.ndarray):  # an array per sub-env (e.g. tendon lengths), as SyncVectorEnv
                infos[k] = np.zeros((n, *v.shape), dtype=v.dtype)
            else:
                infos[k] = np.zeros(n, dtype=bool if isinstance(v, (bool, np.bool_)) else np.float64)
            infos["_" + k] = np.zeros(n, dtype=bool)
        infos[k][i] = v
        infos["_" + k][i] = True


def info_row(info: dict[str, Any], i: int) -> dict[str, Any]:
    """Sub-env i's entries of a vector env's info dict (the inverse of :func:`add_info_row`)."""
    out = {}
    for k, v in info.items():
        if k.startswith("_") or not isinstance(v, np.ndarray):
            continue
        mask = info.get("_" + k)
        if mask is not None and not mask[i]:
            continue
        out[k] = v[i].item() if v[i].ndim == 0 and v.dtype != object else v[i]
    return out
