"""Learning curves: return against samples from run directories' progress.csv (mean and band over runs)."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import numpy as np


def read_curve(run_dir: str | Path, key: str = "Rollout/EpisodeReturn") -> tuple[np.ndarray, np.ndarray]:
    """(timesteps, values) of one scalar from a run's progress.csv, skipping empty cells."""
    path = Path(run_dir) / "progress.csv"
    if not path.exists():
        raise FileNotFoundError(f"{run_dir}: no progress.csv (is this a run directory?)")
    xs, ys = [], []
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            v = row.get(key, "")
            if v not in ("", None):
                xs.append(float(row["timesteps"]))
                ys.append(float(v))
    return np.asarray(xs), np.asarray(ys)


def plot_runs(run_dirs: Sequence[str | Path], out: str | Path, title: str | None = None) -> Path:
    """Write a PNG: each run's training return, and with several runs their mean and min-max band."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = [read_curve(d) for d in run_dirs]
    curves = [(x, y) for x, y in curves if len(x)]
    evals = [read_curve(d, "Eval/Return") for d in run_dirs]
    if not curves and not any(len(x) for x, _ in evals):
        raise ValueError("none of the runs has logged an episode return yet")
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    if not curves:
        pass
    elif len(curves) == 1:
        ax.plot(*curves[0], color="C0", label=Path(run_dirs[0]).name)
    else:
        end = min(x[-1] for x, _ in curves)
        start = max(x[0] for x, _ in curves)
        grid = np.linspace(start, end, 200) if end > start else np.array([end])
        ys = np.stack([np.interp(grid, x, y) for x, y in curves])
        for x, y in curves:
            ax.plot(x, y, color="C0", alpha=0.25, linewidth=0.8)
        ax.plot(grid, ys.mean(0), color="C0", label=f"mean of {len(curves)} runs")
        ax.fill_between(grid, ys.min(0), ys.max(0), color="C0", alpha=0.2, label="min-max")
    for i, (x, y) in enumerate(evals):
        if len(x):
            ax.scatter(x, y, color="C1", s=12, zorder=3, label="evaluation" if i == 0 else None)
    ax.set_xlabel("environment samples")
    ax.set_ylabel("episode return")
    ax.set_title(title or ", ".join(sorted({Path(d).name.split("-trpo-")[0] for d in run_dirs})))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
