import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_MOTIONS = ROOT.parent / "shared" / "motions"


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300, env: dict | None = None):
    """Run `python -m trpo_mimic ...` in a subprocess; returns CompletedProcess."""
    e = dict(os.environ)
    e.setdefault("MUJOCO_GL", "egl")
    e["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + e.get("PYTHONPATH", "")
    if env:
        e.update(env)
    return subprocess.run([sys.executable, "-m", "trpo_mimic", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=e)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def motions_dir() -> Path:
    """The shared DeepMimic clips; in CI (CI=true) their absence is a failure, not a skip."""
    if not (SHARED_MOTIONS / "humanoid3d_walk.txt").exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"shared motions are missing at {SHARED_MOTIONS} (required in CI)")
        pytest.skip(f"shared motions not found at {SHARED_MOTIONS}")
    return SHARED_MOTIONS
