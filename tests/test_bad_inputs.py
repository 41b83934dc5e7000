"""Bad inputs and a bad machine (issue 40): nothing overwritten, nothing unexplained.

Every case runs the real command-line entry point (in this process, `trpo_mimic.cli.main`, unless it needs a
process of its own) and checks the exit code (2: a mistake of the command, 1: a fault of the machine, 130: an
interruption), that the error is one line naming the path, and that every input file is byte-for-byte what it was.
Read-only and full file systems are simulated (the tests may run as root, whom file modes do not stop): writes
below one directory fail with EROFS at open, or with ENOSPC at write. The fuzz cases at the end generate flags,
argument files, YAML, clips, character files and BVH files.
"""
from __future__ import annotations

import builtins
import contextlib
import errno
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT
from trpo_mimic.checkpoint import load_checkpoint
from trpo_mimic.cli import main
from trpo_mimic.config import Config, Range
from trpo_mimic.data import MOTIONS_DIR

FAST = ["--env_id", "Pendulum-v1", "--preset", "none", "--num_envs", "2", "--steps_per_env", "32", "--vf_epochs", "1",
        "--no-progress", "--eval_freq", "0", "--eval_episodes", "0", "--no-eval_video", "--save_per_iter", "1",
        "--num_timesteps", "64"]
CODES = (0, 1, 2, 130)


def run(*args: str) -> tuple[int, str, str]:
    """`trpo-mimic ARGS` in this process: (exit code, stdout, stderr); a traceback fails the test by itself."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse's own usage errors
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert re.match(r"trpo-mimic( [a-z-]+)?: ", lines[0]), err  # argparse's errors name the sub-command
    return lines[0]


def refused(code: int, err: str, want: int, *names: object) -> str:
    """The command ended with exit code `want` and one line naming each of `names`."""
    line = one_line(err)
    assert code == want, (code, err)
    for name in names:
        assert str(name) in line, (name, line)
    return line


def digest(*paths: Path) -> dict[str, str]:
    """sha256 of every file under `paths` (a run's .lock aside: it is its writer's, not its data)."""
    out = {}
    for p in paths:
        files = [p] if p.is_file() else sorted(q for q in p.rglob("*") if q.is_file() and q.name != ".lock")
        for f in files:
            out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def train_run(root: Path, name: str, *extra: str) -> Path:
    code, _, err = run("train", *FAST, "--checkpoint_dir", root, "--run_name", name, *extra)
    assert code == 0, err
    return root / name


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished two-iteration run whose episodes ended (read by the tests, never changed: they check that)."""
    return train_run(tmp_path_factory.mktemp("runs"), "done", "--steps_per_env", "128", "--num_timesteps", "512")


@pytest.fixture
def character(tmp_path) -> tuple[Path, Path]:
    """The humanoid's character and PD controller files, copied."""
    c, k = tmp_path / "C.txt", tmp_path / "K.txt"
    shutil.copy(MOTIONS_DIR / "humanoid3d.txt", c)
    shutil.copy(MOTIONS_DIR / "humanoid3d_phase_rot_ctrl.txt", k)
    return c, k


@pytest.fixture
def clip(tmp_path) -> Path:
    p = tmp_path / "walk.txt"
    shutil.copy(MOTIONS_DIR / "humanoid3d_walk.txt", p)
    return p


@pytest.fixture
def bvh(tmp_path, clip) -> Path:
    from trpo_mimic.mimic.bvh import deepmimic_to_bvh
    p = tmp_path / "walk.bvh"
    deepmimic_to_bvh(json.loads(clip.read_text()), p)
    return p


# ---- 1. no command overwrites an input or another run ----

@pytest.mark.parametrize("target", ["character", "controller", "link"])
def test_build_character_never_writes_over_its_inputs(tmp_path, character, target):
    c, k = character
    out = {"character": c, "controller": k, "link": tmp_path / "link.txt"}[target]
    if target == "link":
        out.symlink_to(c)
    before = digest(c, k)
    code, _, err = run("build-character", c, "--controller", k, "--out", out)
    line = refused(code, err, 2, out, "--out")
    assert "character file" in line or "controller file" in line
    assert digest(c, k) == before


