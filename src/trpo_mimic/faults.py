"""Faults a long run meets from its surroundings, each ended with one line and exit code 1 (`RunFault`):
a write that fails (`WriteFailed`: a full disk, a lost mount), a rank lost under torchrun (`PeerLost`, raised by
`distributed`).

Command-line mistakes are exit code 2 (`cli.UsageError` and the other named errors); these are not mistakes
of the command but of the machine it runs on.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path


class RunFault(Exception):
    """A fault of the run's surroundings that ends it: one line, exit code 1."""


class WriteFailed(RunFault):
    """A file of the run could not be written (no space left, quota, read-only or lost file system)."""


class PeerLost(RunFault):
    """Under torchrun: another rank died or stopped answering within --dist_timeout."""


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError  # not reached


def free_space(directory: str | Path) -> str:
    """'<n> free on <directory>', or that it is unknown."""
    try:
        return f"{human_bytes(shutil.disk_usage(directory).free)} free on {directory}"
    except OSError:
        return f"free space on {directory} unknown"


def write_failed(path: str | Path, exc: OSError, kept: str) -> WriteFailed:
    """The one line for a failed write of `path`: the reason, the free space where it lives, and what is kept."""
    path = Path(path)
    reason = exc.strerror or str(exc) or type(exc).__name__
    return WriteFailed(f"cannot write {path}: {reason} ({free_space(path.parent)}); {kept}")


def os_error_of(exc: BaseException) -> OSError | None:
    """The OSError behind `exc`: itself, or one in its chain (torch.save's zip writer, failing to finish a file the
    disk refused, raises a RuntimeError of its own over the OSError)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None
