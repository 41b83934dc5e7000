"""Run logging: TensorBoard scalars, a CSV progress file and console lines."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any


class RunLogger:
    """Writes each iteration's scalars to TensorBoard and progress.csv in the run directory."""

    def __init__(self, run_dir: Path, config: dict[str, Any], tensorboard: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.csv_path = self.run_dir / "progress.csv"
        self._csv_file = None
        self._csv_writer = None
        self._fields: list[str] | None = None
        (self.run_dir / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(log_dir=str(self.run_dir))
            self.writer.add_text("hyperparameters", "\n".join(f"    {k}: {v}" for k, v in sorted(config.items())))

    def log(self, scalars: dict[str, float], step: int) -> None:
        if self.writer is not None:
            for k, v in scalars.items():
                self.writer.add_scalar(k, v, step)
        row = {"timesteps": step, **scalars}
        if self._fields is None:
            exists = self.csv_path.exists() and self.csv_path.stat().st_size > 0
            if exists:
                with open(self.csv_path, newline="") as fh:
                    header = next(csv.reader(fh), None)
                self._fields = header or list(row)
            else:
                self._fields = list(row)
            self._csv_file = open(self.csv_path, "a", newline="")
            self._csv_writer = csv.DictWriter(self._csv_file, fieldnames=self._fields, extrasaction="ignore")
            if not exists:
                self._csv_writer.writeheader()
        self._csv_writer.writerow(row)
        self._csv_file.flush()

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()
        if self._csv_file is not None:
            self._csv_file.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self._csv_file is not None:
            self._csv_file.close()
