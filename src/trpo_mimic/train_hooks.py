"""What the training loop does between iterations, as hooks: save checkpoints (:class:`SaveHook`), evaluate and
stop at a goal (:class:`EvalHook`). :meth:`.train.Trainer.run` calls each hook's :meth:`Hook.after_iteration`
in order after every iteration (any may stop the run) and :meth:`Hook.at_end` once the loop ends (rank 0 only).

What changes an iteration itself (a reward of its own, a second network updated beside the algorithm) is not a
hook but a :class:`.tasks.TrainingExtension`, which :meth:`.train.Trainer.iterate` calls."""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import torch

from . import distributed as D
from .faults import write_failed
from .tasks import task_for

Trainer = Any
"""A :class:`.train.Trainer` (not imported: the trainer imports its hooks)."""


class Hook:
    """Something the training loop does after an iteration; both methods may be left as they are."""

    def after_iteration(self, trainer: "Trainer", scalars: dict[str, float], bar: Any) -> bool:
        """After iteration ``trainer.iteration`` (its ``scalars`` logged): True stops the run. Every rank calls
        it; a hook that decides on rank 0 alone must tell the others (as :class:`EvalHook` does)."""
        return False

    def at_end(self, trainer: "Trainer", bar: Any) -> None:
        """Once the loop has ended (rank 0)."""


class SaveHook(Hook):
    """latest.pt and iter_<N>.pt every ``--save_per_iter`` iterations, and at the end if the last was not saved."""

    def __init__(self, every: int, last_saved: int) -> None:
        self.every, self.last_saved = max(1, every), last_saved

    def after_iteration(self, trainer: "Trainer", scalars: dict[str, float], bar: Any) -> bool:
        if D.is_main() and trainer.iteration % self.every == 0:
            trainer.save()
            self.last_saved = trainer.iteration
        return False

    def at_end(self, trainer: "Trainer", bar: Any) -> None:
        if self.last_saved != trainer.iteration:
            trainer.save()


def reached_goal(cfg: Any, ev: dict[str, float]) -> bool:
    """--stop_reward_per_step: this evaluation reached it, and none of its episodes ended early. Where no episode
    can end early (:meth:`.tasks.Task.episodes_end_early`: DeepMimic's --no-early_termination, the getups, the
    roll) every episode must also succeed (stay within the success error of the clip throughout): a character
    that never gets up scores well on the phases where the clip lies too."""
    goal = cfg.stop_reward_per_step
    reached = goal is not None and ev["Eval/RewardPerStep"] >= goal and ev["Eval/Terminated"] == 0
    if reached and not task_for(cfg.env_id).episodes_end_early(cfg):
        reached = ev.get("Eval/SuccessRate", 0.0) >= 1.0
    return reached