def test_convert_bvh_never_writes_over_its_bvh(tmp_path, bvh):
    before = digest(bvh)
    for out in (bvh, tmp_path / "." / bvh.name):
        code, _, err = run("convert-bvh", bvh, "--out", out)
        refused(code, err, 2, out, "BVH file")
    assert digest(bvh) == before


def test_play_motion_never_writes_over_its_clip(clip):
    before = digest(clip)
    code, _, err = run("play-motion", clip, "--out", clip)
    refused(code, err, 2, clip, "clip")
    assert digest(clip) == before


def test_export_never_writes_over_the_checkpoint_or_its_run(tmp_path, trained):
    before = digest(trained)
    latest = trained / "latest.pt"
    cases = [
        (["--pretrained", latest], [latest, "checkpoint"]),  # the full checkpoint replaced by a weights-only file
        (["--pretrained", trained / "iter_7.pt"], [trained / "iter_7.pt", "a file of the run"]),
        (["--pretrained", trained / "config.json"], ["config.json", "a file of the run"]),
        (["--out", latest], [latest, "checkpoint"]),
    ]
    for flags, names in cases:
        code, _, err = run("export", trained, *flags)
        refused(code, err, 2, *names)
    named_like_an_output = tmp_path / "actor.pt"  # the TorchScript file's name
    shutil.copy(latest, named_like_an_output)
    code, _, err = run("export", named_like_an_output, "--out", tmp_path, "--no-onnx")
    refused(code, err, 2, "actor.pt", "over the checkpoint")
    assert digest(trained) == before
    assert load_checkpoint(named_like_an_output)["iteration"] == 2
    # the run still resumes (a weights-only file in its place would be refused)
    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    code, _, err = run("train", *FAST, "--resume", copy, "--num_timesteps", "1024")
    assert code == 0, err
    assert load_checkpoint(copy)["iteration"] > 2


def test_plot_never_writes_over_a_runs_files(trained):
    before = digest(trained)
    code, _, err = run("plot", trained, "--out", trained / "progress.csv")
    refused(code, err, 2, trained / "progress.csv")
    code, _, err = run("plot", trained, "--out", trained / "latest.pt")
    refused(code, err, 2, trained / "latest.pt", "a file of the run")
    assert digest(trained) == before


def test_a_run_name_that_holds_a_run_is_refused_and_replaced_only_when_asked(tmp_path):
    run_dir = train_run(tmp_path, "r", "--num_timesteps", "128")  # iter_1.pt, iter_2.pt
    before = digest(run_dir)
    code, _, err = run("train", *FAST, "--checkpoint_dir", tmp_path, "--run_name", "r")
    line = refused(code, err, 2, run_dir, "--resume", "--overwrite")
    assert "already holds a run" in line
    assert digest(run_dir) == before  # nothing overwritten, nothing appended
    # --resume with --overwrite is a contradiction
    code, _, err = run("train", *FAST, "--resume", run_dir, "--overwrite")
    refused(code, err, 2, "--resume", "--overwrite")
    # --overwrite that would remove the command's own input is refused too
    code, _, err = run("train", *FAST, "--checkpoint_dir", tmp_path, "--run_name", "r", "--overwrite",
                       "--pretrained_weight_path", run_dir / "latest.pt")
    refused(code, err, 2, run_dir / "latest.pt", "--pretrained_weight_path")
    assert digest(run_dir) == before
    # --overwrite: the old run's files go first, so the runs never mix; other files stay
    (run_dir / "videos").mkdir()
    (run_dir / "videos" / "final.mp4").write_bytes(b"old")
    (run_dir / "notes.txt").write_text("mine")
    code, _, err = run("train", *FAST, "--checkpoint_dir", tmp_path, "--run_name", "r", "--overwrite")
    assert code == 0, err
    assert sorted(p.name for p in run_dir.glob("*.pt")) == ["iter_1.pt", "latest.pt"]
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 1
    assert [row.split(",")[0] for row in (run_dir / "progress.csv").read_text().splitlines()[1:]] == ["64"]
    assert not (run_dir / "videos").exists() and (run_dir / "notes.txt").read_text() == "mine"
    assert json.loads((run_dir / "config.json").read_text())["overwrite"] is False
    # and it resumes like any run (its saved config does not carry --overwrite along)
    code, _, err = run("train", *FAST, "--resume", run_dir, "--num_timesteps", "128")
    assert code == 0, err
    assert load_checkpoint(run_dir)["iteration"] == 2


