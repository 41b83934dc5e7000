"""Pushes: the robustness test of motion-imitation policies (DeepMimic shows its characters recovering from
them). A push is a horizontal force on one body (the chest) held for a short time, in a random direction, at
random times of the episode."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

PUSH_SECONDS = 0.2
PUSH_BODY = "chest"
"""The body pushed (a character without one, such as the dog: its root)."""
FIRST_PUSH = (0.5, 2.0)
"""The first push starts at a uniformly random time in this window (s), the next ones this far apart, and
so on to the end of the episode."""
PUSH_GAP = (1.5, 2.5)


def check_force(force: float) -> float:
    """A push's force (N) as a float; anything but a finite number >= 0 is a ValueError."""
    try:
        f = float(force)
    except (TypeError, ValueError):
        raise ValueError(f"push force must be a non-negative number of newtons, got {force!r}") from None
    if not np.isfinite(f) or f < 0:
        raise ValueError(f"push force must be a non-negative number of newtons, got {force}")
    return f


def push_body(env: gym.Env, body: str | None = None) -> int:
    """The id of the body a push acts on: ``body`` (a name), else ``PUSH_BODY`` where the character has one,
    else its root. Pushes are written into the character's MjData: other physics than ``"mujoco"`` is a
    ValueError, as is an unknown body."""
    u = env.unwrapped
    core = getattr(u, "core", None)
    if core is not None and core.physics_name != "mujoco":
        raise ValueError(f"pushes need physics='mujoco' (the force is written into the character's MjData), "
                         f"not {core.physics_name!r}")
    if body is None:
        has_chest = mujoco.mj_name2id(u.model, mujoco.mjtObj.mjOBJ_BODY, PUSH_BODY) >= 0
        body = PUSH_BODY if has_chest else u.model.body(u.index.root_body).name
    try:
        return int(u.model.body(body).id)
    except KeyError:
        raise ValueError(f"push: the character has no body named {body!r}") from None


def horizontal_force(force: float, angle: float) -> np.ndarray:
    """The force vector (3,) of ``force`` newtons, horizontal, towards ``angle`` (rad, from the world's x axis)."""
    return force * np.array([np.cos(angle), np.sin(angle), 0.0])


def apply_force(env: gym.Env, body: int, f: np.ndarray) -> None:
    """Hold the force ``f`` (3,) on ``body`` from the next physics step on, until changed (zeros: no push)."""
    env.unwrapped.data.xfrc_applied[body, :3] = f


class Pushes(gym.Wrapper):
    """Apply pushes of ``force`` newtons (``PUSH_SECONDS`` long, horizontal, a random direction each) to
    ``PUSH_BODY`` of a MuJoCo character env (``unwrapped.model``, ``unwrapped.data``, ``control_dt``) at
    random times; the times and directions follow from the reset's seed. ``info["push"]`` is the force (N)
    on the body during the step. A force of 0 leaves the environment as it is."""

    def __init__(self, env: gym.Env, force: float, body: str | None = None,
                 first: tuple[float, float] = FIRST_PUSH, gap: tuple[float, float] = PUSH_GAP):
        super().__init__(env)
        self.force = check_force(force)
        self.body = push_body(env, body)
        self.first, self.gap = first, gap
        self.dt = float(env.unwrapped.control_dt)
        self.rng = np.random.default_rng()
        self.schedule: list[tuple[float, np.ndarray]] = []
        self.elapsed = 0.0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self.rng = np.random.default_rng(None if seed is None else seed + 7_919)
        self.elapsed = 0.0
        self.schedule = []
        self._apply(np.zeros(3))
        return self.env.reset(seed=seed, options=options)

    def _push_at(self, t: float) -> np.ndarray:
        """The force vector (3,) acting at episode time t (s), drawing the schedule as far as needed."""
        while not self.schedule or self.schedule[-1][0] <= t:
            start = (self.rng.uniform(*self.first) if not self.schedule
                     else self.schedule[-1][0] + self.rng.uniform(*self.gap))
            angle = self.rng.uniform(0.0, 2.0 * np.pi)
            self.schedule.append((start, horizontal_force(self.force, angle)))
        for start, f in self.schedule:
            if start <= t < start + PUSH_SECONDS - 1e-9:
                return f
        return np.zeros(3)

    def _apply(self, f: np.ndarray) -> None:
        apply_force(self.env, self.body, f)

    def step(self, action):
        f = self._push_at(self.elapsed) if self.force > 0 else np.zeros(3)
        self._apply(f)
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.elapsed += self.dt
        info = dict(info, push=float(np.linalg.norm(f)))
        return obs, reward, terminated, truncated, info
