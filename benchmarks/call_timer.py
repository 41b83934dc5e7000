"""Time every call of one method of one object from now on (benchmarks only)."""
from __future__ import annotations

import time
from typing import Any, Callable


def time_calls(obj: Any, name: str) -> Callable[[], float]:
    """Replace ``obj.name`` with a wrapper that adds the seconds of each call to a total; returns a function
    giving the total so far."""
    inner = getattr(obj, name)
    spent = [0.0]

    def timed(*a, **k):
        t = time.perf_counter()
        try:
            return inner(*a, **k)
        finally:
            spent[0] += time.perf_counter() - t

    setattr(obj, name, timed)
    return lambda: spent[0]
