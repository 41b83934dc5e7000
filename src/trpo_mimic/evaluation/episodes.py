"""Playing evaluation episodes: one env played N times (:func:`run_episodes`: videos, recorded trajectories,
wrappers of a task's own), or N sub-envs of a vector env at once (:func:`run_episodes_batched`)."""
from __future__ import annotations

import sys
from typing import Any

import numpy as np

from ..envs import is_step_metric
from ..envs.vector_util import ended_info
from ..policies.agent import Agent
from .stats import EvalResult, Tally

VIDEO_FPS = 30
"""Videos have at most this many frames per second (a faster env is drawn every k-th step)."""
PREVIEW_FPS = 15
"""The training's previews (draft videos) have at most this many: on a CPU renderer the frames are most of an
evaluation's cost."""


def video_stride(fps: float, cap: float = VIDEO_FPS) -> int:
    """Steps per video frame: a video has at most `cap` frames per second (VIDEO_FPS; PREVIEW_FPS for drafts)."""
    return max(1, int(round(fps / cap)))


def run_episodes(agent: Agent, env: Any, episodes: int, deterministic: bool, seed: int, record: bool = False,
                 frames: Any = None, progress: bool = True, on_step: Any = None,
                 max_frames: int | None = None, film_only: bool = False,
                 stride: int | None = None, task: Any = None) -> tuple[EvalResult, dict[str, np.ndarray] | None]:
    """Play whole episodes, one after another, with the normaliser frozen (episode k reset with seed + k).
    `frames` (a list, a `VideoWriter`: anything with `append`) gets the first episode's renders: every
    `stride`-th step (None: ``video_stride`` of the env's frame rate), at most `max_frames` of them; `record`
    keeps the trajectories (and, for an env with a reference (``reference_qpos``), simulated and reference poses).
    `task`: the env's task (:mod:`..tasks`): which clips' statistics are kept apart, its lines of the results. film_only: the episode stops once its frames are drawn (a video, no figures)."""
    from tqdm import tqdm
    traj: dict[str, list] = {"obs": [], "actions": [], "rewards": [], "episode": []}
    unwrapped = env.unwrapped
    has_ref = hasattr(unwrapped, "reference_qpos") and hasattr(unwrapped, "data")
    if record and has_ref:
        traj.update(sim_qpos=[], ref_qpos=[], time=[])
    tally = Tally(episodes, task.tally_clips(env) if task is not None else ())
    if stride is None:
        stride = video_stride(env.metadata.get("render_fps") or VIDEO_FPS)
    budget = np.inf if max_frames is None else max_frames
    policy = agent.inference()
    for ep in tqdm(range(episodes), desc="evaluate", disable=not progress, leave=False, file=sys.stderr):
        obs, reset_info = env.reset(seed=seed + ep)
        drawn = 0
        if frames is not None and ep == 0 and budget > 0:
            frames.append(env.render())
            drawn = 1
        done, length = False, 0
        while not done:
            action = policy.act(obs[None], deterministic)[0][0]
            next_obs, reward, terminated, truncated, info = env.step(action)
            length += 1
            if on_step is not None:
                on_step()
            if frames is not None and ep == 0 and drawn < budget and length % stride == 0:
                frames.append(env.render())
                drawn += 1
            if record:
                traj["obs"].append(obs)
                traj["actions"].append(action)
                traj["rewards"].append(reward)
                traj["episode"].append(ep)
                if has_ref:
                    traj["sim_qpos"].append(unwrapped.data.qpos.copy())
                    traj["ref_qpos"].append(unwrapped.reference_qpos())
                    traj["time"].append(info["time"])
                for k, v in info.items():  # per-step reward terms and errors
                    if is_step_metric(k):
                        traj.setdefault(k, [np.nan] * (len(traj["rewards"]) - 1)).append(float(v))
            tally.step(ep, reward, info, terminated)
            obs = next_obs
            done = terminated or truncated or (film_only and drawn >= budget)
    arrays = {k: np.asarray(v) for k, v in traj.items()} if record else None
    return tally.result(task), arrays


def run_episodes_batched(agent: Agent, envs: Any, deterministic: bool, seed: int, task: Any = None,
                         progress: bool = True) -> EvalResult:
    """One episode on each sub-env of a vector env (sub-env i reset with seed + i, as episode i of
    :func:`run_episodes`: the same episodes, to the rounding of batched maths), every policy call batched.
    A sub-env that ended keeps stepping (autoreset) until the last one ends; its steps are not counted."""
    from tqdm import tqdm
    n = envs.num_envs
    tally = Tally(n, task.tally_clips(envs) if task is not None else ())
    obs, _ = envs.reset(seed=seed)
    policy = agent.inference()
    active = np.ones(n, dtype=bool)
    with tqdm(total=n, desc="evaluate", disable=not progress, leave=False, file=sys.stderr) as bar:
        while active.any():
            obs, reward, terminated, truncated, info = envs.step(policy.act(obs, deterministic)[0])
            done = terminated | truncated
            rows = np.flatnonzero(active)
            step_info = ended_info(info, done)
            reward = np.asarray(reward, dtype=np.float64)
            tally.step_rows(rows, reward[rows], {k: v[rows] for k, v in step_info.items()}, terminated[rows])
            ended = active & done
            if ended.any():
                active &= ~done
                bar.update(int(ended.sum()))
    return tally.result(task)