def test_default_run_names_never_collide(tmp_path, monkeypatch):
    from trpo_mimic import train as train_module
    monkeypatch.setattr(train_module, "default_run_name", lambda cfg: "same-second")
    for _ in range(2):
        code, _, err = run("train", *FAST, "--checkpoint_dir", tmp_path)
        assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same-second", "same-second-2"]
    assert all(load_checkpoint(tmp_path / n)["iteration"] == 1 for n in ("same-second", "same-second-2"))


@pytest.mark.parametrize("name", ["../escaped", "a/b", "/abs", ".", "..", ""])
def test_a_run_name_is_a_name_not_a_path(tmp_path, name):
    root = tmp_path / "runs"
    code, _, err = run("train", *FAST, "--checkpoint_dir", root, "--run_name", name)
    refused(code, err, 2, "--run_name", "--checkpoint_dir")
    assert not any(tmp_path.iterdir())  # nothing written, inside --checkpoint_dir or outside it


# ---- 2. a fault of the machine: one line, exit code 1 ----

class FullFile:
    """A file on a full disk: it opens, but no write gets through (OSError ENOSPC, which names no file)."""

    def __init__(self, fh):
        self.fh = fh

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def writelines(self, lines):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self.fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()

    def __iter__(self):
        return iter(self.fh)


