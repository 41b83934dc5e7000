"""The training job: collect -> advantages -> update (TRPO or PPO, `algos.make_algorithm`) -> log -> checkpoint."""
from __future__ import annotations

import contextlib
import dataclasses
import itertools
import random
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import distributed as D
from .algos import PolicyBatch, make_algorithm
from .checkpoint import (build_agent, check_resumable, find_resume, load_checkpoint, load_weights, rng_state,
                         save_checkpoint, set_rng_state)
from .config import Config
from .envs import env_kwargs_from_config, is_deepmimic, make_vector_env
from .faults import PeerLost, RunDirLocked, RunLock, os_fault, write_failed
from .guards import OutputRefused, clear_run, inputs_of, refuse_clearing_inputs, run_exists, run_files
from .logger import RunLogger
from .rollout import RolloutCollector, compute_gae
from .rollout.frames import is_stored_frames
from .rollout.reward_scale import RewardScaler
from .threads import limit_threads


class Interrupted(BaseException):
    """Raised inside the loop when SIGINT or SIGTERM arrives, so a checkpoint is written first.

    A BaseException (like KeyboardInterrupt), so that no `except Exception` on the way swallows it."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def default_run_name(cfg: Config) -> str:
    env = cfg.env_id.replace("/", "_")
    return f"{env}-{cfg.algo}-{cfg.seed}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


class Trainer:
    """Owns the environments, agent, optimiser, logger and counters of one run."""

    def __init__(self, cfg: Config) -> None:
        self.started = time.perf_counter()
        self._held, self._pending_signal = False, None  # see _signals_held
        self.eval_seconds = 0.0  # evaluations during and after training, videos included
        self.video_seconds = 0.0  # their preview videos (--eval_video_budget)
        limit_threads(cfg.torch_threads)
        if is_deepmimic(cfg.env_id) and cfg.pd_clamp is None:  # the run's config records the law it trains under
            from .envs.deepmimic.core import TaskOptions
            cfg = dataclasses.replace(cfg, pd_clamp=TaskOptions.pd_clamp)
        self.cfg = cfg
        self.device = torch.device(cfg.resolved_device())
        D.init(self.device.type, cfg.dist_timeout)
        resume_ckpt = None
        self.resumed_from: Path | None = None
        if cfg.resume:
            path = self.resumed_from = find_resume(cfg)
            resume_ckpt = load_checkpoint(path)
            check_resumable(resume_ckpt, path)
            self.run_dir = path.parent
        else:
            self.run_dir = Path(cfg.checkpoint_dir) / (cfg.run_name or default_run_name(cfg))
        self.lock = self.lock_run_dir()
        if cfg.overwrite:  # done: the run's own config says how it was trained, not that it replaced another
            cfg = self.cfg = dataclasses.replace(cfg, overwrite=False)
        try:
            self._build(cfg, resume_ckpt)
        except BaseException:
            self.release()
            raise

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
                     *(("--motion_file", f) for f in cfg.motion_file or []),
                     ("--character_file", cfg.character_file), ("--controller_file", cfg.controller_file)]))
                removed = clear_run(self.run_dir)
            except BaseException:
                lock.release()
                raise
            print(f"--overwrite: removed the previous run's {len(removed)} files from {self.run_dir}", file=sys.stderr)
            return lock
        raise AssertionError  # not reached

    def release(self) -> None:
        """Give the run directory to the next writer."""
        if self.lock is not None:
            self.lock.release()

    def _build(self, cfg: Config, resume_ckpt: dict[str, Any] | None) -> None:
        seed_everything(cfg.seed)
        self.iteration = 0
        self.timesteps = 0
        kwargs = env_kwargs_from_config(cfg)
        self.envs = make_vector_env(cfg.env_id, cfg.num_envs, cfg.vec_env, cfg.max_episode_steps,
                                    env_threads=cfg.env_threads, **kwargs)
        self.agent = build_agent(cfg, self.envs.single_observation_space, self.envs.single_action_space, self.device,
                                 cfg.backend)
        self.algo = make_algorithm(cfg, self.agent)
        self.reward_scaler = RewardScaler(cfg.num_envs, cfg.gamma) if cfg.normalize_reward else None
        if cfg.pretrained_weight_path and resume_ckpt is None:
            ckpt = load_checkpoint(cfg.pretrained_weight_path)
            load_weights(self.agent, ckpt, cfg.pretrained_weight_path)
        if resume_ckpt is not None:
            load_weights(self.agent, resume_ckpt, cfg.resume)
            self.algo.load_state_dict(resume_ckpt)
            if self.reward_scaler is not None and "reward_normalizer" in resume_ckpt:
                self.reward_scaler.load_state_dict(resume_ckpt["reward_normalizer"])
            elif self.reward_scaler is not None:
                print(f"note: {cfg.resume} was trained without --normalize_reward; its reward statistics start "
                      "from nothing here", file=sys.stderr)
            self.iteration = int(resume_ckpt["iteration"])
            self.timesteps = int(resume_ckpt["timesteps"])
            set_rng_state(resume_ckpt["rng"])
        # Every rank starts from rank 0's weights and statistics.
        D.broadcast_parameters(list(self.agent.parameters()) + list(self.agent.obs_normalizer.buffers()))
        # Environments are reset with a seed derived from the iteration (and the rank), so a resumed
        # run is reproducible and ranks see different episodes.
        env_seed = cfg.seed + 100_003 * self.iteration + 1_000_003 * D.rank()
        self.collector = RolloutCollector(self.envs, self.agent, cfg.env_id, seed=env_seed)
        self.logger = (RunLogger(self.run_dir, cfg.to_dict(), wandb_project=cfg.wandb_project if cfg.wandb else None)
                       if D.is_main() else None)
        self.recent_returns: list[float] = []
        self.recent_lengths: list[int] = []
        self.loop_seconds = 0.0
        # wall-clock seconds spent training this run, summed over every resume (what a results table reports)
        self.train_seconds = float(resume_ckpt.get("train_seconds", 0.0)) if resume_ckpt is not None else 0.0

    def checkpoint_payload(self) -> dict[str, Any]:
        return {
            "actor": self.agent.actor.state_dict(),
            "critic": self.agent.critic.state_dict(),
            "obs_normalizer": self.agent.obs_normalizer.state_dict(),
            **self.algo.state_dict(),
            **({"reward_normalizer": self.reward_scaler.state_dict()} if self.reward_scaler is not None else {}),
            "config": self.cfg.to_dict(),
            "iteration": self.iteration,
            "timesteps": self.timesteps,
            "rng": rng_state(),
            "saved_at": time.time(),
            "train_seconds": self.train_seconds,
        }

    @contextlib.contextmanager
    def _signals_held(self):
        """A SIGINT or SIGTERM that comes while this block runs (a checkpoint being written) takes effect
        when it ends: raised inside torch.save it would surface as a failed write, not as the interruption."""
        self._held = True
        try:
            yield
        finally:
            self._held = False
        if self._pending_signal is not None:
            name, self._pending_signal = self._pending_signal, None
            raise Interrupted(name)

    def save(self, numbered: bool = True) -> Path:
        """latest.pt, then iter_<N>.pt (pruned to the last --keep_checkpoints), each written atomically: with
        the disk filling up, latest.pt gets the space first. An interruption meanwhile waits for the end."""
        with self._signals_held():
            return self._save(numbered)

    def _save(self, numbered: bool) -> Path:
        payload = self.checkpoint_payload()
        latest = save_checkpoint(self.run_dir / "latest.pt", payload)
        if numbered:
            save_checkpoint(self.run_dir / f"iter_{self.iteration}.pt", payload)
        if numbered and self.cfg.keep_checkpoints > 0:
            numbered_files = sorted((p for p in self.run_dir.glob("iter_*.pt") if p.stem[5:].isdigit()),
                                    key=lambda p: int(p.stem[5:]))
            for old in numbered_files[:-self.cfg.keep_checkpoints]:
                old.unlink(missing_ok=True)
        return latest

    def iterate(self) -> dict[str, float]:
        """Collect one rollout and update the agent; returns the iteration's scalars."""
        cfg, agent, dev = self.cfg, self.agent, self.device
        t0 = time.perf_counter()
        roll = self.collector.collect(cfg.steps_per_env)
        t1 = time.perf_counter()
        rewards = (roll.rewards if self.reward_scaler is None
                   else self.reward_scaler(roll.rewards, roll.terminated, roll.truncated))
        adv, ret = compute_gae(rewards, roll.values, roll.terminated, roll.truncated, roll.last_values,
                               roll.final_values, cfg.gamma, cfg.lam)
        if is_stored_frames(roll.obs) and not agent.obs_normalizer.enabled:
            nobs = roll.obs.flat(dev)  # image stacks: rebuilt chunk by chunk in the update
        else:
            obs_np = np.asarray(roll.obs)
            obs_flat = torch.as_tensor(obs_np.reshape(-1, *obs_np.shape[2:]), device=dev)
            agent.obs_normalizer.update(obs_flat)
            nobs = agent.obs_normalizer(obs_flat) if agent.obs_normalizer.enabled else obs_flat
        actions = torch.as_tensor(roll.actions.reshape(-1, *roll.actions.shape[2:]), device=dev)
        batch = PolicyBatch(nobs, actions, torch.as_tensor(adv.reshape(-1), device=dev),
                            torch.as_tensor(ret.reshape(-1), device=dev),
                            torch.as_tensor(roll.values.reshape(-1), device=dev))
        scalars = self.algo.update(batch)
        t2 = time.perf_counter()
        self.iteration += 1
        self.timesteps += roll.num_samples * D.world_size()
        self.recent_returns = (self.recent_returns + roll.episode_returns)[-100:]
        self.recent_lengths = (self.recent_lengths + roll.episode_lengths)[-100:]
        scalars.update({
            "Rollout/NonFiniteEpisodes": float(roll.nonfinite_episodes),
            "Rollout/SimUnstableEpisodes": float(roll.unstable_episodes),
            "Perf/SamplesPerSecond": roll.num_samples * D.world_size() / max(t2 - t0, 1e-9),
            "Perf/EnvTime": roll.env_time,
            "Perf/InferenceTime": roll.inference_time,
            "Perf/UpdateTime": t2 - t1,
            "iteration": self.iteration,
        })
        if self.recent_returns:
            scalars["Rollout/EpisodeReturn"] = float(np.mean(self.recent_returns))
            scalars["Rollout/EpisodeLength"] = float(np.mean(self.recent_lengths))
        games = [i["game_return"] for i in roll.episode_infos if "game_return" in i]
        if games:  # Atari with life loss as terminal: returns of whole games
            scalars["Rollout/GameReturn"] = float(np.mean(games))
        # reward terms from the env's info, mean per step (DeepMimic's terms; e.g. reward_forward for Hopper)
        prefix = "DeepMimic" if is_deepmimic(cfg.env_id) else "RewardTerms"
        for k, v in sorted(roll.step_info_means.items()):
            scalars[f"{prefix}/{k}"] = v
        return scalars

    def evaluate(self, tag: str) -> dict[str, float]:
        """Deterministic evaluation on fresh environments, with a preview video of its first episode in
        <run>/videos/<tag>.mp4 (within --eval_video_budget; always at the end of training)."""
        from .evaluate import evaluate_policy  # looked up per call (tests replace it); evaluate imports no train
        cfg = self.cfg
        seed = cfg.seed + 1_000_003
        t0 = time.perf_counter()
        result, _ = evaluate_policy(self.agent, cfg, cfg.eval_episodes, seed, True, None, progress=False)
        if cfg.eval_video and (tag == "final" or self.video_seconds < cfg.eval_video_budget * (t0 - self.started)):
            t1 = time.perf_counter()
            self.preview(self.run_dir / "videos" / f"{tag}.mp4", seed)
            self.video_seconds += time.perf_counter() - t1
        self.eval_seconds += time.perf_counter() - t0
        s = result.summary()
        scalars = {"Eval/Return": s["return_mean"], "Eval/ReturnStd": s["return_std"],
                   "Eval/EpisodeLength": s["length_mean"], "Eval/Terminated": float(s["terminated"]),
                   "Eval/RewardPerStep": result.reward_per_step}
        if "success_rate" in s:
            scalars["Eval/SuccessRate"] = s["success_rate"]
        for k, v in result.term_means.items():
            scalars[f"Eval/{k}"] = v
        self.logger.log(scalars, self.timesteps)
        return scalars

    def preview(self, video: Path, seed: int) -> None:
        """Film an evaluation's first episode; a problem with it (no GL, a full disk) is a warning, not the run's
        end."""
        from .evaluate import record_preview
        cfg = self.cfg
        try:
            record_preview(self.agent, cfg, seed, video, tuple(cfg.eval_video_size), cfg.eval_video_seconds,
                           draft=True)
        except Exception as exc:
            why = (write_failed(video, exc, "evaluating without video") if isinstance(exc, OSError)
                   else f"evaluation video failed ({type(exc).__name__}: {exc}); evaluating without video")
            print(f"warning: {why}", file=sys.stderr)

    def reached_goal(self, ev: dict[str, float]) -> bool:
        """--stop_reward_per_step: this evaluation reached it, and none of its episodes ended early. Where no
        contact ends an episode (DeepMimic's --no-early_termination: the getups, the roll) no episode can end
        early, so every episode must also succeed (stay within the success error of the clip throughout): a
        character that never gets up scores well on the phases where the clip lies too."""
        goal = self.cfg.stop_reward_per_step
        reached = goal is not None and ev["Eval/RewardPerStep"] >= goal and ev["Eval/Terminated"] == 0
        if reached and self.cfg.early_termination is False:
            reached = ev.get("Eval/SuccessRate", 0.0) >= 1.0
        return reached

    def confirm_goal(self, bar: Any) -> bool:
        """A goal reached in the few evaluation episodes (--eval_episodes) is confirmed with --num_eval_episodes
        fresh ones (the size of the final verdict) when that is more: a short clip's 5 episodes say little about
        falls."""
        from .evaluate import evaluate_policy
        cfg = self.cfg
        if cfg.num_eval_episodes <= cfg.eval_episodes:
            return True
        t0 = time.perf_counter()
        result, _ = evaluate_policy(self.agent, cfg, cfg.num_eval_episodes, cfg.seed + 2_000_003, True, None,
                                    progress=False)
        self.eval_seconds += time.perf_counter() - t0
        summary = result.summary()
        ended = summary["terminated"]
        succeeded = f", {summary['success_rate']:.0%} succeeded" if "success_rate" in summary else ""
        bar.write(f"confirming with {cfg.num_eval_episodes} episodes: {result.reward_per_step:.4f} per step, "
                  f"{ended:.0f} ended early{succeeded}", file=sys.stdout)
        self.logger.log({"Eval/ConfirmRewardPerStep": result.reward_per_step}, self.timesteps)
        return self.reached_goal({"Eval/RewardPerStep": result.reward_per_step, "Eval/Terminated": float(ended),
                                  "Eval/SuccessRate": summary.get("success_rate", 0.0)})

    def _format(self, scalars: dict[str, float]) -> str:
        return (f"iter {self.iteration} | steps {self.timesteps} | "
                f"return {scalars.get('Rollout/EpisodeReturn', float('nan')):.2f} | "
                f"len {scalars.get('Rollout/EpisodeLength', float('nan')):.1f} | {self.algo.summary(scalars)} | "
                f"{scalars['Perf/SamplesPerSecond']:.0f} samples/s (env {scalars['Perf/EnvTime']:.2f}s, "
                f"policy {scalars['Perf/InferenceTime']:.2f}s, update {scalars['Perf/UpdateTime']:.2f}s)")

    def check_ranks_agree(self) -> None:
        """Every rank must hold rank 0's parameters; a divergence is a bug, so stop loudly."""
        div = D.max_divergence(list(self.agent.parameters()) + list(self.agent.obs_normalizer.buffers()))
        if div > 1e-5:
            raise RuntimeError(f"ranks' parameters diverged (max difference {div:.3g}) at iteration {self.iteration}")

    def run(self) -> Path:
        """Train until num_timesteps; SIGINT/SIGTERM write latest.pt before exiting. Rank 0 logs and saves."""
        cfg, main = self.cfg, D.is_main()
        if main:
            print(f"run directory: {self.run_dir}" + (f" ({D.world_size()} ranks)" if D.active() else ""), flush=True)
            print(f"{self.algo.name} on {self.device.type}, {self.agent.backend} backend", flush=True)
            if self.resumed_from is not None:
                print(f"resumed from {self.resumed_from}: iteration {self.iteration}, {self.timesteps:,} samples, "
                      f"continuing to {cfg.num_timesteps:,}", flush=True)
        handlers = {}

        def on_signal(signum: int, frame: Any) -> None:
            if self._held:  # a checkpoint is being written: the interruption waits for its end
                self._pending_signal = signal.Signals(signum).name
                return
            raise Interrupted(signal.Signals(signum).name)

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                handlers[sig] = signal.signal(sig, on_signal)
            except ValueError:  # not the main thread
                pass
        from tqdm import tqdm
        bar = tqdm(total=cfg.num_timesteps, initial=min(self.timesteps, cfg.num_timesteps), unit="step",
                   disable=not (cfg.progress and main), dynamic_ncols=True, file=sys.stderr)
        last_saved = self.iteration
        loop_start = mark = time.perf_counter()

        def tick() -> None:
            nonlocal mark
            now = time.perf_counter()
            self.train_seconds += now - mark
            mark = now

        try:
            while self.timesteps < cfg.num_timesteps:
                before = self.timesteps
                scalars = self.iterate()
                tick()
                scalars["Perf/TrainSeconds"] = self.train_seconds
                bar.update(min(self.timesteps, cfg.num_timesteps) - min(before, cfg.num_timesteps))
                if self.iteration % 10 == 0:
                    self.check_ranks_agree()
                stop = False
                if main:
                    self.logger.log(scalars, self.timesteps)
                    bar.write(self._format(scalars), file=sys.stdout)
                    if self.iteration % max(1, cfg.save_per_iter) == 0:
                        self.save()
                        last_saved = self.iteration
                evaluating = cfg.eval_freq and cfg.eval_episodes > 0 and self.iteration % cfg.eval_freq == 0
                if main and evaluating:
                    ev = self.evaluate(f"iter_{self.iteration}")
                    bar.write(f"eval at iter {self.iteration}: return {ev['Eval/Return']:.2f} ± "
                              f"{ev['Eval/ReturnStd']:.2f}, length {ev['Eval/EpisodeLength']:.1f}, "
                              f"{ev['Eval/RewardPerStep']:.4f} per step", file=sys.stdout)
                    stop = self.reached_goal(ev) and self.confirm_goal(bar)
                    if stop:
                        bar.write(f"stopping: the evaluation reached {ev['Eval/RewardPerStep']:.4f} reward per step "
                                  f"(--stop_reward_per_step {cfg.stop_reward_per_step}) with no episode ended "
                                  f"early, at {self.timesteps:,} samples", file=sys.stdout)
                if evaluating and cfg.stop_reward_per_step is not None:  # every rank follows rank 0's decision
                    stop = bool(D.sum_(torch.tensor([float(stop)]))[0] > 0)
                if stop:
                    break
            self.check_ranks_agree()
            # the training loop alone (rollouts, updates, per-iteration logs and checkpoints), without the
            # final save, evaluation and plot: what a side-by-side speed comparison times
            self.loop_seconds = time.perf_counter() - loop_start
            if main:
                tick()
                if last_saved != self.iteration:
                    self.save()
                if cfg.eval_episodes > 0:
                    ev = self.evaluate("final")
                    bar.write(f"final eval: return {ev['Eval/Return']:.2f} ± {ev['Eval/ReturnStd']:.2f}, "
                              f"length {ev['Eval/EpisodeLength']:.1f}", file=sys.stdout)
                self.logger.flush()
                from .plot import plot_runs
                curve = self.run_dir / "learning_curve.png"
                try:
                    plot_runs([self.run_dir], curve)
                except ValueError as exc:
                    print(f"no learning curve written: {exc}", file=sys.stderr)
                except OSError as exc:  # a full disk: the run's results are written already
                    print(f"warning: {write_failed(curve, exc, 'no learning curve written')}", file=sys.stderr)
                took = time.perf_counter() - self.started
                bar.write(f"wall time {took:.1f} s from the start of the run, evaluation {self.eval_seconds:.1f} s "
                          f"({100 * self.eval_seconds / max(took, 1e-9):.1f}%)", file=sys.stdout)
            D.barrier()  # other ranks wait for rank 0's final save and evaluation before leaving the group
        except Interrupted as exc:
            if main:  # said in the one line the command ends with (cli.run_command)
                tick()
                self.save()
                raise Interrupted(f"{exc}; saved {self.run_dir / 'latest.pt'} (--resume {self.run_dir} continues "
                                  f"the run)") from None
            raise
        except PeerLost as exc:  # this rank's state may be half updated: the last checkpoint is the one to go on from
            raise PeerLost(f"{exc}; continue from the last checkpoint with --resume {self.run_dir}") from None
        finally:
            bar.close()
            if self.logger is not None:
                self.logger.close()
            self.envs.close()
            self.algo.close()
            self.release()
            for sig, h in handlers.items():
                signal.signal(sig, h)
        return self.run_dir


def train(cfg: Config) -> Path:
    try:
        return Trainer(cfg).run()
    finally:
        D.shutdown()
