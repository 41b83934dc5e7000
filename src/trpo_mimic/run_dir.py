"""The run directory's one writer: rank 0 locks it (:class:`.faults.RunLock`) and, for a new run, makes sure it
holds no other run (removing one under ``--overwrite``). Part of :class:`.train.Trainer`."""
from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Any

from . import distributed as D
from .faults import RunDirLocked, RunLock, os_fault
from .guards import OutputRefused, clear_run, inputs_of, refuse_clearing_inputs, run_exists, run_files
from .tasks import task_for


class RunDirOwner:
    """What a trainer does to own its run directory (``self.cfg``, ``self.run_dir``, ``self.lock``)."""

    cfg: Any
    run_dir: Path
    lock: RunLock | None

    def lock_run_dir(self) -> RunLock | None:
        """Rank 0 takes the run directory's lock (`faults.RunLock`); every rank learns whether it was refused, and
        stops with the same line. Then the temporaries of a save that was killed are removed (only now: a live
        writer's would not be stale)."""
        lock, refused = None, None
        if D.is_main():
            try:
                lock = self.take_run_dir()
            except (RunDirLocked, OutputRefused) as exc:
                refused = exc
            except OSError as exc:  # --checkpoint_dir a file, or read-only: one line, exit code 1
                refused = os_fault(exc)
        try:
            refused_on_main = D.from_main(0 if refused is None else 2 if isinstance(refused, OutputRefused) else 1)
        except BaseException:  # a rank lost already
            if lock is not None:
                lock.release()
            raise
        if refused_on_main == 2:
            raise refused or OutputRefused(f"{self.run_dir}: refused by rank 0 (it holds another run)")
        if refused_on_main:
            raise refused or RunDirLocked(f"{self.run_dir} is in use by another process (rank 0 was refused its "
                                          f"lock)")
        if lock is not None:
            if lock.taken_over is not None:
                print(f"note: {lock.path} named process {lock.taken_over}, which ended without releasing it: "
                      f"taken over", file=sys.stderr)
            for stale in self.run_dir.glob(".*.pt.*.tmp"):  # left by a save that was killed
                stale.unlink(missing_ok=True)
        return lock

    def take_run_dir(self) -> RunLock:
        """Rank 0: lock the run directory. A new run (no --resume) needs one that holds no run (`guards.run_files`):
        with --overwrite the old run's files are removed (under the lock), under the default name the next free
        name is taken (<name>-2, -3, ...: another run started in the same second), and an explicit --run_name that
        holds a run is refused."""
        cfg, base = self.cfg, self.run_dir
        default_name = not cfg.resume and cfg.run_name is None
        for n in itertools.count(1):
            if default_name:
                self.run_dir = base if n == 1 else base.with_name(f"{base.name}-{n}")
                if run_files(self.run_dir):
                    continue
            try:
                lock = RunLock(self.run_dir)
            except RunDirLocked:
                if default_name:
                    continue
                raise
            held = [] if cfg.resume else run_files(self.run_dir)
            if not held:
                return lock
            if default_name:  # taken meanwhile
                lock.release()
                continue
            try:
                if not cfg.overwrite:
                    raise run_exists(self.run_dir, held)
                refuse_clearing_inputs(self.run_dir, inputs_of(
                    [("--pretrained_weight_path", cfg.pretrained_weight_path),
                     *task_for(cfg.env_id).input_files(cfg)]))
                removed = clear_run(self.run_dir)
            except BaseException:
                lock.release()
                raise
            print(f"--overwrite: removed the previous run's {len(removed)} files from {self.run_dir}", file=sys.stderr)
            return lock
        raise AssertionError  # not reached

    def release(self, discard: bool = False) -> None:
        """Give the run directory to the next writer; ``discard``: a new run refused before it wrote anything
        leaves no trace (:meth:`.faults.RunLock.discard`)."""
        if self.lock is not None:
            if discard:
                self.lock.discard()
            else:
                self.lock.release()
