"""Helpers shared by the natively batched vector envs (DeepMimic, MuJoCo v5, Pendulum), and the frame of the two
over Gymnasium env instances (:class:`GymBatchVectorEnv`: MuJoCo v5 and Pendulum)."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

MUJOCO_V5_IDS = ("Hopper-v5", "Walker2d-v5", "HalfCheetah-v5", "Swimmer-v5", "Ant-v5", "Humanoid-v5",
                 "HumanoidStandup-v5", "InvertedPendulum-v5", "InvertedDoublePendulum-v5", "Reacher-v5", "Pusher-v5")
"""The ids with a native MuJoCo vector env (the keys of ``mujoco_tasks.TASKS``: all of Gymnasium's MuJoCo v5
family), named here so that choosing a vector env for another id imports neither MuJoCo nor its tasks."""


def sub_env_seeds(seed: int | Sequence[int | None] | None, n: int) -> list[int | None]:
    """Per-sub-env seeds as SyncVectorEnv gives them: ``seed + i`` for an int, a list as it is."""
    if seed is None:
        return [None] * n
    if isinstance(seed, (int, np.integer)):
        return [int(seed) + i for i in range(n)]
    seeds = list(seed)
    if len(seeds) != n:
        raise ValueError(f"expected {n} seeds, got {len(seeds)}")
    return seeds


def add_info_row(infos: dict[str, Any], info: dict[str, Any], i: int, n: int) -> None:
    """Put sub-env i's info dict into vector-env info arrays (each key with its ``"_key"`` mask)."""
    for k, v in info.items():
        if k not in infos:
            if isinstance(v, np.ndarray):  # an array per sub-env (e.g. tendon lengths), as SyncVectorEnv
                infos[k] = np.zeros((n, *v.shape), dtype=v.dtype)
            else:
                infos[k] = np.zeros(n, dtype=bool if isinstance(v, (bool, np.bool_)) else np.float64)
            infos["_" + k] = np.zeros(n, dtype=bool)
        infos[k][i] = v
        infos["_" + k][i] = True


def info_row(info: dict[str, Any], i: int) -> dict[str, Any]:
    """Sub-env i's entries of a vector env's info dict (the inverse of :func:`add_info_row`)."""
    out = {}
    for k, v in info.items():
        if k.startswith("_") or not isinstance(v, np.ndarray):
            continue
        mask = info.get("_" + k)
        if mask is not None and not mask[i]:
            continue
        out[k] = v[i].item() if v[i].ndim == 0 and v.dtype != object else v[i]
    return out


def ended_info(info: dict[str, Any], done: np.ndarray) -> dict[str, np.ndarray]:
    """The step's own info entries over all sub-envs (those of one value, or one row, per sub-env, with their
    ``"_key"`` masks): an ended sub-env's from ``final_info`` (the top level holds its reset info), the others' as
    given.
    Where no sub-env ended the entries are ``info``'s own arrays, not copies: read them, do not write."""
    any_done = bool(done.any())
    final = info.get("final_info", {}) if any_done else {}
    nowhere, everywhere = np.zeros(done.shape, dtype=bool), np.ones(done.shape, dtype=bool)
    out: dict[str, np.ndarray] = {}
    for k in set(info) | set(final):
        if k.startswith("_") or k in ("final_info", "final_obs"):
            continue
        now, last = info.get(k), final.get(k)
        if not all(v is None or (isinstance(v, np.ndarray) and v.shape[:1] == done.shape) for v in (now, last)):
            continue
        # a side without the entry lends its values to the other; its mask (nowhere) keeps them unreported
        mask_now = nowhere if now is None else info.get("_" + k, everywhere)
        if not any_done:  # np.where below would copy `now` and its mask unchanged
            out[k], out["_" + k] = now, mask_now
            continue
        mask_last = nowhere if last is None else final.get("_" + k, everywhere)
        a, b = (now if last is None else last), (last if now is None else now)
        out[k] = np.where(done.reshape(done.shape + (1,) * (a.ndim - 1)), a, b)
        out["_" + k] = np.where(done, mask_last, mask_now)
    return out


def _where_rows(mask: np.ndarray, a: Any, b: Any) -> np.ndarray:
    """np.where on the first axis (info entries may be arrays per sub-env, e.g. tendon lengths)."""
    a = np.asarray(a)
    return np.where(mask.reshape(-1, *([1] * (a.ndim - 1))), a, b)


