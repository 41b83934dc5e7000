"""A goal policy's figures (issue 41), on deterministic episodes played batched (sub-env i reset with seed + i, as
``trpo-mimic evaluate`` plays them): each episode's normalised task return (its task reward summed over the step
limit: a fall forfeits the rest), falls, strike hits, and the motion-set distance of its poses
(:mod:`.motion_set_distance`: each simulated window of two frames against the nearest window of the policy's motion
set, beside the set's own leave-one-clip-out figure). ``benchmarks/deepmimic/amp_scenes.py`` prints them; the cards
of shipped goal policies hold them."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from .motion_set_distance import MotionSet, SetDistance, relative_poses, windows


@dataclass
class GoalPlay:
    """What :func:`play_goal` saw: per episode, its normalised task return, whether it fell or hit; its pose
    windows; the scene (None for a tracking policy), the clips and the layout of the environments played."""

    task_return: np.ndarray
    fell: np.ndarray
    hit: np.ndarray
    windows: list[np.ndarray]
    scene: str | None
    clips: list
    layout: Any

    def distance(self, motion_set: MotionSet) -> SetDistance:
        return motion_set.distance(np.concatenate([w for w in self.windows if len(w)]))


def play_goal(agent: Any, cfg: Any, episodes: int, seed: int, steps: int, tracking: bool = False) -> GoalPlay:
    """One deterministic episode of at most ``steps`` per sub-env. ``tracking``: a clip-tracking policy
    (DeepMimic-v0), played alike for its poses. An episode's poses are its start and every step it continues from
    (the pose after its last step is already the next episode's start, so it is not one of them)."""
    from ..envs import env_kwargs_from_config, make_vector_env
    cfg = copy.deepcopy(cfg)
    cfg.max_episode_steps = steps
    envs = make_vector_env(cfg.env_id, episodes, "native", steps, training=False,
                           **env_kwargs_from_config(cfg, training=False))
    try:
        core = envs.core
        if core.scene is None and not tracking:
            raise ValueError(f"{cfg.env_id}: not a goal scene (DeepMimicAMP/Heading/Target/Strike-v0)")
        strike = core.scene is not None and core.scene.name == "strike"
        idx, policy = core.index, agent.inference()
        obs, _ = envs.reset(seed=seed)
        active = np.ones(episodes, dtype=bool)
        task, fell, hit = np.zeros(episodes), np.zeros(episodes, dtype=bool), np.zeros(episodes, dtype=bool)
        poses: list[list[np.ndarray]] = [[] for _ in range(episodes)]

        def record(rows: np.ndarray) -> None:
            s = core.physics.state
            rel = relative_poses(s.xpos[:, idx.bodies], s.xpos[:, idx.root_body], s.xquat[:, idx.root_body])
            for i in rows:
                poses[i].append(rel[i])

        record(np.arange(episodes))
        while active.any():
            obs, reward, term, trunc, info = envs.step(policy.act(obs, True)[0])
            done = term | trunc
            rows = np.flatnonzero(active)
            task[rows] += np.asarray(reward)[rows]
            fell[rows] |= term[rows]
            if strike:
                ended_hit = info.get("final_info", {}).get("reward_strike_hit", np.zeros(episodes))
                hit[rows] |= core.scene.goal.hit[rows] | (np.asarray(ended_hit)[rows] > 0)
            record(rows[~done[rows]])
            active &= ~done
        return GoalPlay(task / steps, fell, hit, [windows(np.asarray(p)) for p in poses],
                        None if core.scene is None else core.scene.name, list(core.clips), core.layout)
    finally:
        envs.close()
