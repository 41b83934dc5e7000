"""Choose a checkpoint of an imitation run on the choosing seed (issue 39), beside the policy it started from.

    python benchmarks/deepmimic/choose.py RUN_DIR [--every 100] [--after 0] [--against jump] [--seed 77]
                                                  [--episodes 100]

Plays every ``--every``-th iteration's checkpoint of RUN_DIR after iteration ``--after`` (and its latest) as
``trpo-mimic evaluate`` plays a card's episodes (deterministic, random start phases, 300 steps), on seed 77 by
default: the seed checkpoints are chosen with, never the cards' 1234. ``--against`` (a shipped policy's name or a
file) is played on the same episodes first. Prints per checkpoint its samples, reward per step, falls and successes.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import re
from pathlib import Path

import torch

from trpo_mimic.checkpoint import load_checkpoint
from trpo_mimic.evaluate import evaluate


def score(path: str, episodes: int, seed: int) -> str:
    opts = {"load_model_path": str(path), "num_eval_episodes": episodes, "max_episode_steps": 300, "seed": seed,
            "progress": False}
    with contextlib.redirect_stdout(io.StringIO()):
        r = evaluate(opts)
    samples = load_checkpoint(path).get("timesteps", 0) / 1e6
    return (f"{samples:6.2f}M  {r.reward_per_step:.4f} per step  {sum(r.terminated):3d} falls  "
            f"{r.successes if r.successes is not None else '-'} successes")


def checkpoints(run: Path, every: int, after: int = 0) -> list[Path]:
    iters = sorted((int(m.group(1)), p) for p in run.glob("iter_*.pt") if (m := re.fullmatch(r"iter_(\d+)\.pt", p.name)))
    if not iters:
        raise SystemExit(f"{run}: no iter_N.pt checkpoints")
    chosen = [p for n, p in iters if n % every == 0 and n > after]
    return chosen + ([iters[-1][1]] if iters[-1][1] not in chosen else [])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--after", type=int, default=0, help="only checkpoints of later iterations (and the latest)")
    ap.add_argument("--against", default=None, help="a shipped policy's name or a checkpoint, on the same episodes")
    ap.add_argument("--seed", type=int, default=77)
    ap.add_argument("--episodes", type=int, default=100)
    a = ap.parse_args()
    if a.every < 1:
        raise SystemExit("--every must be a positive number of iterations")
    torch.set_num_threads(1)
    print(f"{a.run}: {a.episodes} deterministic 10 s episodes, seed {a.seed}")
    if a.against:
        print(f"{a.against:>14}: {score(a.against, a.episodes, a.seed)}")
    for p in checkpoints(a.run, a.every, a.after):
        print(f"{p.stem:>14}: {score(str(p), a.episodes, a.seed)}", flush=True)


if __name__ == "__main__":
    main()
