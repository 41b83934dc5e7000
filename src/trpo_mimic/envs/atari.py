"""Atari 2600 games (ale-py) with gymnasium's own preprocessing, for the Nature-CNN policies.

The stack built by `make_atari_env`, innermost first:

    gym.make(id, frameskip=1)         ALE emulator, one call = one emulator frame; sticky actions
                                      (repeat_action_probability) as the id defines them: 0.25 for
                                      ALE/*-v5 (Machado et al. 2018), 0.0 for *NoFrameskip-v4
    AtariPreprocessing                no-op starts (1..30 NOOPs), frame skip 4 with max-pooling of
                                      the last two frames, 84x84 greyscale uint8
    TimeLimit                         only when max_episode_steps is given; counts agent steps
                                      (4 emulator frames each) of a whole game
    LifeLossTerminal  (training only) a lost life ends the episode (terminated) but the game goes
                                      on at the next reset; only a game over resets the emulator
    FrameStackObservation(4)          (4, 84, 84) uint8, channels first, newest frame LAST

`render_mode="rgb_array"` renders the emulator's own screen (210x160x3 RGB, not preprocessed),
one frame per agent step; `metadata["render_fps"]` is 15 so videos play in real time (60 Hz / 4).

Why not AtariPreprocessing(terminal_on_life_loss=True): with that flag the autoreset after a lost
life resets the whole game, so the agent would only ever play its first life. LifeLossTerminal
gives the same "terminal" signal for bootstrapping but continues the game (as DQN/baselines did).
"""
from __future__ import annotations

import re
from typing import Any

import gymnasium as gym
import numpy as np

FRAME_SKIP = 4
FRAME_STACK = 4
SCREEN_SIZE = 84
NOOP_MAX = 30
ATARI_FPS = 60

# Flags whose default differs for Atari ids (applied only when not given on the command line).
ATARI_DEFAULTS: dict[str, Any] = {"policy_entcoeff": 0.01}

_LEGACY_ID = re.compile(r"^[A-Z][A-Za-z0-9]*(NoFrameskip|Deterministic)-v[04]$")
INSTALL_HINT = "pip install ale-py (the Atari ROMs ship inside the wheel) and opencv-python-headless"


class AtariUnavailable(ImportError):
    """ale-py (or OpenCV, needed by AtariPreprocessing) is not installed."""


def looks_like_atari(env_id: str) -> bool:
    """Ids that can only be Atari games, decided from the name alone (no import needed)."""
    return env_id.startswith("ALE/") or bool(_LEGACY_ID.match(env_id))


def is_atari(env_id: str) -> bool:
    """True for ALE ids: by name, or a registered id whose entry point is ale_py's."""
    if looks_like_atari(env_id):
        return True
    spec = gym.registry.get(env_id)
    return spec is not None and "ale_py" in str(spec.entry_point)


def ale_installed() -> bool:
    try:
        import ale_py  # noqa: F401
    except ImportError:
        return False
    return True


def register_atari_envs(env_id: str = "Atari") -> None:
    """Register ale_py's environments with gymnasium (idempotent); a clear error if it is missing."""
    try:
        import ale_py
    except ImportError:
        raise AtariUnavailable(f"{env_id!r} is an Atari environment and needs the ale-py package, which is not "
                               f"installed: {INSTALL_HINT}") from None
    gym.register_envs(ale_py)


class LifeLossTerminal(gym.Wrapper):
    """Training only: losing a life ends the episode (terminated=True, info["life_loss"]=True) without
    ending the game; the next reset() continues the same game with a NOOP step instead of resetting
    the emulator. Only a game over, a truncation, or a reset with an explicit seed resets for real.

    info["game_return"] and info["game_length"] (reward and agent steps of the whole game, all
    lives) are set on the step where the game really ends, so true game scores can be logged."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.lives = 0
        self.game_over = True
        self.game_return = 0.0
        self.game_length = 0

    def _ale_lives(self) -> int:
        return int(self.env.unwrapped.ale.lives())

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.game_return += float(reward)
        self.game_length += 1
        lives = self._ale_lives()
        self.game_over = bool(terminated or truncated)
        if self.game_over:
            info = dict(info, game_return=self.game_return, game_length=self.game_length)
        elif lives < self.lives:
            terminated = True
            info = dict(info, life_loss=True)
        self.lives = lives
        return obs, reward, terminated, truncated, info

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if self.game_over or seed is not None:
            obs, info = self.env.reset(seed=seed, options=options)
            self.game_return, self.game_length = 0.0, 0
        else:  # a life was lost: go on with the same game (one NOOP step gives the observation)
            obs, reward, terminated, truncated, info = self.env.step(0)
            self.game_return += float(reward)
            self.game_length += 1
            if terminated or truncated:
                obs, info = self.env.reset(seed=seed, options=options)
                self.game_return, self.game_length = 0.0, 0
        self.game_over = False
        self.lives = self._ale_lives()
        return obs, info


def make_atari_env(env_id: str, training: bool = False, max_episode_steps: int | None = None,
                   render_mode: str | None = None, frame_stack: int = FRAME_STACK, noop_max: int = NOOP_MAX,
                   frame_skip: int = FRAME_SKIP, screen_size: int = SCREEN_SIZE, **kwargs: Any) -> gym.Env:
    """One preprocessed Atari environment (see the module docstring for the wrapper stack).

    training: True makes a lost life terminal (for the trainer's rollouts); evaluation uses False.
    kwargs go to the ALE env (e.g. repeat_action_probability, full_action_space, mode, difficulty).
    """
    register_atari_envs(env_id)
    try:
        import cv2  # noqa: F401  (AtariPreprocessing resizes with OpenCV)
    except ImportError:
        raise AtariUnavailable(f"{env_id!r}: gymnasium's AtariPreprocessing needs OpenCV, which is not installed: "
                               "pip install opencv-python-headless") from None
    from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation, TimeLimit

    make_kwargs = dict(kwargs)
    if render_mode is not None:
        make_kwargs["render_mode"] = render_mode
    # frameskip=1: the skipping (and max-pooling) is AtariPreprocessing's, not the emulator's.
    env = gym.make(env_id, frameskip=1, **make_kwargs)
    env = AtariPreprocessing(env, noop_max=noop_max, frame_skip=frame_skip, screen_size=screen_size,
                             terminal_on_life_loss=False, grayscale_obs=True, scale_obs=False)
    if max_episode_steps is not None:
        env = TimeLimit(env, int(max_episode_steps))
    if training:
        env = LifeLossTerminal(env)
    env = FrameStackObservation(env, stack_size=frame_stack)
    env.metadata = {**env.metadata, "render_fps": ATARI_FPS // frame_skip}
    assert env.observation_space.shape == (frame_stack, screen_size, screen_size)
    assert env.observation_space.dtype == np.uint8
    return env