def broken_file_system(monkeypatch, root: Path, err: int) -> None:
    """Below `root` writes fail: EROFS (read-only) or EACCES (permission denied) at every open for writing and
    every new directory, or ENOSPC (full) at every write through Python's open()."""
    root.mkdir(parents=True, exist_ok=True)
    real_open, real_os_open, real_mkdir = builtins.open, os.open, os.mkdir

    def under(path) -> bool:
        try:
            return os.path.abspath(os.fsdecode(path)).startswith(str(root))
        except TypeError:  # a file descriptor
            return False

    def fail(path):
        raise OSError(err, os.strerror(err), os.fsdecode(path))

    def fake_open(file, mode="r", *args, **kwargs):
        if under(file) and any(c in mode for c in "wax+"):
            if err != errno.ENOSPC:
                fail(file)
            return FullFile(real_open(file, mode, *args, **kwargs))
        return real_open(file, mode, *args, **kwargs)

    def fake_os_open(path, flags, *args, **kwargs):
        if err != errno.ENOSPC and under(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            fail(path)
        return real_os_open(path, flags, *args, **kwargs)

    def fake_mkdir(path, *args, **kwargs):
        if err != errno.ENOSPC and under(path):
            fail(path)
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(io, "open", fake_open)
    monkeypatch.setattr(os, "open", fake_os_open)
    monkeypatch.setattr(os, "mkdir", fake_mkdir)


def write_commands(tmp_path: Path, out: Path, trained: Path, clip: Path, bvh: Path, c: Path, k: Path) -> dict:
    """Each command writing below `out`: (its arguments, the path its error must name)."""
    return {
        "train": (["train", *FAST, "--checkpoint_dir", out, "--run_name", "t"], out / "t"),
        "evaluate": (["evaluate", "--load_model_path", trained, "--num_eval_episodes", "1", "--max_episode_steps",
                      "5", "--record_video", "--video_dir", out / "v", "--no-progress"], out / "v"),
        "export": (["export", trained, "--out", out / "e", "--no-onnx"], out / "e"),
        "export --pretrained": (["export", trained, "--pretrained", out / "p.pt"], out / "p.pt"),
        "convert-bvh": (["convert-bvh", bvh, "--out", out / "clip.txt"], out / "clip.txt"),
        "build-character": (["build-character", c, "--controller", k, "--out", out / "c.xml"], out / "c.xml"),
        "play-motion": (["play-motion", clip, "--out", out / "clip.mp4", "--fps", "5"], out / "clip.mp4"),
        "plot": (["plot", trained, "--out", out / "curve.png"], out / "curve.png"),
    }


@pytest.mark.parametrize("err", [errno.EROFS, errno.EACCES], ids=["read-only", "permission"])
@pytest.mark.parametrize("command", ["train", "evaluate", "export", "export --pretrained", "convert-bvh",
                                     "build-character", "play-motion", "plot"])
def test_a_read_only_file_system_is_one_line_and_exit_1(tmp_path, monkeypatch, trained, clip, bvh, character,
                                                         command, err):
    ro = tmp_path / "ro"
    args, named = write_commands(tmp_path, ro, trained, clip, bvh, *character)[command]
    inputs = digest(trained, clip, bvh, *character)
    broken_file_system(monkeypatch, ro, err)
    code, _, stderr = run(*args)
    monkeypatch.undo()
    line = refused(code, stderr, 1, named, os.strerror(err))
    assert digest(trained, clip, bvh, *character) == inputs
    assert not list(ro.rglob("*")), line


@pytest.mark.parametrize("command", ["export", "convert-bvh", "build-character", "plot"])
def test_a_full_disk_is_one_line_and_exit_1_and_leaves_no_partial_file(tmp_path, monkeypatch, trained, clip, bvh,
                                                                      character, command):
    full = tmp_path / "full"
    args, named = write_commands(tmp_path, full, trained, clip, bvh, *character)[command]
    broken_file_system(monkeypatch, full, errno.ENOSPC)
    code, _, err = run(*args)
    monkeypatch.undo()
    line = refused(code, err, 1, named, "No space left on device", "free on")
    if command != "export":
        assert not named.exists(), line


def test_a_video_encoder_that_stops_is_one_line(tmp_path, monkeypatch, clip):
    """ffmpeg ending early (a full disk under its feet) reaches imageio as a many-line IOError with no file name."""
    import imageio.v2 as imageio

    class Stopped:
        def append_data(self, frame):
            raise OSError("[Errno 32] Broken pipe\n\nFFMPEG COMMAND:\nffmpeg ...\n\nFFMPEG STDERR OUTPUT:\n")

        def close(self):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

    monkeypatch.setattr(imageio, "get_writer", lambda *a, **k: Stopped())
    out = tmp_path / "clip.mp4"
    code, _, err = run("play-motion", clip, "--out", out, "--fps", "5")
    refused(code, err, 1, out, "the video encoder (ffmpeg) stopped")
    assert not out.exists()


@pytest.mark.parametrize("case", ["checkpoint_dir", "video_dir", "export --out", "out a directory"])
def test_a_file_where_a_directory_is_needed_and_back(tmp_path, trained, character, case):
    a_file = tmp_path / "a_file"
    a_file.write_text("not a directory")
    c, k = character
    args, blocker = {
        "checkpoint_dir": (["train", *FAST, "--checkpoint_dir", a_file, "--run_name", "r"], a_file),
        "video_dir": (["evaluate", "--load_model_path", trained, "--num_eval_episodes", "1", "--max_episode_steps",
                       "5", "--record_video", "--video_dir", a_file / "v", "--no-progress"], a_file),
        "export --out": (["export", trained, "--out", a_file, "--no-onnx"], a_file),
        "out a directory": (["build-character", c, "--controller", k, "--out", tmp_path], tmp_path),
    }[case]
    code, _, err = run(*args)
    line = refused(code, err, 1, blocker)
    assert "is a file, not a directory" in line or "is a directory, not a file" in line
    assert a_file.read_text() == "not a directory"


# ---- 3. undecodable and absurd inputs: one line naming the file, exit code 2 ----

@pytest.mark.parametrize("flag", ["--arg_file", "--config"])
@pytest.mark.parametrize("content", [b"\xff\xfe\x00\x01binary", b"--env_id Pendulum-v1\n--seed \x00 1\n",
                                     bytes(range(256))])
def test_an_arg_file_or_yaml_that_is_not_text(tmp_path, flag, content):
    f = tmp_path / "flags.bin"
    f.write_bytes(content)
    code, _, err = run("train", flag, f)
    refused(code, err, 2, f, "not a text")
    assert f.read_bytes() == content


def test_an_arg_file_that_is_a_directory(tmp_path):
    code, _, err = run("train", "--arg_file", tmp_path)
    refused(code, err, 2, tmp_path, "Is a directory")


def test_a_bvh_whose_frame_count_is_absurd_is_refused_before_allocating(tmp_path, bvh):
    huge = tmp_path / "huge.bvh"
    huge.write_text(re.sub(r"Frames: \d+", "Frames: 99999999999999999", bvh.read_text()))
    t0 = time.perf_counter()
    code, _, err = run("convert-bvh", huge, "--out", tmp_path / "out.txt")
    refused(code, err, 2, "huge.bvh", "Frames: 99999999999999999", "frame line(s)")
    assert time.perf_counter() - t0 < 30 and not (tmp_path / "out.txt").exists()


def test_a_directory_given_as_motion_file_is_said_to_be_one(tmp_path, clip):
    code, _, err = run("play-motion", tmp_path, "--out", tmp_path / "x.mp4")
    refused(code, err, 2, tmp_path, "is a directory, not a motion clip")
    code, _, err = run("train", "--env_id", "DeepMimic-v0", "--motion_file", tmp_path, "--num_envs", "1",
                       "--checkpoint_dir", tmp_path / "runs", "--num_timesteps", "64", "--no-progress")
    refused(code, err, 2, tmp_path, "is a directory, not a motion clip")


def test_a_missing_character_file_is_said_to_be_one(tmp_path, clip):
    for missing in (tmp_path / "no_such_character.txt", "no_such_character.txt"):
        code, _, err = run("play-motion", clip, "--character_file", missing, "--out", tmp_path / "x.mp4")
        line = refused(code, err, 2, "no_such_character.txt")
        assert ("character file" in line or "character_file" in line) and "motion clip" not in line \
            and "motion_file" not in line, line
    code, _, err = run("play-motion", clip, "--character_file", tmp_path, "--out", tmp_path / "x.mp4")
    refused(code, err, 2, tmp_path, "is a directory, not a character file")


@pytest.mark.parametrize("flag,value,message", [
    ("--gamma", "1.5", "--gamma must be in [0, 1], got 1.5"),
    ("--gamma", "-0.01", "--gamma must be in [0, 1], got -0.01"),
    ("--gamma", "nan", "--gamma must be in [0, 1], got nan"),
    ("--lam", "inf", "--lam must be in [0, 1], got inf"),
    ("--lam", "-1", "--lam must be in [0, 1], got -1.0"),
    ("--vf_lr", "nan", "--vf_lr must be positive, got nan"),
    ("--init_log_std", "inf", "--init_log_std must be a finite number, got inf"),
    ("--cg_damping", "-1", "--cg_damping must be non-negative (>= 0), got -1.0"),
    ("--ls_backtrack", "1", "--ls_backtrack must be in (0, 1), got 1.0"),
    ("--fvp_subsample", "0", "--fvp_subsample must be in (0, 1], got 0.0"),
    ("--seed", "-1", "--seed must be in [0, 4294967295], got -1"),
    ("--policy_hidden_size", "64 0", "--policy_hidden_size must be positive, got [64, 0]"),
    ("--target_kl", "nan", "--target_kl must be positive, got nan"),
    ("--stop_reward_per_step", "nan", "--stop_reward_per_step must be a finite number, got nan"),
])
@pytest.mark.parametrize("where", ["flag", "arg_file", "yaml"])
def test_a_numeric_option_out_of_its_declared_range(tmp_path, flag, value, message, where):
    if where == "flag":
        args = [flag, *value.split()]
    elif where == "arg_file":
        (tmp_path / "a.txt").write_text(f"{flag} {value}\n")
        args = ["--arg_file", tmp_path / "a.txt"]
    else:
        words = value.split()
        yaml_value = words[0] if len(words) == 1 else "[" + ", ".join(words) + "]"
        (tmp_path / "c.yaml").write_text(f"{flag[2:]}: {yaml_value}\n")
        args = ["--config", tmp_path / "c.yaml"]
    code, _, err = run("train", *FAST, "--checkpoint_dir", tmp_path / "runs", "--eval_freq", "1",
                       "--eval_episodes", "1", *args)
    assert refused(code, err, 2) == f"trpo-mimic: error: {message}"
    assert not (tmp_path / "runs").exists()  # refused before anything was written


def test_every_numeric_option_declares_its_range():
    import typing
    hints = typing.get_type_hints(Config)
    for f in fields(Config):
        kind = [t for t in typing.get_args(hints[f.name]) if t is not type(None)] or [hints[f.name]]
        if kind[0] in (int, float) or f.metadata.get("type") in (int, float):
            assert isinstance(f.metadata.get("range"), Range), f.name
    code, out, _ = run("train", "--help")
    assert code == 0 and "must be in [0, 1]" in " ".join(out.split())


def test_the_declared_ranges_are_checked_on_a_resumed_config_too(tmp_path, trained):
    copy = tmp_path / "r"
    shutil.copytree(trained, copy)
    code, _, err = run("train", "--resume", copy, "--gamma", "2", "--num_timesteps", "1024")
    refused(code, err, 2, "--gamma must be in [0, 1], got 2.0")


# ---- Ctrl-C ----

def test_ctrl_c_during_evaluate_in_process(monkeypatch, trained):
    from trpo_mimic import evaluate as evaluate_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluate_module, "evaluate_policy", interrupted)
    code, _, err = run("evaluate", "--load_model_path", trained, "--no-progress")
    assert code == 130 and one_line(err) == "trpo-mimic: interrupted by SIGINT"


