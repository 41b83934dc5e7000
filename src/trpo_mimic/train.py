"""The training job: rollouts -> GAE -> TRPO update -> logs and checkpoints."""
from __future__ import annotations

import os
import random
from concurrent.futures import ThreadPoolExecutor, wait
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import distributed as D
from .algos.ppo import PPOSettings, make_ppo_optimizer, update_ppo
from .algos.trpo import PolicyBatch, TRPOSettings, update_critic, update_policy
from .checkpoint import (CheckpointError, load_checkpoint, load_module_state, resolve_checkpoint, rng_state,
                         save_checkpoint, set_rng_state)
from .config import Config
from .envs import env_kwargs_from_config, is_deepmimic, make_vector_env
from .logger import RunLogger
from .policies.agent import Agent
from .policies.networks import net_tanh_mlp_layers
from .rollout import RolloutCollector, compute_gae
from .rollout.frames import StackedFrames
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


def build_agent(cfg: Config, obs_space: Any, action_space: Any) -> Agent:
    return Agent(obs_space, action_space, cfg.policy_hidden_size, cfg.value_hidden_size,
                 cfg.init_log_std, cfg.normalize_obs)


def make_critic_optimizer(agent: Agent, lr: float) -> torch.optim.Adam:
    """Adam for the critic; the fused kernel where torch has one for the device (same maths, faster)."""
    return torch.optim.Adam(agent.critic.parameters(), lr=lr, fused=True)


def load_weights(agent: Agent, ckpt: dict[str, Any], source: str | Path) -> None:
    """Actor, critic and normaliser from a checkpoint, with errors that name mismatched sizes."""
    load_module_state(agent.actor, ckpt["actor"], "actor", source)
    load_module_state(agent.critic, ckpt["critic"], "critic", source)
    load_module_state(agent.obs_normalizer, ckpt["obs_normalizer"], "observation normaliser", source)


