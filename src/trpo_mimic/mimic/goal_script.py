"""A scripted goal sequence for an evaluation of a goal scene (``evaluate --commands FILE``): each line of the file
is ``TIME GOAL VALUES...`` (seconds from the episode's start; ``#`` starts a comment)::

    0   heading 0    1.5     # heading (rad, world frame) and speed (m/s)
    4   heading 1.57 3.0
    0   target  3 4          # a target location x y (m, world frame)
    0   strike  1 0 1.3      # a strike target x y z (m)

From each command on, the goal holds (the scene's random changes stop) until the next one."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym

from .goals import GOALS

VALUES = {"heading": ("heading", "speed"), "target": ("x", "y"), "strike": ("x", "y", "z")}
"""Each goal's command values, in the file's order (the keywords of :meth:`.goals.Goal.command`)."""


class CommandsError(ValueError):
    """A commands file that cannot be read: one line naming the file, its line and the problem."""


def read_commands(path: str | Path, goal: str) -> list[tuple[float, dict[str, float]]]:
    """The (time, values) commands of ``path`` for a scene whose goal is ``goal``, sorted by time."""
    p = Path(path)
    if goal not in GOALS:
        raise CommandsError(f"--commands {p}: the policy's scene has no goal to command (scene {goal!r})")
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandsError(f"--commands {p}: cannot read it ({exc.strerror or exc})") from None
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        keys = VALUES[goal]
        if len(words) != 2 + len(keys) or words[1] != goal:
            raise CommandsError(f"{p}:{n}: expected 'TIME {goal} {' '.join(k.upper() for k in keys)}', got {line.strip()!r}")
        try:
            t, values = float(words[0]), [float(w) for w in words[2:]]
        except ValueError:
            raise CommandsError(f"{p}:{n}: not a number in {line.strip()!r}") from None
        if not t >= 0 or t == float("inf") or any(v != v or abs(v) == float("inf") for v in values):
            raise CommandsError(f"{p}:{n}: the time must be >= 0 s and every value finite, got {line.strip()!r}")
        out.append((t, dict(zip(keys, values))))
    if not out:
        raise CommandsError(f"--commands {p}: no command in it")
    return sorted(out, key=lambda c: c[0])


class GoalScript(gym.Wrapper):
    """Applies scripted goal commands to a one-character goal scene as its episode's time passes them."""

    def __init__(self, env: gym.Env, commands: list[tuple[float, dict[str, float]]]):
        super().__init__(env)
        self.commands, self.next, self.time = commands, 0, 0.0

    def _apply(self) -> None:
        goal = self.env.unwrapped.core.scene.goal
        while self.next < len(self.commands) and self.commands[self.next][0] <= self.time + 1e-9:
            goal.command(0, **self.commands[self.next][1])
            self.next += 1

    def reset(self, **kwargs: Any):
        out = self.env.reset(**kwargs)
        self.next, self.time = 0, 0.0
        self._apply()
        obs = self.env.unwrapped.observation().astype(out[0].dtype, copy=False)
        return obs, out[1]

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.time += self.env.unwrapped.control_dt
        before = self.next
        self._apply()
        if self.next != before and not (terminated or truncated):
            obs = self.env.unwrapped.observation().astype(obs.dtype, copy=False)
        return obs, reward, terminated, truncated, info
