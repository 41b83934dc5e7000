"""Does a training's memory grow with its length? Runs `trpo-mimic train` as a subprocess for a fixed time,
samples the resident memory of the trainer and of its process tree (with environment workers, and an ffmpeg
while an evaluation video is encoded) at a fixed interval, prints the curve and the growth after the warm-up,
then stops the training (SIGTERM: it saves and exits).

    python benchmarks/memory_growth.py                  # 30 minutes of the DeepMimic walk, a sample a minute
    python benchmarks/memory_growth.py --minutes 1 --interval 5 --warmup 0.25 -- \\
        --env_id Pendulum-v1 --preset none --num_envs 2 --steps_per_env 64 --vf_epochs 1 \\
        --eval_freq 20 --eval_episodes 1 --keep_checkpoints 2

Everything after `--` is given to `trpo-mimic train` (default: `--arg_file configs/deepmimic.txt --arg_file
configs/skills/walk.txt`, run from the repository root); the run goes to a temporary directory and trains
until it is stopped. Resident memory comes from psutil when installed, else /proc/<pid>/status (VmRSS).
The first minutes hold the one-time growth (imports, allocator pools, the first evaluation's renderer), so
the growth is measured from the first sample at or after --warmup minutes.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TRAIN = ["--arg_file", "configs/deepmimic.txt", "--arg_file", "configs/skills/walk.txt"]


def children(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(c) for c in fh.read().split()]
    except OSError:
        pass
    return out


def own_rss(pid: int) -> int:
    """Resident memory of one process in bytes (0 when it is gone)."""
    try:
        import psutil
        try:
            return psutil.Process(pid).memory_info().rss
        except psutil.NoSuchProcess:
            return 0
    except ImportError:
        pass
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def rss_bytes(pid: int) -> tuple[int, int]:
    """(the process's own resident memory, that of it and all its descendants), in bytes: environment workers
    belong to the training; an ffmpeg encoding an evaluation video comes and goes with it."""
    own = own_rss(pid)
    total, todo = own, children(pid)
    while todo:
        p = todo.pop()
        total += own_rss(p)
        todo += children(p)
    return own, total


def growth(samples: list[tuple[float, int]], warmup_s: float) -> tuple[float, int, int] | None:
    """(percent, base bytes, last bytes) from the first sample at or after the warm-up to the last one."""
    after = [s for s in samples if s[0] >= warmup_s]
    if len(after) < 2:
        return None
    base, last = after[0][1], after[-1][1]
    return 100.0 * (last - base) / base, base, last


def report(name: str, samples: list[tuple[float, int]], warmup_min: float) -> bool:
    g = growth(samples, warmup_min * 60)
    if g is None:
        print(f"{name}: too few samples after the {warmup_min:g}-minute warm-up to measure a growth")
        return False
    pct, base, last = g
    peak = max(r for _, r in samples)
    print(f"{name}: growth after the first {warmup_min:g} minutes {pct:+.1f} % ({base / 2 ** 20:.1f} MiB -> "
          f"{last / 2 ** 20:.1f} MiB), peak {peak / 2 ** 20:.1f} MiB")
    return True


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ours, train_args = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=30.0, help="how long the training runs (default 30)")
    p.add_argument("--interval", type=float, default=60.0, help="seconds between samples (default 60)")
    p.add_argument("--warmup", type=float, default=5.0,
                   help="minutes left out of the growth (default 5)")
    p.add_argument("--keep", action="store_true", help="keep the run directory (printed) instead of removing it")
    args = p.parse_args(ours)
    train_args = train_args or DEFAULT_TRAIN

    out = Path(tempfile.mkdtemp(prefix="memory_growth-"))
    log = out / "train.log"
    cmd = [sys.executable, "-m", "trpo_mimic", "train", "--checkpoint_dir", str(out), "--run_name", "run",
           "--num_timesteps", str(10 ** 12), "--no-progress", *train_args]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    print(f"training: {' '.join(cmd[1:])}\nlog: {log}", flush=True)
    print(f"{'minute':>8} {'trainer MiB':>12} {'with children MiB':>18}", flush=True)
    own: list[tuple[float, int]] = []
    tree: list[tuple[float, int]] = []
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, env=env)
        t0 = time.time()
        try:
            while True:
                elapsed = time.time() - t0
                rss, rss_tree = rss_bytes(proc.pid)
                if proc.poll() is not None:
                    break
                own.append((elapsed, rss))
                tree.append((elapsed, rss_tree))
                print(f"{elapsed / 60:8.2f} {rss / 2 ** 20:12.1f} {rss_tree / 2 ** 20:18.1f}", flush=True)
                if elapsed >= args.minutes * 60:
                    break
                time.sleep(max(0.0, min(args.interval, args.minutes * 60 - elapsed)))
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # saves and exits
                try:
                    proc.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    ended_early = proc.returncode not in (130, -signal.SIGTERM)
    if ended_early:
        tail = log.read_text().strip().splitlines()[-5:]
        print(f"the training ended by itself (exit code {proc.returncode}) after {(time.time() - t0) / 60:.2f} "
              f"minutes:\n  " + "\n  ".join(tail), file=sys.stderr)
    if own:
        print(f"{len(own)} samples over {own[-1][0] / 60:.2f} minutes")
    measured = report("trainer", own, args.warmup)
    report("with children", tree, args.warmup)
    if args.keep or ended_early:
        print(f"kept: {out}")
    else:
        import shutil
        shutil.rmtree(out, ignore_errors=True)
    return 1 if ended_early or not measured else 0


if __name__ == "__main__":
    sys.exit(main())