class Trainer:
    """Owns the environments, agent, optimiser, logger and counters of one run."""

    def __init__(self, cfg: Config) -> None:
        limit_threads(cfg.torch_threads)
        resume_ckpt = None
        if cfg.resume:
            path = self._find_resume(cfg)
            resume_ckpt = load_checkpoint(path)
            self.run_dir = path.parent
            for stale in self.run_dir.glob(".*.pt.*.tmp"):  # left by a save that was killed
                stale.unlink(missing_ok=True)
        else:
            self.run_dir = Path(cfg.checkpoint_dir) / (cfg.run_name or default_run_name(cfg))
        self.cfg = cfg
        self.device = torch.device(cfg.resolved_device())
        D.init(self.device.type)
        seed_everything(cfg.seed)
        self.iteration = 0
        self.timesteps = 0
        kwargs = env_kwargs_from_config(cfg)
        self.envs = make_vector_env(cfg.env_id, cfg.num_envs, cfg.vec_env, cfg.max_episode_steps,
                                    env_threads=cfg.env_threads, **kwargs)
        self.agent = build_agent(cfg, self.envs.single_observation_space, self.envs.single_action_space)
        self.agent.to(self.device)
        if cfg.algo == "ppo":  # one Adam over actor and critic (saved under the same checkpoint key)
            self.critic_opt = make_ppo_optimizer(self.agent, cfg.lr)
            self.ppo = PPOSettings(cfg.clip_range, cfg.clip_range_vf, cfg.ppo_epochs, cfg.minibatch_size, cfg.target_kl,
                                   cfg.policy_entcoeff, cfg.vf_coef, cfg.max_grad_norm, cfg.lr)
        else:
            self.critic_opt = make_critic_optimizer(self.agent, cfg.vf_lr)
        if cfg.pretrained_weight_path and resume_ckpt is None:
            ckpt = load_checkpoint(cfg.pretrained_weight_path)
            load_weights(self.agent, ckpt, cfg.pretrained_weight_path)
        if resume_ckpt is not None:
            load_weights(self.agent, resume_ckpt, cfg.resume)
            self.critic_opt.load_state_dict(resume_ckpt["critic_optimizer"])
            self.iteration = int(resume_ckpt["iteration"])
            self.timesteps = int(resume_ckpt["timesteps"])
            set_rng_state(resume_ckpt["rng"])
        self.settings = TRPOSettings(cfg.max_kl, cfg.policy_entcoeff, cfg.cg_iters, cfg.cg_damping,
                                     cfg.ls_max_steps, cfg.ls_backtrack, cfg.vf_epochs, cfg.vf_batch_size,
                                     cfg.fvp_subsample, cfg.grad_chunk or (1024 if self.agent.actor.image else 0))
        # Environments are reset with a seed derived from the iteration, so a resumed run is reproducible.
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
        # The critic fit beside the policy step: CPU (across ranks its all-reduces have their own gloo
        # group, D.critic_group), a tanh-MLP critic (fitted in numpy), a machine with a second core.
        self._critic_pool = None
        if (cfg.algo == "trpo" and cfg.critic_thread and self.device.type == "cpu"
                and (os.cpu_count() or 1) > 1 and net_tanh_mlp_layers(self.agent.critic) is not None):
            self._critic_pool = ThreadPoolExecutor(1, thread_name_prefix="critic-fit")

    @staticmethod
    def _find_resume(cfg: Config) -> Path:
        if cfg.resume == "latest":
            env = cfg.env_id.replace("/", "_")
            runs = sorted(Path(cfg.checkpoint_dir).glob(f"{env}-{cfg.algo}-*/latest.pt"),
                          key=lambda p: p.stat().st_mtime)
            if not runs:
                raise CheckpointError(f"no run of {cfg.env_id} with a latest.pt under {cfg.checkpoint_dir}/")
            return runs[-1]
        return resolve_checkpoint(cfg.resume)

    def checkpoint_payload(self) -> dict[str, Any]:
        return {
            "actor": self.agent.actor.state_dict(),
            "critic": self.agent.critic.state_dict(),
            "obs_normalizer": self.agent.obs_normalizer.state_dict(),
            "critic_optimizer": self.critic_opt.state_dict(),
            "config": self.cfg.to_dict(),
            "iteration": self.iteration,
            "timesteps": self.timesteps,
            "rng": rng_state(),
            "saved_at": time.time(),
        }

    def save(self, numbered: bool = True) -> Path:
        """iter_<N>.pt (pruned to the last --keep_checkpoints) and latest.pt, each written atomically."""
        payload = self.checkpoint_payload()
        if numbered:
            save_checkpoint(self.run_dir / f"iter_{self.iteration}.pt", payload)
        latest = save_checkpoint(self.run_dir / "latest.pt", payload)
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
        adv, ret = compute_gae(roll.rewards, roll.values, roll.terminated, roll.truncated, roll.last_values,
                               roll.final_values, cfg.gamma, cfg.lam)
        if isinstance(roll.obs, StackedFrames) and not agent.obs_normalizer.enabled:
            nobs = roll.obs.flat(dev)  # image stacks: rebuilt chunk by chunk in the update
        else:
            obs_np = np.asarray(roll.obs)
            obs_flat = torch.as_tensor(obs_np.reshape(-1, *obs_np.shape[2:]), device=dev)
            agent.obs_normalizer.update(obs_flat)
            nobs = agent.obs_normalizer(obs_flat) if agent.obs_normalizer.enabled else obs_flat
        actions = torch.as_tensor(roll.actions.reshape(-1, *roll.actions.shape[2:]), device=dev)
        batch = PolicyBatch(nobs, actions, torch.as_tensor(adv.reshape(-1), device=dev),
                            torch.as_tensor(ret.reshape(-1), device=dev))
        if cfg.algo == "ppo":
            pstats = update_ppo(agent.actor, agent.critic, self.critic_opt, batch,
                                torch.as_tensor(roll.values.reshape(-1), device=dev), self.ppo)
            vstats = {"value_loss": pstats["value_loss"]}
        else:
            # The critic's minibatch order comes from its own generator, seeded from the global one here,
            # so the result does not depend on how the two fits interleave.
            gen = torch.Generator().manual_seed(int(torch.randint(0, 2 ** 62, (1,))))
            fit = (agent.critic, self.critic_opt, batch.obs, batch.returns, cfg.vf_epochs, cfg.vf_batch_size, gen)
            if self._critic_pool is not None:
                pending = self._critic_pool.submit(update_critic, *fit)
                try:
                    pstats = update_policy(agent.actor, batch, self.settings)
                finally:  # also on Ctrl-C: the critic is whole again before any checkpoint is written
                    wait([pending])
                vstats = pending.result()
            else:
                pstats = update_policy(agent.actor, batch, self.settings)
                vstats = update_critic(*fit)
        t2 = time.perf_counter()
        self.iteration += 1
        self.timesteps += roll.num_samples * D.world_size()
        self.recent_returns = (self.recent_returns + roll.episode_returns)[-100:]
        self.recent_lengths = (self.recent_lengths + roll.episode_lengths)[-100:]
        scalars = {
            "Loss/Surrogate": pstats["surrogate"],
            "Loss/Value": vstats["value_loss"],
            "Policy/KL": pstats["kl"],
            "Policy/Entropy": pstats["entropy"],
            "Policy/Improvement": pstats["improvement"],
        }
        if cfg.algo == "ppo":
            scalars.update({"Policy/ApproxKL": pstats["approx_kl"], "Policy/ClipFraction": pstats["clip_fraction"],
                            "Policy/ExplainedVariance": pstats["explained_variance"],
                            "Policy/EpochsDone": pstats["epochs_done"]})
        else:
            scalars.update({"Policy/LineSearchSteps": pstats["line_search_steps"],
                            "Policy/LineSearchAccepted": pstats["line_search_accepted"],
                            "Policy/UpdateRejected": pstats["update_rejected"]})
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
        """Deterministic evaluation on a fresh environment, with a video in <run>/videos/<tag>.mp4."""
        from .evaluate import evaluate_policy
        cfg = self.cfg
        video = self.run_dir / "videos" / f"{tag}.mp4" if cfg.eval_video else None
        seed = cfg.seed + 1_000_003
        try:
            result, _ = evaluate_policy(self.agent, cfg, cfg.eval_episodes, seed, True, video, progress=False)
        except Exception as exc:  # an evaluation problem (e.g. no GL for the video) must not end the run
            if video is None:
                raise
            print(f"warning: evaluation video failed ({type(exc).__name__}: {exc}); evaluating without video",
                  file=sys.stderr)
            result, _ = evaluate_policy(self.agent, cfg, cfg.eval_episodes, seed, True, None, progress=False)
        s = result.summary()
        scalars = {"Eval/Return": s["return_mean"], "Eval/ReturnStd": s["return_std"],
                   "Eval/EpisodeLength": s["length_mean"], "Eval/Terminated": float(s["terminated"])}
        for k, v in result.term_means.items():
            scalars[f"Eval/{k}"] = v
        self.logger.log(scalars, self.timesteps)
        return scalars

    def _format(self, scalars: dict[str, float]) -> str:
        return (f"iter {self.iteration} | steps {self.timesteps} | "
                f"return {scalars.get('Rollout/EpisodeReturn', float('nan')):.2f} | "
                f"len {scalars.get('Rollout/EpisodeLength', float('nan')):.1f} | "
                f"surr {scalars['Loss/Surrogate']:.4f} | kl {scalars['Policy/KL']:.5f} | "
                f"ent {scalars['Policy/Entropy']:.3f} | vloss {scalars['Loss/Value']:.4g} | "
                + (f"ls {int(scalars['Policy/LineSearchSteps'])}"
                   f"{'' if scalars['Policy/LineSearchAccepted'] else ' (rejected)'} | "
                   if "Policy/LineSearchSteps" in scalars else
                   f"clip {scalars['Policy/ClipFraction']:.3f} | ev {scalars['Policy/ExplainedVariance']:.3f} | "
                   f"epochs {scalars['Policy/EpochsDone']:.1f} | ") +
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
        handlers = {}

        def on_signal(signum: int, frame: Any) -> None:
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
        loop_start = time.perf_counter()
        try:
            while self.timesteps < cfg.num_timesteps:
                before = self.timesteps
                scalars = self.iterate()
                bar.update(min(self.timesteps, cfg.num_timesteps) - min(before, cfg.num_timesteps))
                if self.iteration % 10 == 0:
                    self.check_ranks_agree()
                if not main:
                    continue
                self.logger.log(scalars, self.timesteps)
                bar.write(self._format(scalars), file=sys.stdout)
                if self.iteration % max(1, cfg.save_per_iter) == 0:
                    self.save()
                    last_saved = self.iteration
                if cfg.eval_freq and cfg.eval_episodes > 0 and self.iteration % cfg.eval_freq == 0:
                    ev = self.evaluate(f"iter_{self.iteration}")
                    bar.write(f"eval at iter {self.iteration}: return {ev['Eval/Return']:.2f} ± "
                              f"{ev['Eval/ReturnStd']:.2f}, length {ev['Eval/EpisodeLength']:.1f}", file=sys.stdout)
            self.check_ranks_agree()
            # the training loop alone (rollouts, updates, per-iteration logs and checkpoints), without the
            # final save, evaluation and plot: what a side-by-side speed comparison times
            self.loop_seconds = time.perf_counter() - loop_start
            if main:
                if last_saved != self.iteration:
                    self.save()
                if cfg.eval_episodes > 0:
                    ev = self.evaluate("final")
                    bar.write(f"final eval: return {ev['Eval/Return']:.2f} ± {ev['Eval/ReturnStd']:.2f}, "
                              f"length {ev['Eval/EpisodeLength']:.1f}", file=sys.stdout)
                self.logger.flush()
                from .plot import plot_runs
                try:
                    plot_runs([self.run_dir], self.run_dir / "learning_curve.png")
                except ValueError as exc:
                    print(f"no learning curve written: {exc}", file=sys.stderr)
            D.barrier()  # other ranks wait for rank 0's final save and evaluation before leaving the group
        except Interrupted as exc:
            if main:
                bar.write(f"{exc}: saving {self.run_dir / 'latest.pt'} before exiting", file=sys.stderr)
                self.save()
            raise
        finally:
            bar.close()
            if self.logger is not None:
                self.logger.close()
            self.envs.close()
            if self._critic_pool is not None:
                self._critic_pool.shutdown(wait=True)
            for sig, h in handlers.items():
                signal.signal(sig, h)
        return self.run_dir


def train(cfg: Config) -> Path:
    try:
        return Trainer(cfg).run()
    finally:
        D.shutdown()
