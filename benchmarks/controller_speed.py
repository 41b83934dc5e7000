"""Real-time factor of one character driven by ``trpo_mimic.Controller`` on one core: simulated seconds per wall
second of ``Controller.step()`` (the policy's deterministic action, 8 physics substeps, the observation, the
reward and the returned state), with one torch thread and one BLAS thread, the process pinned to one CPU.

    PYTHONPATH=src python benchmarks/controller_speed.py [--policy walk] [--seconds 60] [--repeats 3]

A fall or the end of an episode starts another (reset not timed). Prints the real-time factor of each repeat and
the median, and the share of a step spent in the policy (timed apart on the same observations). The machine's
load average is printed beside it: other processes on the same core lower the figure. Not a test: it never fails.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--policy", default="walk", help="a shipped policy's name or a checkpoint (default: walk)")
    ap.add_argument("--seconds", type=float, default=60.0, help="simulated seconds per repeat (default 60)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cpu", type=int, default=None, help="the CPU to pin to (default: the last one allowed)")
    args = ap.parse_args()

    if hasattr(os, "sched_setaffinity"):
        cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
    import torch
    from threadpoolctl import threadpool_limits
    torch.set_num_threads(1)
    threadpool_limits(limits=1, user_api="blas")

    from trpo_mimic import Controller
    c = Controller(args.policy)
    steps = int(round(args.seconds / c.dt))
    c.reset(seed=0)
    for _ in range(30):  # warm up (first-call costs)
        if c.step().ended:
            c.reset()
    factors, falls, obs = [], 0, []
    for r in range(args.repeats):
        c.reset(seed=r)
        busy = 0.0
        for _ in range(steps):
            t = time.perf_counter()
            s = c.step()
            busy += time.perf_counter() - t
            if len(obs) < 1000:
                obs.append(c.env.unwrapped.observation())
            if s.ended:
                falls += s.fell
                c.reset()
        factors.append(steps * c.dt / busy)
        print(f"repeat {r + 1}: {steps * c.dt:.0f} simulated s in {busy:.2f} wall s: {factors[-1]:.1f}x real time",
              flush=True)
    batch = np.asarray(obs)
    policy = c.agent.inference()
    t = time.perf_counter()
    for o in batch:
        policy.act(o[None], True)
    act_s = (time.perf_counter() - t) / len(batch)
    step_s = c.dt / statistics.median(factors)
    print(f"policy {args.policy} ({c.agent.backend} inference), {', '.join(c.skills)}; falls {falls}")
    print(f"policy share of a step: {act_s * 1e6:.0f} us of {step_s * 1e6:.0f} us ({act_s / step_s:.0%})")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"real-time factor (median of {args.repeats}): {statistics.median(factors):.1f}x "
          f"(one character, one core, torch.set_num_threads(1))")
    c.close()


if __name__ == "__main__":
    main()
