"""Shared helpers for the DeepMimic tests: where the clips live (the package's own data)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering; read when mujoco is imported

from trpo_mimic.data import MOTIONS_DIR  # noqa: E402

CLIPS = ("walk", "run", "jump", "backflip")


def motions_dir() -> Path:
    """The package's DeepMimic clips, characters and controller files (trpo_mimic/data/motions)."""
    return MOTIONS_DIR


def clip_path(name: str) -> Path:
    """Path of humanoid3d_<name>.txt in the package's clips."""
    return motions_dir() / f"humanoid3d_{name}.txt"