def same_step_autoreset(obs: np.ndarray, info: dict[str, Any], ended: np.ndarray,
                        reset_one: Callable[[int], tuple[np.ndarray, dict]]) -> None:
    """Start the ended sub-envs again within the step, as ``SyncVectorEnv(autoreset_mode=SAME_STEP)``: their
    rows of ``obs`` become the reset observations; ``info`` (edited in place) gets ``final_obs`` and
    ``final_info`` for them, and their top-level entries are their reset infos only."""
    n = len(obs)
    final_info = {k: v.copy() for k, v in info.items() if not k.startswith("_")}
    for k in list(final_info):
        final_info["_" + k] = ended.copy()
    final_obs = np.zeros_like(obs)
    final_obs[ended] = obs[ended]
    reset_info: dict[str, Any] = {}
    for i in np.flatnonzero(ended):
        i = int(i)
        obs[i], rinfo = reset_one(i)
        add_info_row(reset_info, rinfo, i, n)
    for k in [k for k in info if not k.startswith("_")]:
        if k in reset_info:
            info[k] = _where_rows(ended, reset_info[k], info[k])
        else:
            info[k] = _where_rows(ended, np.zeros_like(info[k]), info[k])
            info["_" + k] = ~ended
    for k, v in reset_info.items():
        if not k.startswith("_") and k not in info:
            info[k], info["_" + k] = v, reset_info["_" + k]
    info["final_obs"], info["_final_obs"] = final_obs, ended
    info["final_info"], info["_final_info"] = final_info, ended.copy()


class GymBatchVectorEnv(VectorEnv):
    """The frame of a natively batched vector env over N real Gymnasium env instances of one id (each with its
    own generator: resets go through its own ``reset``, so reset noise and seeding are Gymnasium's), with
    ``SAME_STEP`` autoreset as ``SyncVectorEnv``. A subclass computes the step for all N at once
    (:meth:`step`, using :meth:`_actions_of`, :meth:`_truncated` and :func:`same_step_autoreset`) and may
    read a sub-env's state after its reset (:meth:`_started`)."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, env_id: str, num_envs: int, max_episode_steps: int | None, make_kwargs: dict[str, Any]) -> None:
        if make_kwargs.get("render_mode") is not None:
            raise ValueError(f"the native {env_id} vector env does not render; use --vec_env sync")
        self.spec = spec = gym.spec(env_id)
        self.max_episode_steps = spec.max_episode_steps if max_episode_steps is None else int(max_episode_steps)
        self.envs = [gym.make(env_id, **make_kwargs).unwrapped for _ in range(num_envs)]
        e = self.envs[0]
        self.env_id, self.num_envs = env_id, num_envs
        self.single_observation_space, self.single_action_space = e.observation_space, e.action_space
        self.observation_space = batch_space(e.observation_space, num_envs)
        self.action_space = batch_space(e.action_space, num_envs)
        self._elapsed = np.zeros(num_envs, dtype=np.int64)
        self._needs_reset = True

    def _started(self, i: int) -> None:
        """Called after sub-env i's reset (read its new state)."""

    def _reset_one(self, i: int, seed: int | None) -> tuple[np.ndarray, dict]:
        obs, info = self.envs[i].reset(seed=seed)
        self._started(i)
        self._elapsed[i] = 0
        return obs, info

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None):
        """Reset every sub-env; sub-env i gets seed ``seed + i`` (as ``SyncVectorEnv``)."""
        n = self.num_envs
        if options:
            raise ValueError(f"{self.env_id}: the native vector env takes no reset options, got {sorted(options)}")
        seeds = sub_env_seeds(seed, n)
        obs = np.zeros((n, *self.single_observation_space.shape), dtype=self.single_observation_space.dtype)
        infos: dict[str, Any] = {}
        for i in range(n):
            obs[i], info = self._reset_one(i, seeds[i])
            add_info_row(infos, info, i, n)
        self._needs_reset = False
        return obs, infos

    def _actions_of(self, actions: Any) -> np.ndarray:
        """The step's actions as an array of the batch's shape, after a reset (else a one-line error)."""
        if self._needs_reset:
            raise RuntimeError("call reset() before step()")
        a = np.asarray(actions)
        shape = (self.num_envs, *self.single_action_space.shape)
        if a.shape != shape:
            raise ValueError(f"{self.env_id}: expected actions of shape {shape}, got {a.shape}")
        return a

    def _truncated(self) -> np.ndarray:
        """Count this step in every episode; (N,) bool: the episodes at their time limit."""
        self._elapsed += 1
        if self.max_episode_steps is None:
            return np.zeros(self.num_envs, dtype=bool)
        return self._elapsed >= self.max_episode_steps

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()
