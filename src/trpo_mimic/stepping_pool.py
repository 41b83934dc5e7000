"""The one thread pool of the batched environments: N items worked by the caller's thread and ``nthread - 1``
workers.

``mujoco.mj_step`` releases the GIL, so the sub-environments of a batched env (``envs.mujoco_vector``,
``mimic.physics.MujocoPhysics``) are stepped in parallel by threads. Every thread runs the same worker
body over one shared iterator of the item indices ``0..n-1``, taking the next index when it is done with the
last (items differ in cost: a reset, a contact-rich step), so the split adapts to the load. An item's result
must depend on the item alone (its own ``MjData``, its own rows of the output arrays, per-thread scratch
buffers), never on which thread took it: then any ``nthread`` gives bit-identical results
(``tests/test_stepping_pool.py``).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator


class SteppingPool:
    """``nthread`` threads (the caller's included; default: one per core, at most one per item) over ``n`` items.

    ``run(work, *args)`` calls ``work(it, *args)`` in every thread with one shared iterator ``it`` of
    ``range(n)`` and returns when all items are done; an exception in any thread is raised in the caller.
    """

    def __init__(self, n: int, nthread: int | None = None, name: str = "stepping"):
        self.n = int(n)
        nthread = (os.cpu_count() or 1) if nthread is None else int(nthread)
        self.nthread = max(1, min(nthread, self.n))
        self._pool = ThreadPoolExecutor(self.nthread - 1, thread_name_prefix=name) if self.nthread > 1 else None

    def run(self, work: Callable[..., None], *args: Any) -> None:
        """Work every item once: ``work(it, *args)`` in the caller's thread and each worker, ``it`` shared."""
        it: Iterator[int] = iter(range(self.n))
        if self._pool is None:
            work(it, *args)
            return
        futs = [self._pool.submit(work, it, *args) for _ in range(self.nthread - 1)]
        try:
            work(it, *args)
        finally:
            # every thread is done before this returns or raises: ``exception`` waits, as cheaply as ``result``
            # (``concurrent.futures.wait`` costs 20 us more per call, 5% of a step of 8 Hoppers)
            errors = [f.exception() for f in futs]
        for e in errors:
            if e is not None:
                raise e

    def close(self) -> None:
        """Stop the worker threads (idempotent); ``run`` then works every item in the caller's thread."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