def test_ctrl_c_during_evaluate(trained):
    """A real SIGINT to a real process, while it evaluates a very long episode (or, on a slow machine, while it
    still imports): exit code 130 and one line either way."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"))
    proc = subprocess.Popen([sys.executable, "-m", "trpo_mimic", "evaluate", "--load_model_path", str(trained),
                             "--num_eval_episodes", "1", "--max_episode_steps", "100000000", "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(4)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and one_line(err) == "trpo-mimic: interrupted by SIGINT", (proc.returncode, err)


def test_ctrl_c_during_training_saves_and_says_so_in_one_line(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"))
    flags = [f for f in FAST if f != "64"] + ["100000000"]  # --num_timesteps: far more than it will get to
    proc = subprocess.Popen([sys.executable, "-m", "trpo_mimic", "train", *flags, "--checkpoint_dir", str(tmp_path),
                             "--run_name", "r"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        for line in proc.stdout:
            if line.startswith("iter 2 "):
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    run_dir = tmp_path / "r"
    assert proc.returncode == 130, err
    assert one_line(err) == (f"trpo-mimic: interrupted by SIGINT; saved {run_dir / 'latest.pt'} (--resume {run_dir} "
                             f"continues the run)")
    assert load_checkpoint(run_dir)["iteration"] >= 2


def test_argparse_mistakes_are_one_line_too():
    for args, needle in [(["train", "--action_mode", "sideways"], "invalid choice: 'sideways'"),
                         (["train", "--seed", "one"], "invalid int value: 'one'"),
                         (["train", "--cpu", "\r\nforged line"], "unrecognized arguments: \\x0d\\x0aforged line"),
                         (["no-such-command"], "invalid choice: 'no-such-command'")]:
        code, _, err = run(*args)
        line = refused(code, err, 2, needle)
        assert line.endswith("--help)"), line


# ---- fuzz: generated inputs against the real entry point ----

EXAMPLES = int(os.environ.get("TRPO_MIMIC_FUZZ_EXAMPLES", "100"))
"""Cases per fuzz test ($TRPO_MIMIC_FUZZ_EXAMPLES for a longer search); the clips' third of it (each is drawn)."""
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])
FLAGS = sorted(f"--{f.name}" for f in fields(Config)) + ["--arg_file", "--config", "--preset"]
VALUES = st.one_of(
    st.sampled_from(["0", "-1", "1", "nan", "-nan", "inf", "-inf", "1e999", "1e-320", "0.5", "1.5", "", "none",
                     "None", "true", "../x", "/", "a/b", ".", "..", "--", "-", "99999999999999999999999",
                     "Pendulum-v1", "CartPole-v1", "DeepMimic-v0", "builtin:walk", "latest", "64 64", "\x00",
                     "é", "\U0001f600"]),
    st.text(max_size=6), st.integers(-10**20, 10**20).map(str), st.floats().map(repr))


