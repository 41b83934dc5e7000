"""Shared helpers for the DeepMimic tests: where the shared clips live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering; read when mujoco is imported

CLIPS = ("walk", "run", "jump", "backflip")


def motions_dir() -> Path:
    """../shared/motions beside the repository; skip (fail on CI) when absent."""
    path = Path(__file__).resolve().parents[1].parent / "shared" / "motions"
    if not (path / "humanoid3d_walk.txt").is_file():
        msg = f"shared DeepMimic clips not found at {path}"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def clip_path(name: str) -> Path:
    """Path of humanoid3d_<name>.txt in the shared clips."""
    return motions_dir() / f"humanoid3d_{name}.txt"