class EvalHook(Hook):
    """A deterministic evaluation every ``--eval_freq`` iterations (rank 0), with a preview video within
    ``--eval_video_budget``; the run stops once one reaches ``--stop_reward_per_step`` and fresh episodes confirm
    it (every rank follows rank 0's decision); a final evaluation at the end."""

    def __init__(self, trainer: "Trainer") -> None:
        self.cfg = trainer.cfg

    def after_iteration(self, trainer: "Trainer", scalars: dict[str, float], bar: Any) -> bool:
        cfg = self.cfg
        evaluating = cfg.eval_freq and cfg.eval_episodes > 0 and trainer.iteration % cfg.eval_freq == 0
        stop = False
        if D.is_main() and evaluating:
            ev = self.evaluate(trainer, f"iter_{trainer.iteration}")
            bar.write(f"eval at iter {trainer.iteration}: return {ev['Eval/Return']:.2f} ± "
                      f"{ev['Eval/ReturnStd']:.2f}, length {ev['Eval/EpisodeLength']:.1f}, "
                      f"{ev['Eval/RewardPerStep']:.4f} per step", file=sys.stdout)
            stop = reached_goal(cfg, ev) and self.confirm_goal(trainer, bar)
            if stop:
                bar.write(f"stopping: the evaluation reached {ev['Eval/RewardPerStep']:.4f} reward per step "
                          f"(--stop_reward_per_step {cfg.stop_reward_per_step}) with no episode ended "
                          f"early, at {trainer.timesteps:,} samples", file=sys.stdout)
        if evaluating and cfg.stop_reward_per_step is not None:  # every rank follows rank 0's decision
            stop = bool(D.sum_(torch.tensor([float(stop)]))[0] > 0)
        return stop

    def at_end(self, trainer: "Trainer", bar: Any) -> None:
        if self.cfg.eval_episodes > 0:
            ev = self.evaluate(trainer, "final")
            bar.write(f"final eval: return {ev['Eval/Return']:.2f} ± {ev['Eval/ReturnStd']:.2f}, "
                      f"length {ev['Eval/EpisodeLength']:.1f}", file=sys.stdout)

    def evaluate(self, trainer: "Trainer", tag: str) -> dict[str, float]:
        """Deterministic evaluation on fresh environments, with a preview video of its first episode in
        <run>/videos/<tag>.mp4 (within --eval_video_budget; always at the end of training)."""
        from .evaluate import evaluate_policy  # looked up per call (tests replace it); evaluate imports no train
        cfg = self.cfg
        seed = cfg.seed + 1_000_003
        t0 = time.perf_counter()
        result, _ = evaluate_policy(trainer.agent, cfg, cfg.eval_episodes, seed, True, None, progress=False)
        if cfg.eval_video and (tag == "final" or
                               trainer.video_seconds < cfg.eval_video_budget * (t0 - trainer.started)):
            t1 = time.perf_counter()
            self.preview(trainer, trainer.run_dir / "videos" / f"{tag}.mp4", seed)
            trainer.video_seconds += time.perf_counter() - t1
        trainer.eval_seconds += time.perf_counter() - t0
        s = result.summary()
        scalars = {"Eval/Return": s["return_mean"], "Eval/ReturnStd": s["return_std"],
                   "Eval/EpisodeLength": s["length_mean"], "Eval/Terminated": float(s["terminated"]),
                   "Eval/RewardPerStep": result.reward_per_step}
        if "success_rate" in s:
            scalars["Eval/SuccessRate"] = s["success_rate"]
        for k, v in result.term_means.items():
            scalars[f"Eval/{k}"] = v
        trainer.logger.log(scalars, trainer.timesteps)
        return scalars

    def preview(self, trainer: "Trainer", video: Path, seed: int) -> None:
        """Film an evaluation's first episode; a problem with it (no GL, a full disk) is a warning, not the run's
        end."""
        from .evaluate import record_preview
        cfg = self.cfg
        try:
            record_preview(trainer.agent, cfg, seed, video, tuple(cfg.eval_video_size), cfg.eval_video_seconds,
                           draft=True)
        except Exception as exc:
            why = (write_failed(video, exc, "evaluating without video") if isinstance(exc, OSError)
                   else f"evaluation video failed ({type(exc).__name__}: {exc}); evaluating without video")
            print(f"warning: {why}", file=sys.stderr)

    def confirm_goal(self, trainer: "Trainer", bar: Any) -> bool:
        """A goal reached in the few evaluation episodes (--eval_episodes) is confirmed with --num_eval_episodes
        fresh ones (the size of the final verdict) when that is more: a short clip's 5 episodes say little about
        falls."""
        from .evaluate import evaluate_policy
        cfg = self.cfg
        if cfg.num_eval_episodes <= cfg.eval_episodes:
            return True
        t0 = time.perf_counter()
        result, _ = evaluate_policy(trainer.agent, cfg, cfg.num_eval_episodes, cfg.seed + 2_000_003, True, None,
                                    progress=False)
        trainer.eval_seconds += time.perf_counter() - t0
        summary = result.summary()
        ended = summary["terminated"]
        succeeded = f", {summary['success_rate']:.0%} succeeded" if "success_rate" in summary else ""
        bar.write(f"confirming with {cfg.num_eval_episodes} episodes: {result.reward_per_step:.4f} per step, "
                  f"{ended:.0f} ended early{succeeded}", file=sys.stdout)
        trainer.logger.log({"Eval/ConfirmRewardPerStep": result.reward_per_step}, trainer.timesteps)
        return reached_goal(cfg, {"Eval/RewardPerStep": result.reward_per_step, "Eval/Terminated": float(ended),
                                  "Eval/SuccessRate": summary.get("success_rate", 0.0)})
