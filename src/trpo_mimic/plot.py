"""Learning curves from run directories' progress.csv (mean and band over runs).

Gymnasium and Atari runs: the training episode return against samples, with the evaluations as points.

DeepMimic runs: reward per step, on DeepMimic's 0-1 scale, for training episodes and evaluations alike, with the
episode length under it. Their returns alone do not compare: a training episode (the stochastic policy, ended
by the pose termination) is short and its return small, an evaluation episode (the deterministic policy) runs to
the time limit, so its return is several times larger. Per step, both read on one scale, and a fall shows as a
length below the limit."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

TRAIN_RETURN, TRAIN_LENGTH = "Rollout/EpisodeReturn", "Rollout/EpisodeLength"
EVAL_RETURN, EVAL_LENGTH = "Eval/Return", "Eval/EpisodeLength"


def _table(run_dir: str | Path) -> tuple[list[str], list[dict[str, str]]]:
    """(column names, rows) of a run's progress.csv; a file that is not text or not CSV is a ValueError naming it."""
    path = Path(run_dir) / "progress.csv"
    if not path.exists():
        raise FileNotFoundError(f"{run_dir}: no progress.csv (is this a run directory?)")
    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            return list(reader.fieldnames or []), rows
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"{path}: not a progress log ({exc})") from None


def read_columns(run_dir: str | Path, *keys: str) -> tuple[np.ndarray, ...]:
    """(timesteps, one array per key) from a run's progress.csv: the rows where every key has a value. A file
    that is not text, or a cell that is not a number, is a ValueError naming the file (and the line and column)."""
    path = Path(run_dir) / "progress.csv"
    xs: list[float] = []
    cols: list[list[float]] = [[] for _ in keys]
    for line, row in enumerate(_table(run_dir)[1], start=2):
        vals = [row.get(k, "") for k in keys]
        if all(v not in ("", None) for v in vals):
            for k, v in (("timesteps", row.get("timesteps")), *zip(keys, vals)):
                try:
                    float(v)
                except (TypeError, ValueError):
                    raise ValueError(f"{path}, line {line}: {k} is {v!r}, not a number") from None
            xs.append(float(row["timesteps"]))
            for c, v in zip(cols, vals):
                c.append(float(v))
    return (np.asarray(xs), *(np.asarray(c) for c in cols))


def read_curve(run_dir: str | Path, key: str = TRAIN_RETURN) -> tuple[np.ndarray, np.ndarray]:
    """(timesteps, values) of one scalar from a run's progress.csv, skipping empty cells."""
    x, y = read_columns(run_dir, key)
    return x, y


def _config(run_dir: str | Path) -> dict[str, Any]:
    try:
        return json.loads((Path(run_dir) / "config.json").read_text())
    except (OSError, ValueError):
        return {}


def run_task(run_dir: str | Path) -> Any:
    """The task a run trained (:mod:`.tasks`): by its config.json's env_id, or without one, by the prefix of
    progress.csv's reward-term columns (:attr:`.tasks.Task.metric_prefix`)."""
    from .tasks import Task, task_for, tasks
    env_id = _config(run_dir).get("env_id")
    if isinstance(env_id, str):
        return task_for(env_id)
    path = Path(run_dir) / "progress.csv"
    if path.exists():
        header = _table(run_dir)[0]
        for t in tasks():
            if any(k.startswith(f"{t.metric_prefix}/") for k in header):
                return t
    return Task()


def per_step_run(run_dir: str | Path) -> bool:
    """Whether a run's curve is reward per step (its task's :attr:`.tasks.Task.per_step_curve`: DeepMimic's)."""
    return run_task(run_dir).per_step_curve


