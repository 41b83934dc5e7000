"""The package works from a wheel alone: built from this checkout, installed into a new virtual environment in an
empty directory, with no checkout and no ``../shared`` beside it and an empty ``HOME``, it lists its policies,
evaluates one by name, draws a clip by name, trains a skill by name and makes the environment from Python.

No network: the new environment gets the wheel alone (``--no-index --no-deps``) and sees the test environment's
installed dependencies through a path file (which does not carry this checkout's editable install along: path
files inside a directory added that way are not read)."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    return r


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    """(bin directory of the new environment, an empty working directory, the environment variables)."""
    base = tmp_path_factory.mktemp("clean_room")
    dist = base / "dist"
    _run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "--no-index",
          "-q", "-w", str(dist)], cwd=base, env=dict(os.environ))
    wheels = list(dist.glob("trpo_mimic-*.whl"))
    assert len(wheels) == 1, wheels
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=base, env=dict(os.environ))
    py = venv / "bin" / "python"
    _run([str(py), "-m", "pip", "install", "--no-index", "--no-deps", "-q", str(wheels[0])], cwd=base,
         env=dict(os.environ))
    new_site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   capture_output=True, text=True, check=True).stdout.strip())
    deps = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()]
    (new_site / "_test_dependencies.pth").write_text("\n".join(dict.fromkeys(deps)) + "\n")
    work = base / "empty"
    work.mkdir()
    home = base / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "TRPO_MIMIC_MOTION_DIR", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(HOME=str(home), MUJOCO_GL=env.get("MUJOCO_GL", "egl"), PATH=f"{venv / 'bin'}{os.pathsep}"
               + env.get("PATH", ""))
    return venv / "bin", work, env


def test_the_wheel_holds_the_data_and_no_checkout_is_used(room):
    bin_dir, work, env = room
    r = _run([str(bin_dir / "python"), "-c", "import trpo_mimic, trpo_mimic.data as d; print(trpo_mimic.__file__); "
              "print(len(list(d.MOTIONS_DIR.glob('*.txt'))), len(list(d.PRETRAINED_DIR.glob('*.pt'))))"], work, env)
    where, counts = r.stdout.split("\n")[:2]
    assert Path(where).resolve().is_relative_to(bin_dir.parent.resolve()), where  # the wheel's copy, not src/
    clips, policies = map(int, counts.split())
    assert clips >= 19 and policies == len(list((ROOT / "pretrained").glob("*.pt")))
    assert not (work.parent / "shared").exists() and not any(work.iterdir())


def test_listing_evaluating_drawing_and_training_by_name(room):
    bin_dir, work, env = room
    exe = str(bin_dir / "trpo-mimic")
    r = _run([exe, "pretrained"], work, env)
    assert "walk" in r.stdout and "backflip" in r.stdout and "(no card)" not in r.stdout
    r = _run([exe, "evaluate", "--pretrained", "walk", "--num_eval_episodes", "2", "--max_episode_steps", "60",
              "--no-progress"], work, env)
    assert "episodes: 2" in r.stdout and "note: clip" not in r.stdout  # the shipped clip is the one it learned
    _run([exe, "play-motion", "humanoid3d_backflip.txt", "--out", "x.mp4"], work, env)
    assert (work / "x.mp4").stat().st_size > 1000
    r = _run([exe, "train", "--skill", "crawl", "--num_timesteps", "8192", "--num_envs", "4", "--steps_per_env",
              "256", "--run_name", "crawl", "--no-progress"], work, env, timeout=600)
    assert (work / "runs" / "crawl" / "latest.pt").is_file(), r.stdout[-1000:]
    r = _run([str(bin_dir / "python"), "-c", "import trpo_mimic, gymnasium; "
              "env = gymnasium.make('DeepMimic-v0', motion_file='humanoid3d_walk.txt'); env.reset(seed=0); "
              "print(env.unwrapped.clip.name)"], work, env)
    assert r.stdout.strip().endswith("humanoid3d_walk.txt")
