"""The training job: collect -> advantages -> update (TRPO or PPO, `algos.make_algorithm`) -> log -> checkpoint."""
from __future__ import annotations

import contextlib
import dataclasses
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
from .checkpoint import (build_agent, check_resumable, extension_weights, find_resume, load_checkpoint,
                         load_extension_weights, load_weights, rng_state, save_checkpoint, set_rng_state,
                         warm_start_chain, WARM_STARTS)
from .config import Config
from .envs import env_kwargs_from_config, make_vector_env
from .faults import PeerLost, write_failed
from .logger import RunLogger
from .rollout import RolloutCollector, compute_gae
from .rollout.frames import is_stored_frames
from .rollout.reward_scale import RewardScaler
from .run_dir import RunDirOwner
from .tasks import task_for
from .threads import limit_threads
from .warm_start import fit_observation
from .train_hooks import EvalHook, Hook, SaveHook


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


class Trainer(RunDirOwner):
    """Owns the environments, agent, optimiser, logger and counters of one run.

    One iteration (:meth:`iterate`): collect a rollout, let the task's :class:`.tasks.TrainingExtension` objects
    change its rewards, advantages, the algorithm's update and then the extensions' own, scalars. Between
    iterations (:meth:`run`) the :attr:`hooks` (:mod:`.train_hooks`) save, evaluate and may stop the run."""

    def __init__(self, cfg: Config) -> None:
        self.started = time.perf_counter()
        self._held, self._pending_signal = False, None  # see _signals_held
        self.eval_seconds = 0.0  # evaluations during and after training, videos included
        self.video_seconds = 0.0  # their preview videos (--eval_video_budget)
        limit_threads(cfg.torch_threads)
        self.task = task_for(cfg.env_id)
        self.cfg = cfg = self.task.run_config(cfg)  # e.g. what the run's config must record of the task's defaults
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
            self.release(discard=not cfg.resume)
            raise

    def _build(self, cfg: Config, resume_ckpt: dict[str, Any] | None) -> None:
        seed_everything(cfg.seed)
        self.iteration = 0
        self.timesteps = 0
        self.warm_starts: list[dict[str, Any]] = []  # the runs before this one (--pretrained_weight_path)
        kwargs = env_kwargs_from_config(cfg)
        self.envs = make_vector_env(cfg.env_id, cfg.num_envs, cfg.vec_env, cfg.max_episode_steps,
                                    env_threads=cfg.env_threads, **kwargs)
        self.agent = build_agent(cfg, self.envs.single_observation_space, self.envs.single_action_space, self.device,
                                 cfg.backend)
        self.algo = make_algorithm(cfg, self.agent)
        self.reward_scaler = RewardScaler(cfg.num_envs, cfg.gamma) if cfg.normalize_reward else None
        self.extensions = self.task.extensions(cfg, self.envs, self.agent)
        if cfg.pretrained_weight_path and resume_ckpt is None:
            ckpt, note = fit_observation(self.agent, self.envs, load_checkpoint(cfg.pretrained_weight_path),
                                         cfg.pretrained_weight_path)
            if note:
                print(note, file=sys.stderr)
            load_weights(self.agent, ckpt, cfg.pretrained_weight_path)
            load_extension_weights(self.extensions, ckpt, cfg.pretrained_weight_path)
            self.warm_starts = warm_start_chain(ckpt, cfg.pretrained_weight_path)
            if cfg.reset_log_std:
                if self.agent.actor.discrete:
                    raise ValueError("--reset_log_std: a policy over discrete actions has no standard deviation")
                with torch.no_grad():
                    self.agent.actor.log_std.fill_(cfg.init_log_std)
        if resume_ckpt is not None:
            load_weights(self.agent, resume_ckpt, cfg.resume)
            self.algo.load_state_dict(resume_ckpt)
            if self.reward_scaler is not None and "reward_normalizer" in resume_ckpt:
                self.reward_scaler.load_state_dict(resume_ckpt["reward_normalizer"])
            elif self.reward_scaler is not None:
                print(f"note: {cfg.resume} was trained without --normalize_reward; its reward statistics start "
                      "from nothing here", file=sys.stderr)
            for ext in self.extensions:
                ext.load_state_dict(resume_ckpt.get(ext.key, {}))
            self.iteration = int(resume_ckpt["iteration"])
            self.timesteps = int(resume_ckpt["timesteps"])
            self.warm_starts = list(resume_ckpt.get(WARM_STARTS, []))
            set_rng_state(resume_ckpt["rng"])
        # Every rank starts from rank 0's weights and statistics.
        D.broadcast_parameters(list(self.agent.parameters()) + list(self.agent.obs_normalizer.buffers()))
        # Environments are reset with a seed derived from the iteration (and the rank), so a resumed
        # run is reproducible and ranks see different episodes.
        env_seed = cfg.seed + 100_003 * self.iteration + 1_000_003 * D.rank()
        self.collector = RolloutCollector(self.envs, self.agent, cfg.env_id, seed=env_seed)
        self.collector.info_keys = tuple(dict.fromkeys(k for ext in self.extensions for k in ext.info_keys))
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
            **{ext.key: ext.state_dict() for ext in self.extensions},
            **extension_weights(self.extensions),
            "config": self.cfg.to_dict(),
            "iteration": self.iteration,
            "timesteps": self.timesteps,
            "rng": rng_state(),
            "saved_at": time.time(),
            "train_seconds": self.train_seconds,
            **({WARM_STARTS: self.warm_starts} if self.warm_starts else {}),
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
        rewards = roll.rewards
        for ext in self.extensions:  # e.g. a discriminator's reward replacing or mixed into the env's
            rewards = ext.rewards(roll, rewards)
        if self.reward_scaler is not None:
            rewards = self.reward_scaler(rewards, roll.terminated, roll.truncated)
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
        for ext in self.extensions:
            scalars.update(ext.update(roll, batch))
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
        # reward terms from the env's info, mean per step (e.g. DeepMimic/reward_pose, RewardTerms/reward_forward)
        for k, v in sorted(roll.step_info_means.items()):
            scalars[f"{self.task.metric_prefix}/{k}"] = v
        return scalars

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

    def make_hooks(self) -> list[Hook]:
        """What runs between iterations, in order: save, then evaluate (and stop at the goal)."""
        return [SaveHook(self.cfg.save_per_iter, self.iteration), EvalHook(self)]

    def run(self) -> Path:
        """Train until num_timesteps; SIGINT/SIGTERM write latest.pt before exiting. Rank 0 logs and saves."""
        cfg, main = self.cfg, D.is_main()
        self.announce()
        handlers = self.catch_signals()
        from tqdm import tqdm
        bar = tqdm(total=cfg.num_timesteps, initial=min(self.timesteps, cfg.num_timesteps), unit="step",
                   disable=not (cfg.progress and main), dynamic_ncols=True, file=sys.stderr)
        hooks = self.make_hooks()
        loop_start = self._mark = time.perf_counter()
        try:
            while self.timesteps < cfg.num_timesteps:
                before = self.timesteps
                scalars = self.iterate()
                self.tick()
                scalars["Perf/TrainSeconds"] = self.train_seconds
                bar.update(min(self.timesteps, cfg.num_timesteps) - min(before, cfg.num_timesteps))
                if self.iteration % 10 == 0:
                    self.check_ranks_agree()
                if main:
                    self.logger.log(scalars, self.timesteps)
                    bar.write(self._format(scalars), file=sys.stdout)
                if any([h.after_iteration(self, scalars, bar) for h in hooks]):  # every hook runs
                    break
            self.check_ranks_agree()
            # the training loop alone (rollouts, updates, per-iteration logs and checkpoints), without the
            # final save, evaluation and plot: what a side-by-side speed comparison times
            self.loop_seconds = time.perf_counter() - loop_start
            if main:
                self.tick()
                for h in hooks:
                    h.at_end(self, bar)
                self.finish(bar)
            D.barrier()  # other ranks wait for rank 0's final save and evaluation before leaving the group
        except Interrupted as exc:
            if main:  # said in the one line the command ends with (cli.run_command)
                self.tick()
                self.save()
                raise Interrupted(f"{exc}; saved {self.run_dir / 'latest.pt'} (--resume {self.run_dir} continues "
                                  f"the run)") from None
            raise
        except PeerLost as exc:  # this rank's state may be half updated: the last checkpoint is the one to go on from
            raise PeerLost(f"{exc}; continue from the last checkpoint with --resume {self.run_dir}") from None
        finally:
            bar.close()
            self.close(handlers)
        return self.run_dir

    def announce(self) -> None:
        """Rank 0 says where the run goes, what trains it, and where a resumed run stands."""
        if not D.is_main():
            return
        print(f"run directory: {self.run_dir}" + (f" ({D.world_size()} ranks)" if D.active() else ""), flush=True)
        print(f"{self.algo.name} on {self.device.type}, {self.agent.backend} backend", flush=True)
        if self.resumed_from is not None:
            print(f"resumed from {self.resumed_from}: iteration {self.iteration}, {self.timesteps:,} samples, "
                  f"continuing to {self.cfg.num_timesteps:,}", flush=True)

    def catch_signals(self) -> dict[Any, Any]:
        """SIGINT and SIGTERM raise :class:`Interrupted` in the loop (held while a checkpoint is written); the
        handlers they replace, to put back."""
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
        return handlers

    def tick(self) -> None:
        """Add the wall time since the last tick to the run's training seconds."""
        now = time.perf_counter()
        self.train_seconds += now - self._mark
        self._mark = now

    def finish(self, bar: Any) -> None:
        """Rank 0, after the last hooks: the logs flushed, the learning curve drawn, the wall time said."""
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

    def close(self, handlers: dict[Any, Any]) -> None:
        """Close what the run opened, give the run directory back, and put the signal handlers back."""
        if self.logger is not None:
            self.logger.close()
        self.envs.close()
        self.algo.close()
        for ext in self.extensions:
            ext.close()
        self.release()
        for sig, h in handlers.items():
            signal.signal(sig, h)


def train(cfg: Config) -> Path:
    try:
        return Trainer(cfg).run()
    finally:
        D.shutdown()
