"""Goals of DeepMimic's AMP task scenes (``SceneHeadingAMP``, ``SceneTargetAMP``; ``docs/amp.md`` in the shared
material, section 4), for N characters at once: what the policy is asked, what it observes of it (in the
character's heading frame), the task reward in [0, 1] each control step, and the goal's own failures.

A goal sees the characters through :class:`Kinematics` (horizontal root and centre of mass, heading) and draws
its random changes from each environment's own generator, so that an environment's episode depends on its seed
alone.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .quat import wrap_pi


GOAL_RGBA = np.array([0.8, 0.2, 0.9, 0.8])
HIT_RGBA = np.array([0.2, 0.8, 0.2, 0.8])
HIT_FLASH_RGBA = np.array([1.0, 1.0, 0.3, 0.9])
"""The goal as videos and the viewer draw it: magenta (apart from the viewer's orange character, its blue ghost and the
videos' blue-grey character); a strike target flashes yellow for 0.3 s when hit, then stays green."""


@dataclass
class Kinematics:
    """What a goal reads of N characters (world frame, z up)."""

    root: np.ndarray  # (N, 2) horizontal root position
    heading: np.ndarray  # (N,) yaw of the root's x axis (rad)
    com: np.ndarray  # (N, 2) horizontal centre of mass
    hand: np.ndarray | None = None  # (N, 3) the striking hand's position (the strike goal)
    hand_vel: np.ndarray | None = None  # (N, 3) its velocity
    torso: np.ndarray | None = None  # (N, K, 3) the bodies that must not touch a strike target (root, chest, neck)


def to_heading_frame(v: np.ndarray, heading: np.ndarray) -> np.ndarray:
    """Horizontal vectors (N, 2) in the frame turned by ``heading`` (x forward, y left)."""
    c, s = np.cos(heading), np.sin(heading)
    return np.stack([c * v[:, 0] + s * v[:, 1], -s * v[:, 0] + c * v[:, 1]], axis=1)


class Goal:
    """The interface of a scene's goal (every array over the N environments)."""

    name = "none"
    obs_dim = 0
    terms: tuple[str, ...] = ()

    def __init__(self, num_envs: int, control_dt: float):
        self.n, self.dt = int(num_envs), float(control_dt)
        self.prev_com = np.zeros((self.n, 2))

    def reset(self, i: int, rng: np.random.Generator, kin: Kinematics) -> None:
        """A new episode of environment i, its character at ``kin``'s row i."""
        self.prev_com[i] = kin.com[i]

    def advance(self, rows: np.ndarray, rngs: list, kin: Kinematics) -> None:
        """One control step of the continuing environments ``rows``: timers run, goals may change."""

    def observe(self, kin: Kinematics) -> np.ndarray:
        return np.zeros((len(kin.heading), 0))

    def reward(self, kin: Kinematics) -> tuple[np.ndarray, np.ndarray]:
        """(task reward (N,), its terms (N, len(terms))) of the step that ended at ``kin``."""
        return np.zeros(len(kin.heading)), np.zeros((len(kin.heading), 0))

    def failed(self, kin: Kinematics) -> np.ndarray:
        return np.zeros(len(kin.heading), dtype=bool)

    def moved(self, kin: Kinematics) -> None:
        """The step is scored: the centre of mass now is the next step's start."""
        self.prev_com[:] = kin.com

    def command(self, i: int, **values: float) -> None:
        """Set environment i's goal by hand (a program or a viewer steering the character)."""
        raise ValueError(f"the {self.name} goal takes no command")

    def markers(self, i: int, kin: Kinematics) -> list[tuple]:
        """What a frame draws of environment i's goal: ``("arrow", start, end, rgba)`` or ``("sphere", centre,
        radius, rgba)`` (world frame)."""
        return []


class HeadingGoal(Goal):
    """Move along a heading at a speed. Reward ``exp(-k (v* - u)^2)`` where u > 0 is the speed of the centre of
    mass along the heading over the step, else 0; observation ``[cos d, sin d, v*]`` with d the heading asked
    minus the character's. Every U(0.2, 0.5) s: the heading turns by N(0, 0.15) (by U(-pi, pi) with p = 0.01)
    and, with p = 0.02, the speed is drawn anew in [low, high] (DeepMimic's locomotion set: [1, 5] m/s; here
    the speeds the motion set covers). An episode starts with a heading uniform around the character's."""

    name = "heading"
    obs_dim = 3
    terms = ("heading_speed",)

    def __init__(self, num_envs: int, control_dt: float, speeds: tuple[float, float], k: float = 0.25):
        super().__init__(num_envs, control_dt)
        lo, hi = float(speeds[0]), float(speeds[1])
        if not 0 < lo <= hi:
            raise ValueError(f"heading goal: speeds must be 0 < low <= high m/s, got {speeds!r}")
        self.speeds, self.k = (lo, hi), float(k)
        self.target = np.zeros(self.n)
        self.speed = np.full(self.n, lo)
        self.change_left = np.zeros(self.n)

    def reset(self, i, rng, kin):
        super().reset(i, rng, kin)
        self.target[i] = wrap_pi(kin.heading[i] + rng.uniform(-np.pi, np.pi))
        self.speed[i] = rng.uniform(*self.speeds)
        self.change_left[i] = rng.uniform(0.2, 0.5)

    def advance(self, rows, rngs, kin):
        self.change_left[rows] -= self.dt
        for i in rows[self.change_left[rows] <= 0]:
            rng = rngs[i]
            turn = rng.uniform(-np.pi, np.pi) if rng.uniform() < 0.01 else rng.normal(0.0, 0.15)
            self.target[i] = wrap_pi(self.target[i] + turn)
            if rng.uniform() < 0.02:
                self.speed[i] = rng.uniform(*self.speeds)
            self.change_left[i] = rng.uniform(0.2, 0.5)

    def observe(self, kin):
        d = wrap_pi(self.target - kin.heading)
        return np.stack([np.cos(d), np.sin(d), self.speed], axis=1)

    def reward(self, kin):
        u = np.einsum("ij,ij->i", kin.com - self.prev_com, self.direction()) / self.dt
        r = np.where(u > 0, np.exp(-self.k * (self.speed - u) ** 2), 0.0)
        return r, r[:, None]

    def direction(self) -> np.ndarray:
        return np.stack([np.cos(self.target), np.sin(self.target)], axis=1)

    def markers(self, i, kin):
        start = np.array([kin.root[i, 0], kin.root[i, 1], 0.05])
        d = np.array([np.cos(self.target[i]), np.sin(self.target[i]), 0.0])
        return [("arrow", start, start + 0.4 * self.speed[i] * d, GOAL_RGBA)]  # 0.4 m per m/s asked

    def command(self, i, heading=None, speed=None):
        if heading is not None:
            self.target[i] = wrap_pi(float(heading))
        if speed is not None:
            self.speed[i] = float(speed)
        self.change_left[i] = np.inf  # a commanded goal holds until the next command


class TargetGoal(Goal):
    """Walk to a target on the ground. Reward ``0.6 exp(-0.5 d^2) + 0.4 r_v`` with d the horizontal distance from
    the centre of mass, r_v = 1 within 0.5 m, else 0 when the centre of mass moves away, else
    ``exp(-(4 / v*^2) max(0, v* - u)^2)`` (v* = 1 m/s, u its speed toward the target). Observation: the unit
    direction to the target in the heading frame and the distance. A new target every U(5, 10) s at the root
    plus U(0, 10) m in a uniform direction; a target farther than 15 m fails the episode."""

    name = "target"
    obs_dim = 3
    terms = ("target_distance", "target_velocity")
    SPEED, NEAR, FAIL_DISTANCE = 1.0, 0.5, 15.0

    def __init__(self, num_envs: int, control_dt: float):
        super().__init__(num_envs, control_dt)
        self.target = np.zeros((self.n, 2))
        self.change_left = np.zeros(self.n)

    def _place(self, i, rng, root):
        r, phi = rng.uniform(0.0, 10.0), rng.uniform(-np.pi, np.pi)
        self.target[i] = root + r * np.array([np.cos(phi), np.sin(phi)])
        self.change_left[i] = rng.uniform(5.0, 10.0)

    def reset(self, i, rng, kin):
        super().reset(i, rng, kin)
        self._place(i, rng, kin.root[i])

    def advance(self, rows, rngs, kin):
        self.change_left[rows] -= self.dt
        for i in rows[self.change_left[rows] <= 0]:
            self._place(i, rngs[i], kin.root[i])

    def observe(self, kin):
        delta = self.target - kin.root
        dist = np.linalg.norm(delta, axis=1)
        unit = delta / np.maximum(dist, 1e-9)[:, None]
        return np.concatenate([to_heading_frame(unit, kin.heading), dist[:, None]], axis=1)

    def reward(self, kin):
        delta = self.target - kin.com
        d = np.linalg.norm(delta, axis=1)
        unit = delta / np.maximum(d, 1e-9)[:, None]
        u = np.einsum("ij,ij->i", kin.com - self.prev_com, unit) / self.dt
        v = self.SPEED
        r_v = np.where(d < self.NEAR, 1.0,
                       np.where(u <= 0, 0.0, np.exp(-(4.0 / v ** 2) * np.maximum(0.0, v - u) ** 2)))
        r_d = np.exp(-0.5 * d * d)
        return 0.6 * r_d + 0.4 * r_v, np.stack([r_d, r_v], axis=1)

    def failed(self, kin):
        return np.linalg.norm(self.target - kin.root, axis=1) > self.FAIL_DISTANCE

    def markers(self, i, kin):
        return [("sphere", np.array([self.target[i, 0], self.target[i, 1], 0.1]), 0.15, GOAL_RGBA)]

    def command(self, i, x=None, y=None):
        if x is None or y is None:
            raise ValueError("a target command needs x and y (metres, world frame)")
        self.target[i] = (float(x), float(y))
        self.change_left[i] = np.inf


class StrikeGoal(Goal):
    """Hit a target in the air with the right hand (``SceneStrikeAMP``). A hit: the hand within 0.2 m of the
    target, moving at 1.5 m/s or more toward it. The target is placed at the episode's start: with p = 0.4 far
    (any direction, 0.6-10 m), else near (within 0.5 rad of the heading, 0.6-1.1 m), 1.2-1.4 m above the ground.
    Reward: 1 from the hit on; before it ``0.3 + 0.3 r_near`` with the root within 1.4 m of the target
    (``r_near = 0.2 exp(-2 |x* - x_hand|^2) + 0.8 clip(v_hand . u / 1.5, 0, 1)^2``, u the unit vector from the hand
    to the target), else ``0.3 r_far`` (``r_far = 0.7 exp(-0.5 max(0, d - 1.4)^2) + 0.3 r_v``, r_v as the target
    goal's at 1 m/s). The episode fails when the root, chest or neck comes within 0.2 m of the target or the
    target is more than 15 m away. Observation: the target in the heading frame (3) and the time since the hit,
    ``clip((t - t_hit) / 2, 0, 1)`` (0 before it). ``start_hit``: the share of episodes that start with the target
    already hit (the release's training: 0.1, ``START_HIT``; evaluation: 0), so that what follows a hit is learned."""

    name = "strike"
    obs_dim = 4
    terms = ("strike_near", "strike_far", "strike_hit")
    HIT_DISTANCE, HIT_SPEED, NEAR_ROOT, TOUCH, FAIL_DISTANCE, START_HIT = 0.2, 1.5, 1.4, 0.2, 15.0, 0.1

    def __init__(self, num_envs: int, control_dt: float, start_hit: float = 0.0):
        super().__init__(num_envs, control_dt)
        self.start_hit = float(start_hit)
        self.target = np.zeros((self.n, 3))
        self.hit = np.zeros(self.n, dtype=bool)
        self.since_hit = np.zeros(self.n)

    def reset(self, i, rng, kin):
        super().reset(i, rng, kin)
        if rng.uniform() < 0.4:
            phi, dist = rng.uniform(-np.pi, np.pi), rng.uniform(0.6, 10.0)
        else:
            phi, dist = rng.uniform(-0.5, 0.5), rng.uniform(0.6, 1.1)
        phi += kin.heading[i]
        self.target[i, :2] = kin.root[i] + dist * np.array([np.cos(phi), np.sin(phi)])
        self.target[i, 2] = rng.uniform(1.2, 1.4)
        self.hit[i], self.since_hit[i] = self.start_hit > 0 and rng.uniform() < self.start_hit, 0.0

    def advance(self, rows, rngs, kin):
        self.since_hit[rows] += np.where(self.hit[rows], self.dt, 0.0)

    def observe(self, kin):
        delta = self.target - np.concatenate([kin.root, np.zeros((len(kin.root), 1))], axis=1)
        local = np.concatenate([to_heading_frame(delta[:, :2], kin.heading), delta[:, 2:]], axis=1)
        return np.concatenate([local, np.clip(self.since_hit / 2.0, 0.0, 1.0)[:, None]], axis=1)

    def reward(self, kin):
        to_t = self.target - kin.hand
        gap = np.linalg.norm(to_t, axis=1)
        unit = to_t / np.maximum(gap, 1e-9)[:, None]
        toward = np.einsum("ij,ij->i", kin.hand_vel, unit)
        self.hit |= (gap < self.HIT_DISTANCE) & (toward >= self.HIT_SPEED)
        flat = self.target[:, :2] - kin.root
        d = np.linalg.norm(flat, axis=1)
        r_near = 0.2 * np.exp(-2.0 * gap * gap) + 0.8 * np.clip(toward / self.HIT_SPEED, 0.0, 1.0) ** 2
        com_to = self.target[:, :2] - kin.com
        com_unit = com_to / np.maximum(np.linalg.norm(com_to, axis=1), 1e-9)[:, None]
        u = np.einsum("ij,ij->i", kin.com - self.prev_com, com_unit) / self.dt
        r_v = np.where(u <= 0, 0.0, np.exp(-4.0 * np.maximum(0.0, 1.0 - u) ** 2))
        r_far = 0.7 * np.exp(-0.5 * np.maximum(0.0, d - self.NEAR_ROOT) ** 2) + 0.3 * r_v
        near = d < self.NEAR_ROOT
        r = np.where(self.hit, 1.0, np.where(near, 0.3 + 0.3 * r_near, 0.3 * r_far))
        return r, np.stack([np.where(near, r_near, 0.0), np.where(near, 0.0, r_far), self.hit.astype(float)], axis=1)

    def failed(self, kin):
        touch = (np.linalg.norm(kin.torso - self.target[:, None], axis=2) < self.TOUCH).any(axis=1)
        return touch | (np.linalg.norm(self.target[:, :2] - kin.root, axis=1) > self.FAIL_DISTANCE)

    def markers(self, i, kin):
        flash = self.hit[i] and self.since_hit[i] < 0.3
        rgba = HIT_FLASH_RGBA if flash else HIT_RGBA if self.hit[i] else GOAL_RGBA
        return [("sphere", self.target[i].copy(), 0.2 if flash else 0.1, rgba)]

    def command(self, i, x=None, y=None, z=1.3):
        if x is None or y is None:
            raise ValueError("a strike command needs x and y (metres, world frame; z defaults to 1.3)")
        self.target[i] = (float(x), float(y), float(z))
        self.hit[i], self.since_hit[i] = False, 0.0


GOALS = {"heading": HeadingGoal, "target": TargetGoal, "strike": StrikeGoal}
