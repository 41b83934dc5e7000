"""Faults a long run meets (issue 21): a full disk, a dead rank, a second writer in a run directory."""
import csv
import errno
import io
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import ROOT
from test_distributed import free_port
from trpo_mimic import logger as logger_module
from trpo_mimic.checkpoint import load_checkpoint
from trpo_mimic.cli import main
from trpo_mimic.faults import RunLock
from trpo_mimic.train import Trainer

FAST = ["--env_id", "Pendulum-v1", "--preset", "none", "--num_envs", "2", "--steps_per_env", "32", "--vf_epochs", "1",
        "--no-progress", "--eval_freq", "0", "--eval_episodes", "0", "--no-eval_video", "--save_per_iter", "1"]
FREE = r"\d+(\.\d)? (B|KiB|MiB|GiB|TiB) free on "
ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def train(tmp_path: Path, *extra: str) -> int:
    """`trpo-mimic train` in this process (so that a write can be made to fail), run `r` under tmp_path."""
    return main(["train", *FAST, "--checkpoint_dir", str(tmp_path), "--run_name", "r", *extra])


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_full_disk_on_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch, capsys):
    real_save, calls = torch.save, []

    def save(obj, fh):  # the third checkpoint write (latest.pt of iteration 2) fills the disk half way
        calls.append(1)
        if len(calls) < 3:
            return real_save(obj, fh)
        buf = io.BytesIO()
        real_save(obj, buf)
        fh.write(buf.getvalue()[:len(buf.getvalue()) // 2])
        raise ENOSPC

    monkeypatch.setattr(torch, "save", save)
    run = tmp_path / "r"
    assert train(tmp_path, "--num_timesteps", "100000") == 1
    line = one_line(capsys.readouterr().err)
    assert re.fullmatch(rf"trpo-mimic: error: cannot write {re.escape(str(run / 'latest.pt'))}: No space left on "
                        rf"device \({FREE}{re.escape(str(run))}\); the previous latest.pt is kept", line), line
    assert load_checkpoint(run / "latest.pt")["iteration"] == 1  # iteration 1's, whole
    assert sorted(p.name for p in run.glob("*.pt")) == ["iter_1.pt", "latest.pt"]
    assert not list(run.glob(".*.tmp"))  # the half-written temporary is gone
    RunLock(run).release()  # and the run directory was given back


@pytest.mark.parametrize("failing", ["progress.csv", "events.out.tfevents"])
def test_full_disk_on_the_logs_ends_the_run_and_keeps_what_was_written(tmp_path, monkeypatch, capsys, failing):
    disk = {"full": False}

    class FillingFile:
        """The file the logger opened; once the disk is full a write lands half its bytes, then fails."""

        def __init__(self, fh):
            self.fh = fh

        def write(self, data):
            if disk["full"] and Path(self.fh.name).name.startswith(failing):
                self.fh.write(data[:len(data) // 2])
                raise ENOSPC
            return self.fh.write(data)

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __iter__(self):
            return iter(self.fh)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    monkeypatch.setattr(logger_module, "open", lambda *a, **k: FillingFile(open(*a, **k)), raising=False)
    real_iterate = Trainer.iterate

    def iterate(self):  # the disk fills during the third iteration, before its scalars are logged
        out = real_iterate(self)
        disk["full"] = self.iteration == 3
        return out

    monkeypatch.setattr(Trainer, "iterate", iterate)
    run = tmp_path / "r"
    assert train(tmp_path, "--num_timesteps", "100000") == 1
    line = one_line(capsys.readouterr().err)
    name = "progress.csv" if failing == "progress.csv" else r"events\.out\.tfevents\.[^:/]+"
    assert re.fullmatch(rf"trpo-mimic: error: cannot write {re.escape(str(run))}/{name}: No space left on device "
                        rf"\({FREE}{re.escape(str(run))}\); what was written before is kept", line), line
    assert load_checkpoint(run / "latest.pt")["iteration"] == 2
    # the run resumes: rows and events written before the fault are kept, the half row is dropped
    disk["full"] = False
    monkeypatch.setattr(Trainer, "iterate", real_iterate)
    assert train(tmp_path, "--resume", str(run), "--num_timesteps", "256") == 0
    with open(run / "progress.csv", newline="") as fh:
        header, *rows = csv.reader(fh)
    assert [r[0] for r in rows] == ["64", "128", "192", "256"]
    assert all(len(r) == len(header) for r in rows)  # no row glued to a half one
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(run))
    acc.Reload()
    steps = [e.step for e in acc.Scalars("iteration")]
    assert steps[:2] == [64, 128] and steps[-2:] == [192, 256], steps


def test_full_disk_on_a_video_or_the_plot_is_a_warning(tmp_path, monkeypatch, capsys):
    import imageio.v2 as imageio
    import matplotlib.figure

    class FullWriter:
        def append_data(self, frame):
            raise ENOSPC

        def close(self):
            pass

    def full_writer(path, **kwargs):
        Path(path).write_bytes(b"\0" * 10)  # the header got out before the disk filled
        return FullWriter()

    def full_savefig(self, fname, *args, **kwargs):
        raise ENOSPC

    monkeypatch.setattr(imageio, "get_writer", full_writer)
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", full_savefig)
    run = tmp_path / "r"
    assert train(tmp_path, "--num_timesteps", "128", "--eval_freq", "1", "--eval_episodes", "1", "--eval_video",
                 "--eval_video_budget", "1", "--max_episode_steps", "20") == 0
    err = capsys.readouterr().err.strip().splitlines()
    videos = [rf"warning: cannot write {re.escape(str(run / 'videos' / tag))}\.mp4: No space left on device "
              rf"\({FREE}{re.escape(str(run / 'videos'))}\); evaluating without video" for tag in ("iter_1", "iter_2",
                                                                                                 "final")]
    curve = (rf"warning: cannot write {re.escape(str(run / 'learning_curve.png'))}: No space left on device "
             rf"\({FREE}{re.escape(str(run))}\); no learning curve written")
    assert len(err) == 4 and all(re.fullmatch(p, l) for p, l in zip(videos + [curve], err)), err
    assert load_checkpoint(run / "latest.pt")["iteration"] == 2  # training went on to its end
    assert not (run / "videos").exists() or not list((run / "videos").iterdir())  # no unplayable files left


def test_a_really_failing_write(tmp_path):
    """A real write failure, not an injected one: the training process may write files of at most 64 KiB
    (RLIMIT_FSIZE; the kernel then fails the write with EFBIG, as a full disk fails it with ENOSPC). Its first
    checkpoint (about 100 KiB) cannot be written: one line, exit code 1, no temporary file left, and the logs
    written before are whole. (torch.save wraps such an OSError in a RuntimeError of its own; the run still names
    the OSError.)"""
    import resource

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, 64 << 10))

    r = subprocess.run([sys.executable, "-m", "trpo_mimic", "train", *FAST, "--checkpoint_dir", str(tmp_path),
                        "--run_name", "r", "--num_timesteps", "128"], capture_output=True, text=True,
                       preexec_fn=small_files, env=dict(os.environ, PYTHONPATH=str(ROOT / "src")), timeout=300)
    run = tmp_path / "r"
    line = one_line(r.stderr)
    assert r.returncode == 1 and re.fullmatch(rf"trpo-mimic: error: cannot write {re.escape(str(run))}/[^:]+: File "
                                              rf"too large \({FREE}{re.escape(str(run))}\); .+", line), line
    assert not list(run.glob(".*.tmp")) and not list(run.glob("*.tmp"))
    rows = list(csv.reader(open(run / "progress.csv")))
    assert len(rows) >= 2 and all(len(row) == len(rows[0]) for row in rows)


# ---- one writer per run directory ----

def test_a_second_writer_is_refused_naming_the_live_process(tmp_path, cli, capsys):
    run = tmp_path / "r"
    assert train(tmp_path, "--num_timesteps", "64") == 0
    held = RunLock(run)  # what a live training holds
    try:
        refusal = (f"trpo-mimic: error: {run} is in use by process {os.getpid()} (a run directory has one writer): "
                   f"wait for it to end or stop it, or train under another --run_name")
        r = cli("train", "--resume", str(run), "--num_timesteps", "128", "--no-progress")
        assert r.returncode == 1 and one_line(r.stderr) == refusal, r.stderr
        capsys.readouterr()
        assert train(tmp_path, "--num_timesteps", "128") == 1  # a new run under the same --run_name
        assert one_line(capsys.readouterr().err) == refusal
    finally:
        held.release()
    assert load_checkpoint(run / "latest.pt")["iteration"] == 1  # nothing was written by the refused ones
    assert sorted(p.name for p in run.glob("iter_*.pt")) == ["iter_1.pt"]


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path, capsys):
    run = tmp_path / "r"
    assert train(tmp_path, "--num_timesteps", "64") == 0
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from trpo_mimic.faults import RunLock; "
                               "RunLock(sys.argv[1]); print('held', flush=True); time.sleep(60)", str(run)],
                              stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
    assert holder.stdout.readline() == "held\n"
    holder.kill()
    holder.wait()
    assert (run / ".lock").read_text() == f"{holder.pid}\n"  # the dead process's id is still in the file
    capsys.readouterr()
    assert train(tmp_path, "--resume", str(run), "--num_timesteps", "128") == 0
    note = f"note: {run / '.lock'} named process {holder.pid}, which ended without releasing it: taken over"
    assert note in capsys.readouterr().err.splitlines()
    assert load_checkpoint(run / "latest.pt")["iteration"] == 2
    assert (run / ".lock").read_text() == ""  # released at the end


