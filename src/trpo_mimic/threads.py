"""Thread budgets of one process: torch's intra-op pool and the BLAS library under numpy.

Rollouts run small MLPs in numpy (``policies.agent``), so numpy's BLAS (OpenBLAS spawns one
thread per core by default) would otherwise compete with the environment's stepping threads
and with other training processes: measured on this 2-core machine with two DeepMimic
trainings side by side, policy inference took 5-11 s per 4096-sample iteration with the
default BLAS pool and 0.14 s with one thread (benchmarks/deepmimic/NOTES.md, run-c)."""
from __future__ import annotations

import torch
from threadpoolctl import threadpool_info, threadpool_limits


def limit_threads(n: int) -> None:
    """Use at most ``n`` (>= 1) threads for torch ops and for numpy's BLAS, for the rest of the process."""
    n = max(1, int(n))
    torch.set_num_threads(n)
    threadpool_limits(limits=n, user_api="blas")


def blas_threads() -> list[int]:
    """Thread counts of every BLAS library loaded in this process (for tests and logs)."""
    return [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
