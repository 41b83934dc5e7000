"""DeepMimic humanoid: training samples/s over the whole loop (environment, inference, update)
against the physics limit of the two cores, and the scaling of torchrun ranks, in one run.

    python benchmarks/deepmimic_train_speed.py --motion humanoid3d_walk.txt

Configurations (same networks):
  1 process, native vector env stepped by 1 thread
  1 process, native vector env stepped by 2 threads
  torchrun, 2 ranks, each a native vector env stepped by 1 thread, half the envs each (same batch per
    iteration as 1 process: strong scaling)
  torchrun, 2 ranks with the single process's own flags (each rank its own --num_envs and --steps_per_env,
    as `torchrun ... -m trpo_mimic train` with unchanged flags runs and as multi-worker TRPO (baselines,
    DeepMimic) counts its batch per worker: twice the batch per iteration, weak scaling)
The physics limit is mj_step alone, in 2 threads on separate MjData, measured in this process.
Samples/s is the median over iterations (the first iteration is left out).
"""
from __future__ import annotations

import argparse
import csv
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))


def physics_limit(motion: str, threads: int, steps: int) -> float:
    from deepmimic_env_speed import threaded_physics_rate
    from trpo_mimic.mimic.env import DeepMimicEnv
    envs = [DeepMimicEnv(motion_file=motion) for _ in range(threads)]
    return threaded_physics_rate(envs, steps)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_rate(name: str, ranks: int, env_threads: int, args: argparse.Namespace, out: Path,
               split_batch: bool = True) -> float:
    per_rank_envs = args.num_envs // ranks if split_batch else args.num_envs
    train_args = ["train", "--env_id", "DeepMimic-v0", "--motion_file", args.motion, "--num_envs", str(per_rank_envs),
                  "--steps_per_env", str(args.batch // args.num_envs), "--env_threads", str(env_threads),
                  "--num_timesteps", str(per_rank_envs * ranks * (args.batch // args.num_envs) * args.iterations),
                  "--checkpoint_dir", str(out),
                  "--run_name", name, "--no-progress", "--eval_freq", "0", "--eval_episodes", "0",
                  "--save_per_iter", "1000", *args.extra]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")
    if ranks == 1:
        cmd = [sys.executable, "-m", "trpo_mimic", *train_args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(ranks), "--master_addr",
               "127.0.0.1", "--master_port", str(free_port()), "-m", "trpo_mimic", *train_args]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{r.stderr[-3000:]}")
    with open(out / name / "progress.csv") as fh:
        rows = [row for row in csv.DictReader(fh) if row.get("Perf/SamplesPerSecond")]
    return statistics.median(float(row["Perf/SamplesPerSecond"]) for row in rows[1:])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--motion", default="builtin:walk")
    p.add_argument("--num_envs", type=int, default=16)
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--iterations", type=int, default=6)
    p.add_argument("--limit_steps", type=int, default=3000)
    p.add_argument("extra", nargs="*", help="further `trpo-mimic train` flags, after --")
    args = p.parse_args()
    if not args.extra:
        args.extra = ["--policy_hidden_size", "256", "256", "--fvp_subsample", "0.25", "--vf_epochs", "5",
                      "--vf_batch_size", "256"]
    out = Path(tempfile.mkdtemp(prefix="dm_train_speed_"))
    limit2 = physics_limit(args.motion, 2, args.limit_steps)
    limit1 = physics_limit(args.motion, 1, args.limit_steps)
    print(f"physics limit: 1 thread {limit1:.0f} steps/s, 2 threads {limit2:.0f} steps/s")
    rates = {}
    for name, ranks, threads, split in (("1proc-1thread", 1, 1, True), ("1proc-2threads", 1, 2, True),
                                        ("torchrun-2ranks", 2, 1, True), ("torchrun-2ranks-perrank", 2, 1, False)):
        rates[name] = train_rate(name, ranks, threads, args, out, split)
        print(f"{name:>23}: {rates[name]:.0f} samples/s = {rates[name] / limit2:.1%} of the 2-core limit "
              f"({rates[name] / limit1:.1%} of 1 core)", flush=True)
    print(f"2 ranks vs 1 rank (1 thread each), same total batch: "
          f"{rates['torchrun-2ranks'] / rates['1proc-1thread']:.2f}x")
    print(f"2 ranks vs 1 rank (1 thread each), same batch per rank: "
          f"{rates['torchrun-2ranks-perrank'] / rates['1proc-1thread']:.2f}x")
    print(f"extra flags: {' '.join(args.extra)}")


if __name__ == "__main__":
    main()