# ---- a dead rank ----

def start_rank(rank: int, port: int, run_root: Path, *extra: str) -> subprocess.Popen:
    """One rank of a 2-rank gloo group, as torchrun would start it (but with no agent that stops the others)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1",
               MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2")
    return subprocess.Popen([sys.executable, "-m", "trpo_mimic", "train", *FAST, "--num_timesteps", "10000000",
                             "--checkpoint_dir", str(run_root), "--run_name", "d", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def read_until(proc: subprocess.Popen, prefix: str, timeout: float) -> None:
    """Read the process's stdout until a line starts with `prefix`; fail after `timeout` seconds or at its end."""
    deadline = time.time() + timeout
    while select.select([proc.stdout], [], [], max(0.0, deadline - time.time()))[0]:
        line = proc.stdout.readline()
        if not line or line.startswith(prefix):
            assert line, f"{proc.args[:4]} ended before printing {prefix!r}"
            return
    raise AssertionError(f"no line starting with {prefix!r} within {timeout} s")


@pytest.mark.parametrize("sig, victim", [(signal.SIGKILL, 0), (signal.SIGSTOP, 1)], ids=["killed", "hung"])
def test_a_lost_rank_ends_the_other_with_one_line_and_the_run_resumes(tmp_path, cli, sig, victim):
    """Rank 0 killed (with the group's store and the run's lock): the survivor sees the closed connection at
    once. Rank 1 stopped (a hung peer): rank 0 gives up after --dist_timeout, not later."""
    timeout = 10
    port = free_port()
    ranks = [start_rank(r, port, tmp_path, "--dist_timeout", str(timeout)) for r in (0, 1)]
    survivor = ranks[1 - victim]
    try:
        read_until(ranks[0], "iter 3 ", 120)  # rank 0 logs
        time.sleep(0.3)
        ranks[victim].send_signal(sig)
        lost = time.time()
        _, err = survivor.communicate(timeout=timeout + 30)
        left = time.time() - lost
    finally:
        for p in ranks:
            if p.poll() is None:
                p.kill()
            p.communicate()
    assert survivor.returncode == 1, err
    assert left < timeout + 10 and (sig == signal.SIGKILL or left >= timeout - 1), left
    run = tmp_path / "d"
    line = one_line(err)
    assert re.fullmatch(rf"trpo-mimic: error: rank {1 - victim} of 2 lost rank {victim}: .+ \(--dist_timeout {timeout} "
                        rf"s\); continue from the last checkpoint with --resume {re.escape(str(run))}", line), line
    saved = load_checkpoint(run / "latest.pt")
    assert saved["iteration"] >= 3
    r = cli("train", "--resume", str(run), "--num_timesteps", str(saved["timesteps"] + 64), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert load_checkpoint(run / "latest.pt")["iteration"] == saved["iteration"] + 1
