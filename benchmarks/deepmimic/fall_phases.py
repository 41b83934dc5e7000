"""Where a DeepMimic policy falls: its evaluation episodes by the clip phase they start from (issue 39).

    python benchmarks/deepmimic/fall_phases.py POLICY [--episodes 100] [--seed 77] [--train]

POLICY: a shipped policy's name, a checkpoint file or a run directory. The episodes are evaluation's (``trpo-mimic
evaluate``: deterministic, random start phases, 300 steps, sub-env i seeded ``seed + i``); ``--train`` plays them
under the training episode rules instead (the pose termination on), as training's starts meet them. Prints, per
tenth of the clip's phase, the episodes that started there and how many of them fell, then each fall: its start
phase, the phase it fell at and after how long.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from trpo_mimic.checkpoint import load_agent
from trpo_mimic.envs import env_kwargs_from_config, make_vector_env


def fall_phases(policy: str, episodes: int, seed: int, train: bool) -> tuple[np.ndarray, np.ndarray, float]:
    """(start times, fall times (NaN: no fall), the clip's duration) of ``episodes`` episodes of ``policy``."""
    agent, cfg, _ = load_agent(policy)
    envs = make_vector_env(cfg.env_id, episodes, "native", 300, training=train,
                           **env_kwargs_from_config(cfg, training=train))
    try:
        core = envs.core
        if len(core.clips) != 1:
            raise SystemExit(f"{policy}: {len(core.clips)} clips; this looks at one-clip policies")
        obs, info = envs.reset(seed=seed)
        start, fell_at = info["time"].copy(), np.full(episodes, np.nan)
        done = np.zeros(episodes, dtype=bool)
        act = agent.inference().act
        while not done.all():
            obs, _, term, trunc, info = envs.step(act(obs, True)[0])
            new = term & ~done
            if new.any():
                fell_at[new] = info["final_info"]["time"][new]
            done |= term | trunc
        return start, fell_at, core.clips[0].duration
    finally:
        envs.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("policy")
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--seed", type=int, default=77, help="77: the seed issue 39 chooses checkpoints with")
    ap.add_argument("--train", action="store_true", help="the training episode rules (pose termination on)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    start, fell_at, duration = fall_phases(args.policy, args.episodes, args.seed, args.train)
    fell = ~np.isnan(fell_at)
    phase = (start % duration) / duration
    starts = np.histogram(phase, bins=10, range=(0, 1))[0]
    falls = np.histogram(phase[fell], bins=10, range=(0, 1))[0]
    print(f"{args.policy}: {int(fell.sum())} falls in {args.episodes} episodes (clip {duration:.2f} s, seed "
          f"{args.seed}{', training rules' if args.train else ''})")
    print("start phase  " + " ".join(f"{k / 10:.1f}+" for k in range(10)))
    print("episodes     " + " ".join(f"{n:4d}" for n in starts))
    print("falls        " + " ".join(f"{n:4d}" for n in falls))
    for i in np.flatnonzero(fell):
        print(f"  started at phase {phase[i]:.2f}, fell at phase {(fell_at[i] % duration) / duration:.2f}, "
              f"{fell_at[i] - start[i]:.2f} s later")


if __name__ == "__main__":
    main()
