"""The DeepMimic vector env's work besides the physics, per 4096 samples, for two source trees in one run.

    python benchmarks/deepmimic_env_work.py --trees /path/to/before /path/to/after \
        --motion humanoid3d_walk.txt

For each tree (its ``src`` imported in a subprocess), N = 16 humanoids stepped by one thread take 256
steps (4096 samples) with the same seeded random residual actions, so both trees do the same work
(same falls and resets). ``mj_step`` is timed on its own; the rest of ``step`` (PD targets, kinematics
and copies, observations, rewards, terminations, resets) is what the env adds to the physics. Rounds
alternate between the trees so machine load affects both alike; times are CPU seconds of the stepping thread (less sensitive to other
load than wall time); the minimum over rounds is reported, and
the ratio after / before.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def measure(motion: str, num_envs: int, steps: int, flags: dict) -> dict:
    """Run in a subprocess whose PYTHONPATH names the tree: seconds of mj_step and of the rest."""
    import warnings

    import mujoco
    import numpy as np
    warnings.simplefilter("ignore")
    physics = [0.0]
    raw = mujoco.mj_step

    def timed(*a, **k):
        t = time.thread_time()
        raw(*a, **k)
        physics[0] += time.thread_time() - t

    mujoco.mj_step = timed
    from trpo_mimic.mimic.vector import DeepMimicVectorEnv
    venv = DeepMimicVectorEnv(num_envs, motion_file=motion, nthread=1, **flags)
    actions = np.random.default_rng(0).uniform(-0.5, 0.5, (steps + 20, num_envs, 28)).astype(np.float32)
    venv.reset(seed=0)
    for a in actions[:20]:  # warm up
        venv.step(a)
    venv.reset(seed=1)
    physics[0] = 0.0
    t = time.thread_time()
    for a in actions[20:]:
        venv.step(a)
    total = time.thread_time() - t
    return {"total": total, "physics": physics[0], "rest": total - physics[0]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--trees", nargs=2, required=True, metavar=("BEFORE", "AFTER"))
    p.add_argument("--motion", default="builtin:walk")
    p.add_argument("--num_envs", type=int, default=16)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--flags", default='{"action_mode": "residual"}', help="env keyword arguments (JSON)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    a = p.parse_args()
    steps = 4096 // a.num_envs
    if a.child:
        print(json.dumps(measure(a.motion, a.num_envs, steps, json.loads(a.flags))))
        return
    motion = a.motion if a.motion.startswith("builtin:") else str(Path(a.motion).resolve())
    results: dict[str, list[dict]] = {t: [] for t in a.trees}
    for _ in range(a.rounds):
        for tree in a.trees:
            env = dict(os.environ, PYTHONPATH=str(Path(tree).resolve() / "src"), OMP_NUM_THREADS="1")
            out = subprocess.run([sys.executable, __file__, "--child", "1", "--trees", *a.trees, "--motion", motion,
                                  "--num_envs", str(a.num_envs), "--flags", a.flags],
                                 capture_output=True, text=True, env=env, check=True)
            results[tree].append(json.loads(out.stdout.strip().splitlines()[-1]))
    best = {t: {k: min(r[k] for r in rs) for k in ("total", "physics", "rest")} for t, rs in results.items()}
    before, after = (best[t] for t in a.trees)
    for name, b in (("before", before), ("after", after)):
        print(f"{name}: per 4096 samples, mj_step {b['physics']:.3f} s, everything else {b['rest']:.3f} s "
              f"(total {b['total']:.3f} s)")
    print(f"everything else, after / before: {after['rest'] / before['rest']:.3f}; "
          f"total: {after['total'] / before['total']:.3f}")


if __name__ == "__main__":
    main()
