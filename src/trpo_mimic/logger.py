"""Run logging: TensorBoard scalars, a CSV progress file and console lines.

Both files are written in the calling thread and flushed with every `RunLogger.log`, so a write that fails (a
full disk) ends the run at once with `WriteFailed`, one line, and what was written before stays readable. The
memory they hold does not grow with the run: one open file each, no rows kept."""
from __future__ import annotations

import contextlib
import csv
import itertools
import json
import os
import socket
import time
from pathlib import Path
from typing import Any, Iterator

from .faults import write_failed

KEPT = "what was written before is kept"


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """An OSError while writing `path` becomes `WriteFailed` (one line naming the file and the free space)."""
    try:
        yield
    except OSError as exc:
        raise write_failed(path, exc, KEPT) from None


class EventFile:
    """A TensorBoard event file (`events.out.tfevents.*`, read by TensorBoard as SummaryWriter's): scalars and
    text, written in the calling thread.

    SummaryWriter writes from a thread of its own, where a failed write surfaces late, as that thread's
    traceback; here it is an OSError of the call that wrote."""

    _uid = itertools.count()

    @staticmethod
    def new_path(run_dir: Path) -> Path:
        stamp = f"{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{next(EventFile._uid)}"
        return run_dir / f"events.out.tfevents.{stamp}"

    def __init__(self, path: Path) -> None:
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.summary.writer.record_writer import RecordWriter

        self._event = Event
        self.path = path
        self._fh = open(self.path, "ab")
        self._records = RecordWriter(self._fh)
        self._records.write(Event(wall_time=time.time(), file_version="brain.Event:2").SerializeToString())
        self._fh.flush()

    def add(self, summaries: list[Any], step: int) -> None:
        now = time.time()
        for summary in summaries:
            self._records.write(self._event(wall_time=now, step=step, summary=summary).SerializeToString())
        self._fh.flush()

    def scalars(self, scalars: dict[str, float], step: int) -> None:
        from torch.utils.tensorboard.summary import scalar
        self.add([scalar(k, float(v)) for k, v in scalars.items()], step)

    def text(self, tag: str, text: str, step: int = 0) -> None:
        from torch.utils.tensorboard.summary import text as text_summary
        self.add([text_summary(tag, text)], step)

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


class RunLogger:
    """Writes each iteration's scalars to TensorBoard and progress.csv in the run directory."""

    def __init__(self, run_dir: Path, config: dict[str, Any], tensorboard: bool = True,
                 wandb_project: str | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.csv_path = self.run_dir / "progress.csv"
        self._csv_file = None
        self._fields: list[str] | None = None
        config_path = self.run_dir / "config.json"
        with writing(config_path):
            self.run_dir.mkdir(parents=True, exist_ok=True)
            config_path.write_text(json.dumps(config, indent=2, sort_keys=True))
        self.events: EventFile | None = None
        if tensorboard:
            events_path = EventFile.new_path(self.run_dir)
            with writing(events_path):
                self.events = EventFile(events_path)
                self.events.text("hyperparameters", "\n".join(f"    {k}: {v}" for k, v in sorted(config.items())))
        self.wandb_run = None
        if wandb_project:
            try:
                import wandb
            except ImportError:
                raise ValueError("--wandb needs the wandb package (pip install wandb); it is optional") from None
            self.wandb_run = wandb.init(project=wandb_project, name=self.run_dir.name, config=config,
                                        dir=str(self.run_dir), mode=os.environ.get("WANDB_MODE", "offline"))

    def log(self, scalars: dict[str, float], step: int) -> None:
        if self.events is not None:
            with writing(self.events.path):
                self.events.scalars(scalars, step)
        if self.wandb_run is not None:
            self.wandb_run.log(dict(scalars), step=step)
        with writing(self.csv_path):
            self._csv_row({"timesteps": step, **scalars})

    def _csv_row(self, row: dict[str, Any]) -> None:
        if self._fields is None:
            self._fields = self._existing_header()
            self._csv_file = self._open_for_append()
            if not self._fields:
                self._fields = list(row)
                self._writer().writeheader()
        new = [k for k in row if k not in self._fields]
        if new:
            self._extend_header(new)
        self._writer().writerow(row)
        self._csv_file.flush()

    def _writer(self) -> csv.DictWriter:
        return csv.DictWriter(self._csv_file, fieldnames=self._fields, restval="", extrasaction="ignore")

    def _existing_header(self) -> list[str]:
        if not self.csv_path.exists() or self.csv_path.stat().st_size == 0:
            return []
        with open(self.csv_path, newline="") as fh:
            return next(csv.reader(fh), [])

    def _open_for_append(self) -> Any:
        """progress.csv for appending; a last row cut short (a full disk, a killed run) is dropped first, so the
        next row starts on a line of its own."""
        fh = open(self.csv_path, "a+b")
        size = fh.seek(0, os.SEEK_END)
        if size:
            fh.seek(max(0, size - 65536))
            tail = fh.read()
            if not tail.endswith(b"\n"):
                cut = tail.rfind(b"\n")
                fh.truncate(size - len(tail) + cut + 1 if cut >= 0 else 0)
        fh.close()
        return open(self.csv_path, "a", newline="")

    def _extend_header(self, new: list[str]) -> None:
        """A scalar seen for the first time: rewrite the file (atomically, row by row) with the wider header."""
        self._csv_file.close()
        self._fields = self._fields + new
        tmp = self.csv_path.with_suffix(".csv.tmp")
        try:
            with open(self.csv_path, newline="") as src, open(tmp, "w", newline="") as dst:
                w = csv.DictWriter(dst, fieldnames=self._fields, restval="")
                w.writeheader()
                w.writerows(csv.DictReader(src))
            os.replace(tmp, self.csv_path)
        finally:
            tmp.unlink(missing_ok=True)
            self._csv_file = open(self.csv_path, "a", newline="")

    def flush(self) -> None:
        if self.events is not None:
            with writing(self.events.path):
                self.events.flush()
        if self._csv_file is not None:
            with writing(self.csv_path):
                self._csv_file.flush()

    def close(self) -> None:
        """Close the files. Every log call has flushed them, so nothing is lost here; a close that fails (the disk
        filled since) is not reported again: the run is ending already, with its own message."""
        if self.wandb_run is not None:
            self.wandb_run.finish()
        for fh in (self.events, self._csv_file):
            if fh is not None:
                try:
                    fh.close()
                except OSError:
                    pass
        self.events = self._csv_file = None
