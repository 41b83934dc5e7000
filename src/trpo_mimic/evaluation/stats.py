"""The statistics of evaluation episodes: :class:`Tally` is fed their steps, :class:`EvalResult` holds and
formats them (the task's own lines from its :meth:`.tasks.Task.result_lines`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..envs import is_step_metric

BODY_ERROR_KEY = "error_body_pos"
"""The per-step info key of an env that measures how far its bodies are from a reference (m): with it an episode
can succeed (:attr:`EvalResult.successes`)."""
SUCCESS_ERROR = 0.5
"""An episode succeeds when it does not fall and its mean body-position error stays under this (m)
throughout (the success rate of PHC and ProtoMotions)."""


@dataclass
class EvalResult:
    returns: list[float]
    lengths: list[int]
    terminated: list[bool]
    term_means: dict[str, float] = field(default_factory=dict)
    task: Any = None  # the environments' task (.tasks.Task): its lines of the results block
    video: Path | None = None
    clip_stats: dict[str, dict[str, float]] = field(default_factory=dict)  # several-clip DeepMimic: per clip
    switch_falls: int | None = None  # a clip sequence: falls within SWITCH_FALL_SECONDS after a switch
    max_errors: list[float] = field(default_factory=list)  # per episode: largest body-position error (m)
    limit: int | None = None  # the episodes' step limit (None: none known)

    @property
    def reward_per_step(self) -> float:
        """Total reward over total steps, all episodes together (DeepMimic's normalised return)."""
        return sum(self.returns) / max(sum(self.lengths), 1)

    @property
    def return_over_limit(self) -> float | None:
        """Total reward over the steps the episodes could have had (episodes x limit): an episode that ends
        early forfeits the rest (the AMP paper's normalised task return, for a reward in [0, 1]). None without
        a limit."""
        if not self.limit:
            return None
        return sum(self.returns) / (len(self.returns) * self.limit)

    @property
    def successes(self) -> int | None:
        """Episodes without a fall whose body-position error stayed under SUCCESS_ERROR (None: no error known)."""
        if not self.max_errors:
            return None
        return sum(not t and e < SUCCESS_ERROR for t, e in zip(self.terminated, self.max_errors))

    def per_clip(self) -> dict[str, dict[str, float]]:
        """For each clip: episodes that imitated it, steps, reward, reward per step and falls, each step counted
        for the clip it imitated (a clip sequence's episode counts for every clip it went through): the steps,
        rewards and falls add up to the whole evaluation's."""
        return {name: {**c, "reward_per_step": c["reward"] / max(c["steps"], 1)}
                for name, c in sorted(self.clip_stats.items())}

    def summary(self) -> dict[str, float]:
        r, l = np.asarray(self.returns, dtype=np.float64), np.asarray(self.lengths, dtype=np.float64)
        out = {"episodes": len(r), "return_mean": float(r.mean()), "return_std": float(r.std()),
               "return_min": float(r.min()), "return_max": float(r.max()), "length_mean": float(l.mean()),
               "length_std": float(l.std()), "length_min": float(l.min()), "length_max": float(l.max()),
               "terminated": int(sum(self.terminated))}
        out.update(self.term_means)
        if self.successes is not None:
            out["success_rate"] = self.successes / max(len(r), 1)
        return out

    def format(self) -> str:
        s = self.summary()
        lines = [f"episodes: {s['episodes']}",
                 f"return:   {s['return_mean']:.3f} ± {s['return_std']:.3f}  "
                 f"(min {s['return_min']:.3f}, max {s['return_max']:.3f})",
                 f"length:   {s['length_mean']:.1f} ± {s['length_std']:.1f}  "
                 f"(min {s['length_min']:.0f}, max {s['length_max']:.0f})"]
        task_lines = self.task.result_lines(self) if self.task is not None else None
        if task_lines is not None:
            lines += task_lines
        else:
            lines.append(f"terminated: {s['terminated']} of {s['episodes']} episodes")
        return "\n".join(lines)


class Tally:
    """The statistics of evaluation episodes, fed a step of one episode (:meth:`step`) or of a batch of them at
    once (:meth:`step_rows`, the batched evaluation: episode i on sub-env i)."""

    def __init__(self, episodes: int, clips: Any = ()) -> None:
        self.returns, self.lengths = np.zeros(episodes), np.zeros(episodes, dtype=np.int64)
        self.terminated = np.zeros(episodes, dtype=bool)
        self.max_err = np.full(episodes, np.nan)  # nan: no body-position error reported
        self.term_sums: dict[str, float] = {}
        self.term_steps: dict[str, int] = {}
        self.clips = list(clips)  # several clips (a task's): per-clip statistics by the step's "clip"
        self.clip_stats: dict[str, dict[str, float]] = {}
        self._seen: list[set[str]] = [set() for _ in range(episodes)]
        self.switch_falls: int | None = None

    def step(self, ep: int, reward: float, info: dict[str, Any], terminated: bool) -> None:
        """A step of episode `ep` (`info`: the env's info dict)."""
        scalars = {k: np.array([v]) for k, v in info.items() if np.ndim(v) == 0 and not isinstance(v, str)}
        self.step_rows(np.array([ep]), np.array([reward], dtype=np.float64), scalars, np.array([terminated]))

    def step_rows(self, rows: np.ndarray, reward: np.ndarray, info: dict[str, np.ndarray],
                  terminated: np.ndarray) -> None:
        """A step of episodes `rows`: `reward`, `terminated` and each `info` entry an array over those rows (an
        entry may come with its ``"_key"`` mask: the rows that report it)."""
        for k, v in info.items():
            if not is_step_metric(k) or v.ndim != 1:
                continue
            x = v.astype(np.float64)
            finite = np.isfinite(x)
            reported = info.get("_" + k, np.ones(len(x), dtype=bool))
            ok = reported & finite
            if ok.any():
                self.term_sums[k] = self.term_sums.get(k, 0.0) + float(x[ok].sum())
                self.term_steps[k] = self.term_steps.get(k, 0) + int(ok.sum())
            if k == BODY_ERROR_KEY:  # a non-finite error counts as an infinite one
                r = rows[reported]
                self.max_err[r] = np.fmax(self.max_err[r], np.where(finite, x, np.inf)[reported])
        self.returns[rows] += reward
        self.lengths[rows] += 1
        self.terminated[rows] = terminated
        if len(self.clips) > 1:  # the step counts for the clip it imitated
            for j, ep in enumerate(rows):
                name = self.clips[int(info["clip"][j])].name
                c = self.clip_stats.setdefault(name, {"episodes": 0, "steps": 0, "reward": 0.0, "falls": 0})
                if name not in self._seen[ep]:
                    self._seen[ep].add(name)
                    c["episodes"] += 1
                c["steps"] += 1
                c["reward"] += float(reward[j])
                c["falls"] += int(terminated[j])
        if "fell_at_switch" in info:  # a clip sequence
            self.switch_falls = (self.switch_falls or 0) + int(np.sum(info["fell_at_switch"]))

    def result(self, task: Any = None) -> EvalResult:
        return EvalResult(self.returns.tolist(), self.lengths.tolist(), self.terminated.tolist(),
                          {k: v / self.term_steps[k] for k, v in self.term_sums.items()}, task=task,
                          clip_stats=self.clip_stats, switch_falls=self.switch_falls,
                          max_errors=self.max_err[~np.isnan(self.max_err)].tolist())
