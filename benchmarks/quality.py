"""Quality bar for classic control: train several seeds, evaluate each deterministically, print the median.

    python benchmarks/quality.py --env_id Pendulum-v1 --num_timesteps 100000 --seeds 0 1 2 \
        --bar -200 -- --arg_file configs/pendulum.txt

Everything after `--` is passed to `trpo-mimic train`. Seeds run as parallel processes
(--jobs, default 2). Writes a JSON summary next to the runs.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(cmd: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run([sys.executable, "-m", "trpo_mimic", *cmd], capture_output=True, text=True, env=env)


def one_seed(args: argparse.Namespace, seed: int, extra: list[str]) -> dict:
    name = f"{args.env_id.replace('/', '_')}-quality-{seed}-{int(time.time())}"
    t0 = time.time()
    r = run(["train", "--env_id", args.env_id, "--num_timesteps", str(args.num_timesteps), "--seed", str(seed),
             "--checkpoint_dir", args.out, "--run_name", name, "--no-progress", *extra])
    wall = time.time() - t0
    if r.returncode != 0:
        raise RuntimeError(f"seed {seed} failed:\n{r.stderr[-3000:]}")
    run_dir = Path(args.out) / name
    e = run(["evaluate", "--load_model_path", str(run_dir), "--num_eval_episodes", str(args.eval_episodes),
             "--seed", str(10_000 + seed)])
    if e.returncode != 0:
        raise RuntimeError(f"evaluation of seed {seed} failed:\n{e.stderr[-3000:]}")
    line = next(l for l in e.stdout.splitlines() if l.startswith("return:"))
    eval_return = float(line.split()[1])
    with open(run_dir / "progress.csv") as fh:
        rows = list(csv.DictReader(fh))
    best_train = max(float(r["Rollout/EpisodeReturn"]) for r in rows if r.get("Rollout/EpisodeReturn"))
    first_at = next((int(r["timesteps"]) for r in rows
                     if r.get("Rollout/EpisodeReturn") and args.bar is not None
                     and float(r["Rollout/EpisodeReturn"]) >= args.bar), None)
    sps = statistics.median(float(r["Perf/SamplesPerSecond"]) for r in rows if r.get("Perf/SamplesPerSecond"))
    return {"seed": seed, "eval_return": eval_return, "best_train_return": best_train, "wall_s": wall,
            "samples_per_s": sps, "first_reached_bar_at": first_at, "run_dir": str(run_dir)}


def main() -> None:
    argv = sys.argv[1:]
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env_id", default="Pendulum-v1")
    p.add_argument("--num_timesteps", type=int, default=100_000)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--eval_episodes", type=int, default=10)
    p.add_argument("--bar", type=float, default=None, help="return to reach (reported, not asserted)")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", default="runs/bench")
    args = p.parse_args(argv)
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda s: one_seed(args, s, extra), args.seeds))
    med = statistics.median(r["eval_return"] for r in results)
    for r in results:
        print(f"seed {r['seed']}: eval return {r['eval_return']:.1f}, best training return "
              f"{r['best_train_return']:.1f}, {r['samples_per_s']:.0f} samples/s, {r['wall_s']:.0f} s"
              + (f", bar first reached at {r['first_reached_bar_at']} samples" if args.bar is not None else ""))
    verdict = "" if args.bar is None else (" (bar %.0f: %s)" % (args.bar, "met" if med >= args.bar else "NOT met"))
    print(f"{args.env_id}: median deterministic eval return over {len(results)} seeds at "
          f"{args.num_timesteps} samples: {med:.1f}{verdict}")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    out = Path(args.out) / f"quality_{args.env_id.replace('/', '_')}.json"
    out.write_text(json.dumps({"env_id": args.env_id, "median_eval_return": med, "extra_args": extra,
                               "results": results}, indent=2))


if __name__ == "__main__":
    main()
