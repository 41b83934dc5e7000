"""A clip sequence: one evaluation episode imitates several clips in turn (walk, then run, then walk), the
test of a policy trained on a motion set (the clip identifier in its observation says which clip is asked for).
Each switch continues the episode: the next clip starts at its pose nearest the current reference's, moved onto
the current reference's root and heading (:meth:`.env.DeepMimicEnv.switch_clip`)."""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium as gym

from .core import CONTROL_HZ

SWITCH_FALL_SECONDS = 1.0
"""A fall within this long after a switch counts as a fall at the switch."""


def switch_steps(seconds: float) -> int:
    """Control steps of each clip of a sequence."""
    if not seconds > 0:
        raise ValueError(f"a clip sequence switches every so many seconds > 0, got {seconds}")
    return max(1, round(seconds * CONTROL_HZ))


def sequence_steps(clips: int, seconds: float) -> int:
    """Control steps of a sequence of ``clips`` clips, ``seconds`` each."""
    return clips * switch_steps(seconds)


class ClipSequence(gym.Wrapper):
    """Each episode imitates the clips ``names`` (names or indices of the env's clips) in turn, ``seconds`` each,
    and is truncated after the last. ``info`` gains ``segment`` (which of them), ``clip`` (the clip index the
    step's reward belongs to), ``since_switch`` (steps into the segment, 1 for its first step) and
    ``fell_at_switch`` (the episode ended on a fall within SWITCH_FALL_SECONDS of a switch)."""

    def __init__(self, env: gym.Env, names: Sequence[str | int], seconds: float):
        super().__init__(env)
        u = env.unwrapped
        if not names:
            raise ValueError("a clip sequence needs at least one clip")
        self.ids = [u.clip_index_of(n) for n in names]
        self.switch_steps = switch_steps(seconds)
        self.total_steps = sequence_steps(len(self.ids), seconds)
        self.steps = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self.steps = 0
        return self.env.reset(seed=seed, options={**(options or {}), "clip": self.ids[0]})

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        u = self.env.unwrapped
        segment = self.steps // self.switch_steps
        self.steps += 1
        since = self.steps - segment * self.switch_steps
        info = dict(info, segment=segment, clip=self.ids[segment], since_switch=since,
                    fell_at_switch=bool(terminated and segment > 0 and since <= SWITCH_FALL_SECONDS * CONTROL_HZ))
        truncated = truncated or self.steps >= self.total_steps
        if not (terminated or truncated) and self.steps % self.switch_steps == 0:
            u.switch_clip(self.ids[segment + 1])
            obs = u.observation().astype(obs.dtype, copy=False)
        return obs, reward, terminated, truncated, info