def per_step_curves(run_dir: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A DeepMimic run's series, each (timesteps, values): "train" and "eval" reward per step, "train_length"
    and "eval_length" episode length. Training: the mean return over the mean length of the last 100 episodes
    (their total reward over their total steps); evaluation: its mean return over its mean length (the
    Eval/RewardPerStep the trainer logs)."""
    x, ret, length = read_columns(run_dir, TRAIN_RETURN, TRAIN_LENGTH)
    ex, eret, elength = read_columns(run_dir, EVAL_RETURN, EVAL_LENGTH)
    return {"train": (x, ret / np.maximum(length, 1e-9)), "train_length": (x, length),
            "eval": (ex, eret / np.maximum(elength, 1e-9)), "eval_length": (ex, elength)}


def episode_limit(run_dir: str | Path) -> int | None:
    """A run's time limit in steps: --max_episode_steps, or its task's (the DeepMimic ids' 300)."""
    limit = _config(run_dir).get("max_episode_steps")
    return int(limit) if isinstance(limit, (int, float)) and limit > 0 else run_task(run_dir).default_episode_steps


def _lines(ax: Any, curves: list[tuple[np.ndarray, np.ndarray]], names: list[str], color: str, label: str) -> None:
    """One run's line, or each run's faint line with their mean and min-max band on a common grid."""
    kept = [(c, n) for c, n in zip(curves, names) if len(c[0])]
    if not kept:
        return
    curves = [c for c, _ in kept]
    if len(curves) == 1:
        ax.plot(*curves[0], color=color, label=label.format(kept[0][1]))
        return
    end = min(x[-1] for x, _ in curves)
    start = max(x[0] for x, _ in curves)
    grid = np.linspace(start, end, 200) if end > start else np.array([end])
    ys = np.stack([np.interp(grid, x, y) for x, y in curves])
    for x, y in curves:
        ax.plot(x, y, color=color, alpha=0.25, linewidth=0.8)
    ax.plot(grid, ys.mean(0), color=color, label=label.format(f"mean of {len(curves)} runs"))
    ax.fill_between(grid, ys.min(0), ys.max(0), color=color, alpha=0.2, label="min-max")


def _points(ax: Any, curves: list[tuple[np.ndarray, np.ndarray]], color: str, label: str) -> None:
    first = True
    for x, y in curves:
        if len(x):
            ax.scatter(x, y, color=color, s=12, zorder=3, label=label if first else None)
            first = False


def figure(run_dirs: Sequence[str | Path], title: str | None = None) -> Any:
    """The learning-curve figure of one or more runs (a matplotlib Figure): for DeepMimic runs two panels,
    reward per step over episode length; otherwise one, the episode return."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [Path(d).name for d in run_dirs]
    title = title or ", ".join(sorted({n.split("-trpo-")[0] for n in names}))
    if run_dirs and all(per_step_run(d) for d in run_dirs):
        series = [per_step_curves(d) for d in run_dirs]
        if not any(len(s[k][0]) for s in series for k in ("train", "eval")):
            raise ValueError("none of the runs has logged an episode return yet")
        fig, (ax, ax_len) = plt.subplots(2, 1, figsize=(7, 6), dpi=100, sharex=True,
                                         gridspec_kw={"height_ratios": [3, 2]})
        _lines(ax, [s["train"] for s in series], names, "C0", "training episodes ({})")
        _points(ax, [s["eval"] for s in series], "C1", "evaluation")
        top = max([1.0] + [float(s[k][1].max()) for s in series for k in ("train", "eval") if len(s[k][1])])
        ax.set_ylim(0, top * 1.02)
        ax.set_ylabel("reward per step")
        ax.set_title(title)
        _lines(ax_len, [s["train_length"] for s in series], names, "C0", "training episodes ({})")
        _points(ax_len, [s["eval_length"] for s in series], "C1", "evaluation")
        limits = {episode_limit(d) for d in run_dirs}
        if len(limits) == 1:
            ax_len.axhline(limits.pop(), color="0.4", linestyle="--", linewidth=0.8,
                           label="time limit (no fall)")
        ax_len.set_ylim(bottom=0)
        ax_len.set_ylabel("episode length (steps)")
        ax_len.set_xlabel("environment samples")
        for a in (ax, ax_len):
            a.grid(alpha=0.3)
            a.legend(loc="lower right", fontsize="small")
    else:
        curves = [read_curve(d) for d in run_dirs]
        evals = [read_curve(d, EVAL_RETURN) for d in run_dirs]
        if not any(len(x) for x, _ in curves) and not any(len(x) for x, _ in evals):
            raise ValueError("none of the runs has logged an episode return yet")
        fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
        _lines(ax, curves, names, "C0", "{}")
        _points(ax, evals, "C1", "evaluation")
        ax.set_xlabel("environment samples")
        ax.set_ylabel("episode return")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def plot_runs(run_dirs: Sequence[str | Path], out: str | Path, title: str | None = None) -> Path:
    """Write the learning-curve PNG of one or more runs (see `figure`); returns its path."""
    import matplotlib.pyplot as plt

    fig = figure(run_dirs, title)
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out)
    finally:
        plt.close(fig)
    return out
