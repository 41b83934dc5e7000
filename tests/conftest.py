import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _test_args(args) -> list[str]:
    args = list(args)
    if ("train" in args[:1] or args[:2] == ["--task", "train"]) and not any(a.startswith("--preset") for a in args):
        args += ["--preset", "none"]  # tests train with the raw defaults unless they test the presets
    return args


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300, env: dict | None = None):
    """Run `python -m trpo_mimic ...` in a subprocess; returns CompletedProcess."""
    e = dict(os.environ)
    e.setdefault("MUJOCO_GL", "egl")
    e["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + e.get("PYTHONPATH", "")
    if env:
        e.update(env)
    return subprocess.run([sys.executable, "-m", "trpo_mimic", *_test_args(args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=e)


def run_cli_here(*args: str, cwd: Path | None = None, timeout: float = 300, env: dict | None = None):
    """`run_cli` in this process: ``trpo_mimic.cli.main`` with stdout and stderr captured (what the Python code
    prints; not what C libraries write to the file descriptors), the environment and working directory restored
    after. No interpreter start and no torch import per call: for tests of what the commands do and print, not
    of how a process starts, ends or dies (those use ``run_cli``). ``timeout`` is not enforced here."""
    from trpo_mimic.cli import main
    args = _test_args(args)
    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    try:
        os.environ.setdefault("MUJOCO_GL", "egl")
        os.environ.update(env or {})
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(args)
            except SystemExit as exc:  # argparse's own errors and --help
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
    return subprocess.CompletedProcess(["trpo-mimic", *args], code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli():
    return run_cli_here


@pytest.fixture
def cli_process():
    return run_cli
