"""Training speed of two source trees of this project, side by side in one run (e.g. before and after a change).

    python benchmarks/compare_trees.py --trees /path/to/before /path/to/after --rounds 5

For each task, `python -m trpo_mimic train` runs with each tree's `src` on PYTHONPATH, the trees alternating
round by round so that machine load affects both alike. Samples/s is the median over a run's iterations (the
first left out) of `Perf/SamplesPerSecond` (rollout and update, per iteration); per tree the median over
rounds is reported, and the ratio after / before. Tasks: Pendulum-v1 and Hopper-v5 with
`benchmarks/compare_sb3.py`'s settings (2048 samples per update, 64x64, 10 CG iterations, 10 critic epochs of
128, one torch thread; observation normalisation off for Pendulum, on for Hopper, as rl-baselines3-zoo), and
the DeepMimic preset on the walk clip (`configs/deepmimic.txt`: 16 envs x 256 steps, 256x256, 2 stepping threads).
With the same seed both trees should also log the same returns: where the change keeps the maths, the
script says whether they did.
"""
from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MOTIONS = ROOT.parent / "shared" / "motions"
SB3_SETTINGS = ["--num_envs", "8", "--steps_per_env", "256", "--policy_hidden_size", "64", "64", "--max_kl", "0.01",
                "--cg_iters", "10", "--cg_damping", "0.1", "--vf_epochs", "10", "--vf_batch_size", "128",
                "--vf_lr", "1e-3", "--gamma", "0.99", "--lam", "0.95", "--torch_threads", "1"]
TASKS = {
    "Pendulum-v1": ["--env_id", "Pendulum-v1", "--no-normalize_obs", *SB3_SETTINGS, "--num_timesteps", "40960"],
    "Hopper-v5": ["--env_id", "Hopper-v5", *SB3_SETTINGS, "--num_timesteps", "40960"],
    "DeepMimic walk": ["--arg_file", str(ROOT / "configs" / "deepmimic.txt"), "--env_id", "DeepMimic-v0",
                       "--motion_file", str(MOTIONS / "humanoid3d_walk.txt"), "--env_threads", "2",
                       "--num_timesteps", "28672"],
}


def run(tree: Path, flags: list[str], out: Path, name: str) -> tuple[float, list[str]]:
    env = dict(os.environ, PYTHONPATH=str(tree / "src"), OMP_NUM_THREADS="1", MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"))
    cmd = [sys.executable, "-m", "trpo_mimic", "train", *flags, "--seed", "0", "--checkpoint_dir", str(out),
           "--run_name", name, "--no-progress", "--eval_freq", "0", "--eval_episodes", "0", "--save_per_iter", "1000"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tree)
    if r.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{r.stderr[-3000:]}")
    with open(out / name / "progress.csv") as fh:
        rows = list(csv.DictReader(fh))
    rate = statistics.median(float(row["Perf/SamplesPerSecond"]) for row in rows[1:])
    return rate, [row.get("Rollout/EpisodeReturn", "") for row in rows]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--trees", nargs=2, required=True, metavar=("BEFORE", "AFTER"))
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    p.add_argument("--rounds", type=int, default=5)
    a = p.parse_args()
    trees = [Path(t).resolve() for t in a.trees]
    with tempfile.TemporaryDirectory() as tmp:
        for task in a.tasks:
            rates: list[list[float]] = [[], []]
            returns: list[list[str]] = [[], []]
            for k in range(a.rounds):
                for j, tree in enumerate(trees):
                    rate, rets = run(tree, TASKS[task], Path(tmp), f"{task.replace(' ', '_')}-{j}-{k}")
                    rates[j].append(rate)
                    returns[j] = rets
            before, after = (statistics.median(r) for r in rates)
            same = "same returns logged" if returns[0] == returns[1] else "returns DIFFER"
            print(f"{task}: before {before:,.0f} samples/s, after {after:,.0f} (median of {a.rounds} rounds; "
                  f"runs {[round(x) for x in rates[0]]} vs {[round(x) for x in rates[1]]}) -> after / before "
                  f"{after / before:.3f}; {same}", flush=True)


if __name__ == "__main__":
    main()