def guarded(monkeypatch):
    """train and evaluate stopped where they would start working: what is fuzzed is everything before."""
    from trpo_mimic import evaluate as evaluate_module
    from trpo_mimic import train as train_module
    seen = []
    monkeypatch.setattr(train_module, "train", lambda cfg: seen.append(cfg))
    monkeypatch.setattr(evaluate_module, "evaluate", lambda opts: seen.append(opts))
    return seen


def check_run(*args) -> int:
    code, _, err = run(*args)
    assert code in CODES, (code, err)
    if code:  # the error is the last line (warnings about a clip may come before it); argparse's name the command
        assert re.match(r"trpo-mimic( [a-z-]+)?: (error|interrupted)", err.strip().splitlines()[-1]), err
    return code


@FUZZ
@given(command=st.sampled_from(["train", "evaluate"]),
       pairs=st.lists(st.tuples(st.sampled_from(FLAGS), VALUES), max_size=4))
def test_fuzz_flags(tmp_path, monkeypatch, command, pairs):
    guarded(monkeypatch)
    argv = [command, "--checkpoint_dir", str(tmp_path / "runs")]
    for flag, value in pairs:
        argv += [flag, *value.split(" ")] if value else [flag]
    with monkeypatch.context() as m:
        m.chdir(tmp_path)
        check_run(*argv)


