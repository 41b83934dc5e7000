"""The evaluation job: run a saved policy for N episodes and report statistics."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .checkpoint import load_checkpoint, resolve_checkpoint
from .config import Config
from .envs import env_kwargs_from_config, make_env
from .policies.agent import Agent
from .train import build_agent, load_weights


@dataclass
class EvalResult:
    returns: list[float]
    lengths: list[int]
    terminated: list[bool]
    term_means: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, float]:
        r, l = np.asarray(self.returns, dtype=np.float64), np.asarray(self.lengths, dtype=np.float64)
        return {"episodes": len(r), "return_mean": float(r.mean()), "return_std": float(r.std()),
                "return_min": float(r.min()), "return_max": float(r.max()), "length_mean": float(l.mean()),
                "length_std": float(l.std()), "length_min": float(l.min()), "length_max": float(l.max())}

    def format(self) -> str:
        s = self.summary()
        lines = [f"episodes: {s['episodes']}",
                 f"return:   {s['return_mean']:.3f} ± {s['return_std']:.3f}  "
                 f"(min {s['return_min']:.3f}, max {s['return_max']:.3f})",
                 f"length:   {s['length_mean']:.1f} ± {s['length_std']:.1f}  "
                 f"(min {s['length_min']:.0f}, max {s['length_max']:.0f})"]
        for k, v in sorted(self.term_means.items()):
            lines.append(f"{k}: {v:.4f}")
        return "\n".join(lines)


def load_agent(path: str | Path, device: str = "cpu") -> tuple[Agent, Config, dict[str, Any]]:
    """Rebuild the agent from a checkpoint's own config; the normaliser is restored, then frozen."""
    p = resolve_checkpoint(path)
    ckpt = load_checkpoint(p)
    cfg = Config.from_dict(ckpt["config"])
    env = make_env(cfg.env_id, max_episode_steps=cfg.max_episode_steps, **env_kwargs_from_config(cfg))
    agent = build_agent(cfg, env.observation_space, env.action_space)
    env.close()
    load_weights(agent, ckpt, p)
    agent.to(device).eval()
    return agent, cfg, ckpt


def run_episodes(agent: Agent, env: Any, episodes: int, deterministic: bool, seed: int,
                 record: bool = False, progress: bool = True) -> tuple[EvalResult, dict[str, np.ndarray] | None]:
    """Play whole episodes; the normaliser is not updated. Optionally keep the trajectories."""
    from tqdm import tqdm
    returns, lengths, terms = [], [], []
    term_sums: dict[str, float] = {}
    term_steps = 0
    traj: dict[str, list] = {"obs": [], "actions": [], "rewards": [], "episode": []}
    for ep in tqdm(range(episodes), desc="evaluate", disable=not progress, leave=False):
        obs, _ = env.reset(seed=seed + ep)
        done, total, length, terminated = False, 0.0, 0, False
        while not done:
            action = agent.act(obs[None], deterministic=deterministic)[0]
            next_obs, reward, terminated, truncated, info = env.step(action)
            if record:
                traj["obs"].append(obs)
                traj["actions"].append(action)
                traj["rewards"].append(reward)
                traj["episode"].append(ep)
            for k, v in info.items():
                if k.startswith("reward_"):
                    term_sums[k] = term_sums.get(k, 0.0) + float(v)
            term_steps += 1
            total += float(reward)
            length += 1
            obs = next_obs
            done = terminated or truncated
        returns.append(total)
        lengths.append(length)
        terms.append(bool(terminated))
    result = EvalResult(returns, lengths, terms, {k: v / max(term_steps, 1) for k, v in term_sums.items()})
    arrays = {k: np.asarray(v) for k, v in traj.items()} if record else None
    return result, arrays


def evaluate(cfg_overrides: dict[str, Any]) -> EvalResult:
    """`trpo-mimic evaluate`: load --load_model_path, play --num_eval_episodes, print the results block."""
    path = cfg_overrides.get("load_model_path")
    if not path:
        raise ValueError("evaluate needs --load_model_path (a checkpoint file or run directory)")
    torch.set_num_threads(1)
    device = "cpu" if cfg_overrides.get("cpu") else cfg_overrides.get("device", "cpu")
    device = "cuda" if device == "cuda" else "cpu"
    agent, cfg, _ = load_agent(path, device)
    for k in ("max_episode_steps", "motion_file", "motion_dir"):
        if cfg_overrides.get(k) is not None:
            setattr(cfg, k, cfg_overrides[k])
    episodes = int(cfg_overrides.get("num_eval_episodes", 10))
    stochastic = bool(cfg_overrides.get("stochastic_policy", False))
    seed = int(cfg_overrides.get("seed", cfg.seed))
    env = make_env(cfg.env_id, max_episode_steps=cfg.max_episode_steps, **env_kwargs_from_config(cfg))
    try:
        result, arrays = run_episodes(agent, env, episodes, not stochastic, seed,
                                      record=bool(cfg_overrides.get("save_sample")))
    finally:
        env.close()
    print(f"evaluated {resolve_checkpoint(path)} on {cfg.env_id} "
          f"({'stochastic' if stochastic else 'deterministic'} policy)")
    print(result.format())
    if arrays is not None:
        out = resolve_checkpoint(path).parent / f"samples_{cfg.env_id.replace('/', '_')}.npz"
        np.savez_compressed(out, **arrays)
        print(f"trajectories written to {out}")
    return result
