"""Tuned presets (as rl-baselines3-zoo keeps hyperparameters per environment): ``trpo-mimic train --env_id X``
starts from the arg file of ``configs/`` made for X and the algorithm, and says which; ``--preset none`` keeps
the raw defaults, ``--preset FILE`` names one. A run with its own ``--arg_file``, ``--config`` or ``--resume``
gets no preset. The files ship inside the package (``trpo_mimic/configs``; ``configs/`` in a source checkout)."""

from __future__ import annotations

import shlex
from pathlib import Path

from .tasks import task_for

PRESET_DIR = Path(__file__).resolve().parent / "configs"
DEEPMIMIC_PRESET = "deepmimic.txt"
AMP_PRESET = "amp.txt"
"""The DeepMimic preset, which every DeepMimic id trains with (:meth:`.mimic.task.DeepMimicTask.preset`) and
``--skill`` names."""
PRESET_IDS = {"mujoco.txt": ("Hopper-v5", "Walker2d-v5", "Ant-v5", "Humanoid-v5")}
"""TRPO presets shared by several ids (their files name no ``--env_id``): rl-baselines3-zoo gives these four
MuJoCo tasks the same TRPO settings."""


def _flag(path: Path, name: str) -> str | None:
    """The value an arg file gives ``--name`` (None if it does not)."""
    words: list[str] = []
    for line in path.read_text().splitlines():
        words += shlex.split(line.split("#", 1)[0])
    for i, w in enumerate(words):
        if w == f"--{name}" and i + 1 < len(words):
            return words[i + 1]
        if w.startswith(f"--{name}="):
            return w.split("=", 1)[1]
    return None


def preset_for(env_id: str, algo: str = "trpo") -> Path | None:
    """The preset of ``env_id`` and ``algo``: the arg file of PRESET_DIR that sets that ``--env_id`` (and that
    ``--algo``; none set means TRPO); the one of the id's task (:meth:`.tasks.Task.preset`: for the DeepMimic ids,
    DEEPMIMIC_PRESET); for the ids of PRESET_IDS, their shared file (TRPO). None if there is none."""
    task = task_for(env_id)
    if task.owns(env_id):
        return task.preset(env_id, algo)
    for name, ids in PRESET_IDS.items():
        if env_id in ids:
            return PRESET_DIR / name if algo == "trpo" else None
    for path in sorted(PRESET_DIR.glob("*.txt")):
        if _flag(path, "env_id") == env_id and (_flag(path, "algo") or "trpo") == algo:
            return path
    return None


def shown(path: Path) -> str:
    """How to name a preset to the user: configs/<name> when it is one of ours."""
    try:
        return f"configs/{path.resolve().relative_to(PRESET_DIR)}"
    except ValueError:
        return str(path)