FLAG_LINES = st.lists(st.one_of(
    st.tuples(st.sampled_from(FLAGS), VALUES).map(lambda p: f"{p[0]} {p[1]}"),
    st.text(max_size=20), st.sampled_from(["# comment", "--env_id 'a b", '"', "\\", "--seed=3", "-- x"])),
    max_size=6).map("\n".join)


@FUZZ
@given(content=st.one_of(FLAG_LINES.map(lambda s: s.encode("utf-8", "surrogatepass")), st.binary(max_size=64)),
       yaml_form=st.booleans())
def test_fuzz_arg_files_and_yaml(tmp_path, monkeypatch, content, yaml_form):
    guarded(monkeypatch)
    f = tmp_path / ("flags.yaml" if yaml_form else "flags.txt")
    if yaml_form and content and content[:1] != b"\xff":  # also YAML made of flag names and values
        content = content.replace(b"--", b"").replace(b" ", b": ", 1)
    f.write_bytes(content)
    check_run("train", "--checkpoint_dir", str(tmp_path / "runs"), "--config" if yaml_form else "--arg_file", str(f))
    assert f.read_bytes() == content


def mutate(raw: bytes, data) -> bytes:
    raw = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 6))):
        if not raw:
            break
        op = data.draw(st.sampled_from(["flip", "cut", "insert", "number"]))
        i = data.draw(st.integers(0, len(raw) - 1))
        if op == "flip":
            raw[i] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del raw[i:i + data.draw(st.integers(1, 100))]
        elif op == "insert":
            raw[i:i] = data.draw(st.binary(min_size=1, max_size=12))
        else:
            raw[i:i] = data.draw(st.sampled_from([b"1e308", b"-1", b"nan", b"0", b"99999999999999", b"-0.0"]))
    return bytes(raw)


@FUZZ
@given(data=st.data())
def test_fuzz_bvh_files(tmp_path, bvh, data):
    src = tmp_path / "fuzzed.bvh"
    src.write_bytes(mutate(bvh.read_bytes(), data))
    before = digest(src)
    out = tmp_path / "out.txt"
    out.unlink(missing_ok=True)
    code = check_run("convert-bvh", src, "--out", out, "--loop", data.draw(st.sampled_from(["none", "wrap"])))
    assert digest(src) == before and out.exists() == (code == 0)


@FUZZ
@given(data=st.data())
def test_fuzz_character_files(tmp_path, character, data):
    c, k = character
    src = tmp_path / "fuzzed_character.txt"
    src.write_bytes(mutate(c.read_bytes(), data))
    before = digest(src, k)
    out = tmp_path / "out.xml"
    out.unlink(missing_ok=True)
    code = check_run("build-character", src, "--controller", k, "--out", out)
    assert digest(src, k) == before and out.exists() == (code == 0)


@settings(FUZZ, max_examples=max(1, EXAMPLES // 3))
@given(data=st.data())
def test_fuzz_clips(tmp_path, clip, data):
    src = tmp_path / "fuzzed_clip.txt"
    src.write_bytes(mutate(clip.read_bytes(), data))
    before = digest(src)
    out = tmp_path / "out.mp4"
    out.unlink(missing_ok=True)
    code = check_run("play-motion", src, "--out", out, "--fps", "2")
    assert digest(src) == before and out.exists() == (code == 0)
