"""Run logging: TensorBoard scalars, a CSV progress file and console lines."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any


class RunLogger:
    """Writes each iteration's scalars to TensorBoard and progress.csv in the run directory."""

    def __init__(self, run_dir: Path, config: dict[str, Any], tensorboard: bool = True,
                 wandb_project: str | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.csv_path = self.run_dir / "progress.csv"
        self._csv_file = None
        self._fields: list[str] | None = None
        (self.run_dir / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(log_dir=str(self.run_dir))
            self.writer.add_text("hyperparameters", "\n".join(f"    {k}: {v}" for k, v in sorted(config.items())))
        self.wandb_run = None
        if wandb_project:
            try:
                import wandb
            except ImportError:
                raise ValueError("--wandb needs the wandb package (pip install wandb); it is optional") from None
            self.wandb_run = wandb.init(project=wandb_project, name=self.run_dir.name, config=config,
                                        dir=str(self.run_dir), mode=os.environ.get("WANDB_MODE", "offline"))

    def log(self, scalars: dict[str, float], step: int) -> None:
        if self.writer is not None:
            for k, v in scalars.items():
                self.writer.add_scalar(k, v, step)
        if self.wandb_run is not None:
            self.wandb_run.log(dict(scalars), step=step)
        row = {"timesteps": step, **scalars}
        if self._fields is None:
            self._fields = self._existing_header()
            self._csv_file = open(self.csv_path, "a", newline="")
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

    def _extend_header(self, new: list[str]) -> None:
        """A scalar seen for the first time: rewrite the file (atomically, row by row: the run's rows are not
        held in memory) with the wider header."""
        self._csv_file.close()
        self._fields = self._fields + new
        tmp = self.csv_path.with_suffix(".csv.tmp")
        with open(self.csv_path, newline="") as src, open(tmp, "w", newline="") as dst:
            w = csv.DictWriter(dst, fieldnames=self._fields, restval="")
            w.writeheader()
            w.writerows(csv.DictReader(src))
        os.replace(tmp, self.csv_path)
        self._csv_file = open(self.csv_path, "a", newline="")

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()
        if self._csv_file is not None:
            self._csv_file.flush()

    def close(self) -> None:
        if self.wandb_run is not None:
            self.wandb_run.finish()
        if self.writer is not None:
            self.writer.close()
        if self._csv_file is not None:
            self._csv_file.close()
