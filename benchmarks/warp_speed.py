"""DeepMimic vector env samples per second with MuJoCo Warp physics (issue 23), beside native MuJoCo.

    PYTHONPATH=src python benchmarks/warp_speed.py --sizes 512 2048 8192 [--steps 50] [--json out.json]
    PYTHONPATH=src python benchmarks/warp_speed.py --sizes 4 --physics warp mujoco   # this CPU machine

For each number of characters N and each backend: ``DeepMimicVectorEnv(N, physics=...)`` with the preset's
law (pd_clamp total), the walk clip, uniform random residual actions, autoresets included; after
``--warmup`` steps (Warp compiles or loads its kernels on the first ones), ``--steps`` control steps are
timed. Prints samples/s (N x steps / s) and how the step's time splits between the physics backend's
``step`` (stepping and reading back, resets included) and the rest (actions to targets, observations,
rewards, terminations: numpy on the host). Not a test: it never fails.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np

from call_timer import time_calls
from trpo_mimic.mimic import MotionWarning
from trpo_mimic.mimic.clipfile import find_motion_file
from trpo_mimic.mimic.vector import DeepMimicVectorEnv


def measure(n: int, physics: str, steps: int, warmup: int, clip: str, graph: bool = True) -> dict:
    opts = {"graph": graph} if physics == "warp" else None
    env = DeepMimicVectorEnv(n, physics=physics, physics_options=opts, motion_file=clip, action_mode="residual",
                             pd_clamp="total")
    ph = env.core.physics
    physics_seconds = time_calls(ph, "step")
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    t0 = time.perf_counter()
    for _ in range(warmup):
        env.step(rng.uniform(-1, 1, (n, env.single_action_space.shape[0])))
    first = time.perf_counter() - t0
    actions = rng.uniform(-1, 1, (steps, n, env.single_action_space.shape[0]))
    t0, before = time.perf_counter(), physics_seconds()
    for a in actions:
        env.step(a)
    wall = time.perf_counter() - t0
    env.close()
    return {"characters": n, "physics": physics, "graph": graph if physics == "warp" else None,
            "device": str(getattr(ph, "device", "cpu threads")),
            "samples_per_s": n * steps / wall, "physics_share": (physics_seconds() - before) / wall, "warmup_s": first}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 2048, 8192])
    ap.add_argument("--physics", nargs="+", default=["warp"], choices=["warp", "mujoco"])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--clip", default="humanoid3d_walk.txt")
    ap.add_argument("--no-graph", dest="graph", action="store_false",
                    help="warp: launch each step's kernels from Python instead of replaying one recorded graph")
    ap.add_argument("--json", help="also write the rows to this file")
    args = ap.parse_args()
    warnings.simplefilter("ignore", MotionWarning)
    clip = str(find_motion_file(args.clip, None, None))
    rows = []
    for n in args.sizes:
        for physics in args.physics:
            r = measure(n, physics, args.steps, args.warmup, clip, args.graph)
            rows.append(r)
            how = "" if physics != "warp" else (", graph" if args.graph else ", launched")
            print(f"{n:6d} characters, {physics:6s} on {r['device']}{how}: {r['samples_per_s']:10.0f} samples/s "
                  f"(physics {100 * r['physics_share']:.0f}% of the step; first {args.warmup} steps "
                  f"{r['warmup_s']:.1f} s)", flush=True)
    by = {(r["characters"], r["physics"]): r["samples_per_s"] for r in rows}
    for n in args.sizes:
        if (n, "warp") in by and (n, "mujoco") in by:
            print(f"{n:6d} characters: warp / mujoco = {by[n, 'warp'] / by[n, 'mujoco']:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
