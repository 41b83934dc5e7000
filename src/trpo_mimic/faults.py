"""Faults a long run meets from its surroundings, each ended with one line and exit code 1 (`RunFault`):
a write that fails (`WriteFailed`: a full disk, a lost mount), a second writer in the same run directory
(`RunDirLocked`, refused by `RunLock`), a rank lost under torchrun (`PeerLost`, raised by `distributed`).

Command-line mistakes are exit code 2 (`cli.UsageError` and the other named errors); these are not mistakes
of the command but of the machine it runs on.
"""
from __future__ import annotations

import errno
import fcntl
import os
import shutil
from pathlib import Path


class RunFault(Exception):
    """A fault of the run's surroundings that ends it: one line, exit code 1."""


class WriteFailed(RunFault):
    """A file of the run could not be written (no space left, quota, read-only or lost file system)."""


class RunDirLocked(RunFault):
    """The run directory is held by another live writer."""


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


def reason_of(exc: OSError) -> str:
    """What went wrong, in one line: the system's words (strerror), else the first line of the message."""
    lines = (exc.strerror or str(exc)).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def write_failed(path: str | Path, exc: OSError, kept: str) -> WriteFailed:
    """The one line for a failed write of `path`: the reason, the free space where it lives, and what is kept."""
    path = Path(path)
    reason = reason_of(exc)
    return WriteFailed(f"cannot write {path}: {reason} ({free_space(path.parent)}); {kept}")


def os_fault(exc: OSError) -> RunFault:
    """The one line for an OSError that ends a command (`cli.run_command` routes every one here): the path and
    what is wrong with it: a read-only or full file system, a permission, a file where a directory is needed
    (naming the file in the way) or a directory where a file is."""
    reason = reason_of(exc)
    if exc.filename is None:
        return RunFault(reason)
    path = Path(os.fsdecode(exc.filename))
    if exc.errno == errno.ENOTDIR:
        blocker = next((p for p in [path, *path.parents] if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            return RunFault(f"cannot use {path}: {blocker} is a file, not a directory")
    if exc.errno == errno.EEXIST and path.exists() and not path.is_dir():
        return RunFault(f"cannot make the directory {path}: {path} is a file, not a directory")
    if exc.errno == errno.EISDIR:
        return RunFault(f"cannot use {path}: it is a directory, not a file")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        reason += f" ({free_space(path.parent)})"
    other = f" -> {os.fsdecode(exc.filename2)}" if exc.filename2 is not None else ""
    return RunFault(f"{path}{other}: {reason}")


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


LOCK_NAME = ".lock"


class RunLock:
    """One writer per run directory: an exclusive `flock` on ``<run>/.lock``, which also holds the writer's
    process id (for the message a second writer gets).

    The kernel drops an flock when its holder dies, however it dies, so a lock left by a killed run is simply
    taken over (`taken_over`: the process id it still named). A clean release empties the file. The lock is
    advisory: it stops a second trpo-mimic, not another program, and needs a file system with flock (local
    disks do; some network file systems do not, and then the run goes on unlocked with a warning)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self.made_dir = not self.path.parent.exists()  # this lock made the run directory (see discard)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.taken_over: int | None = None
        self.fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._read_pid()
            os.close(self.fd)
            self.fd = None
            who = f"process {holder}" if holder else "another process"
            raise RunDirLocked(f"{self.path.parent} is in use by {who} (a run directory has one writer): wait for it "
                               f"to end or stop it, or train under another --run_name") from None
        except OSError as exc:  # no flock on this file system
            import sys
            print(f"warning: cannot lock {self.path} ({exc.strerror}); a second writer would not be refused",
                  file=sys.stderr)
        self.taken_over = self._read_pid()
        if self.taken_over == os.getpid():
            self.taken_over = None
        try:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:
            self.release()
            raise write_failed(self.path, exc, "nothing was trained") from None

    def _read_pid(self) -> int | None:
        try:
            text = os.pread(self.fd, 64, 0).decode(errors="replace").strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def discard(self) -> None:
        """A run that ended before it wrote anything (refused while building): the lock file is removed, and the
        run directory too if this lock made it and nothing else is in it; idempotent."""
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # still held: no other writer has it
        except OSError:
            pass
        self.release()
        if self.made_dir:
            try:
                self.path.parent.rmdir()
            except OSError:  # not empty (something was written after all) or gone
                pass

    def release(self) -> None:
        """Empty the file (a clean end) and drop the lock; idempotent."""
        if self.fd is None:
            return
        try:
            os.ftruncate(self.fd, 0)
        except OSError:
            pass
        os.close(self.fd)  # closing the only descriptor drops the flock
        self.fd = None
