import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300, env: dict | None = None):
    """Run `python -m trpo_mimic ...` in a subprocess; returns CompletedProcess."""
    e = dict(os.environ)
    e.setdefault("MUJOCO_GL", "egl")
    e["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + e.get("PYTHONPATH", "")
    if env:
        e.update(env)
    args = list(args)
    if ("train" in args[:1] or args[:2] == ["--task", "train"]) and not any(a.startswith("--preset") for a in args):
        args += ["--preset", "none"]  # tests train with the raw defaults unless they test the presets
    return subprocess.run([sys.executable, "-m", "trpo_mimic", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=e)


@pytest.fixture
def cli():
    return run_cli
