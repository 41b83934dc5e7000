"""Generalised advantage estimation, with terminations and truncations kept apart."""
from __future__ import annotations

import numpy as np


def compute_gae(rewards: np.ndarray, values: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
                last_values: np.ndarray, final_values: np.ndarray, gamma: float,
                lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Advantages and returns for a rollout of shape (T, num_envs).

    values[t] is V(s_t); last_values is V(s_T) after the final step. At a terminated step
    the future is worth 0. At a truncated step (time limit) the future is bootstrapped with
    final_values[t] = V(final observation of that episode), and the lambda chain is cut.
    Returns (advantages, returns = advantages + values).
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    terminated = np.asarray(terminated, dtype=bool)
    truncated = np.asarray(truncated, dtype=bool) & ~terminated
    T = rewards.shape[0]
    adv = np.zeros_like(rewards)
    next_adv = np.zeros_like(rewards[0])
    for t in reversed(range(T)):
        next_value = last_values if t == T - 1 else values[t + 1]
        next_value = np.where(truncated[t], final_values[t], next_value)
        next_value = np.where(terminated[t], 0.0, next_value)
        episode_ends = terminated[t] | truncated[t]
        delta = rewards[t] + gamma * next_value - values[t]
        next_adv = delta + gamma * lam * np.where(episode_ends, 0.0, next_adv)
        adv[t] = next_adv
    return adv.astype(np.float32), (adv + values).astype(np.float32)
