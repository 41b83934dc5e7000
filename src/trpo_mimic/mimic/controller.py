"""Drive a trained character from a program: :class:`Controller` loads a DeepMimic policy (a shipped one by name,
or a checkpoint file or run directory), and steps one character with it, 30 steps per simulated second, taking
commands (the skill to imitate) and pushes between steps; each step returns a :class:`CharacterState` for the
caller to draw or retarget.

The character acts as ``trpo-mimic evaluate`` plays it: the deterministic policy through the agent's inference
backend, on one environment built from the policy's own config in evaluation mode. A skill switch goes through
the environment's :meth:`~.env.DeepMimicEnv.switch_clip` (as ``evaluate --clip_sequence``), and a
push through :mod:`.push` (as ``evaluate --push``).

::

    from trpo_mimic import Controller
    c = Controller("locomotion")
    s = c.reset(seed=0, skill="walk")
    for k in range(300):
        s = c.step({"skill": "run"} if k == 150 else None)
"""
from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..checkpoint import load_agent
from ..envs import env_kwargs_from_config, make_env
from .push import PUSH_SECONDS, apply_force, check_force, horizontal_force, push_body
from .registration import is_deepmimic

NO_LIMIT = sys.maxsize
"""The time limit of the controller's environment when ``max_steps`` is None: a character runs until it falls
(or a clip that plays once ends)."""


@dataclass(frozen=True)
class Command:
    """What the character is asked to do from this step on; a field left None keeps what it was.

    skill: the clip to imitate, by skill name (``"run"``), clip file name (``"humanoid3d_run.txt"``) or stem,
    among the policy's clips (:attr:`Controller.skills`); a tracking policy's.
    heading, speed: the direction (rad, from the world's x axis) and speed (m/s) asked of a heading policy.
    target: where a target or strike policy goes, (x, y) metres in the world frame ((x, y, z) for a strike).
    From a goal command on, the goal holds (the scene's random changes stop)."""

    skill: str | None = None
    heading: float | None = None
    speed: float | None = None
    target: Sequence[float] | None = None


COMMAND_KEYS = tuple(f.name for f in dataclasses.fields(Command))
GOAL_KEYS = {"heading": ("heading", "speed"), "target": ("target",), "strike": ("target",), "amp": ()}
"""The command keys of a goal scene's policy (a tracking policy's: ``skill``)."""


@dataclass(frozen=True)
class CharacterState:
    """The character after :meth:`Controller.reset` or :meth:`Controller.step` (arrays are copies)."""

    qpos: np.ndarray  # (nq,) MuJoCo generalised positions: root position, root quaternion (w, x, y, z), hinges
    qvel: np.ndarray  # (nv,) their velocities (root linear velocity in the world frame first)
    body_pos: np.ndarray  # (bodies, 3) world positions of the bodies named by Controller.body_names
    body_quat: np.ndarray  # (bodies, 4) their world orientations (w, x, y, z)
    time: float  # simulated seconds since the reset
    clip_time: float  # the reference clip's time (s): it moves on with the time, and jumps at a skill switch
    skill: str  # the skill imitated (a name of Controller.skills)
    step: int  # steps since the reset (30 per second)
    reward: float | None  # the imitation reward of the last step, in [0, 1]; None after a reset
    fell: bool  # the episode ended on a fall (or an unstable simulation)
    ended: bool  # the episode is over (fell, a clip that plays once reached its end, or max_steps): reset next


def skill_name(clip: Any) -> str:
    """A clip's skill name: its file's stem without the character's prefix (``humanoid3d_run.txt``: ``run``)."""
    stem = clip.name[:-4] if clip.name.endswith(".txt") else clip.name
    prefix = f"{getattr(getattr(clip, 'character', None), 'name', '')}_"
    return stem[len(prefix):] if len(prefix) > 1 and stem.startswith(prefix) and len(stem) > len(prefix) else stem


class Controller:
    """One character driven by a trained DeepMimic policy (see the module docstring).

    policy: a shipped policy's name (``"walk"``, ``"locomotion"``: ``trpo-mimic pretrained`` lists them), a
    checkpoint or policy file, or a run directory (its ``latest.pt``). device: where the policy runs ("cpu").
    max_steps: the episode ends (``ended``) after this many steps; None: never (it ends on a fall, or at the end
    of a clip that plays once).

    Attributes: ``skills`` (the policy's skill names, in its clips' order), ``body_names`` (the order of
    :attr:`CharacterState.body_pos`), ``dt`` (seconds per step), ``env`` (the environment, a Gymnasium env
    whose ``unwrapped`` is the :class:`~.env.DeepMimicEnv`), ``agent`` and ``config``."""

    commands = COMMAND_KEYS
    """The command keys this controller takes (an instance's: those of its policy's kind)."""

    def __init__(self, policy: str | Path, device: str = "cpu", max_steps: int | None = None):
        if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer))
                                      or max_steps < 1):
            raise ValueError(f"max_steps must be a whole number of steps >= 1 or None, got {max_steps!r}")
        self.agent, self.config, _ = load_agent(policy, device)
        cfg = self.config
        if not is_deepmimic(cfg.env_id):
            raise ValueError(f"{policy}: a policy of {cfg.env_id}; a Controller drives DeepMimic characters")
        kwargs = env_kwargs_from_config(cfg, training=False)
        kwargs["switch_interval"] = None  # the caller says when to switch (a policy trained with random switches)
        self.env = make_env(cfg.env_id, max_episode_steps=int(max_steps or NO_LIMIT), **kwargs)
        self._policy = self.agent.inference()
        u = self.env.unwrapped
        self._u = u
        self.dt = float(u.control_dt)
        self.skills = tuple(skill_name(c) for c in u.clips)
        scene = u.core.scene
        self.goal = scene.name if scene is not None else None
        self.commands = GOAL_KEYS.get(self.goal, ("skill",)) if scene is not None else ("skill",)
        self._bodies = np.asarray(u.index.bodies)
        self.body_names = tuple(u.model.body(int(b)).name for b in self._bodies)
        self._obs: np.ndarray | None = None
        self._steps = 0
        self._ended = False
        self._rng = np.random.default_rng()
        self._push_body: int | None = None
        self._push = np.zeros(3)  # the force of the push in progress (N, world frame)
        self._push_left = 0  # its steps still to come
        self._pushed = False  # a force is held on the body now

    # ------------------------------------------------------------------ episodes
    def reset(self, seed: int | None = None, skill: str | None = None, time: float | None = None) -> CharacterState:
        """Start an episode: the character in the reference's pose and velocity at clip time ``time`` (s; None: a
        random time), of ``skill`` (None: a skill drawn by the clips' weights). ``seed`` (an int >= 0) makes the
        random choices repeat; None draws fresh ones."""
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"seed must be a whole number >= 0 or None, got {seed!r}")
        options: dict[str, Any] = {}
        if skill is not None:
            options["clip"] = self.skill_index(skill)
        if time is not None:
            try:
                t = float(time)
            except (TypeError, ValueError):
                raise ValueError(f"time must be a number of seconds >= 0 or None, got {time!r}") from None
            if not (np.isfinite(t) and t >= 0):
                raise ValueError(f"time must be a number of seconds >= 0 or None, got {time!r}")
            options["time"] = t
        self._end_push()
        obs, _ = self.env.reset(seed=None if seed is None else int(seed), options=options)
        self._rng = np.random.default_rng(None if seed is None else [int(seed), 1])  # the pushes' random directions
        self._obs, self._steps, self._ended = obs, 0, False
        return self._state(None, False, False)

    def step(self, command: Command | Mapping[str, Any] | None = None) -> CharacterState:
        """Apply ``command`` (a :class:`Command` or a dict of its fields; None: carry on), then act for one step
        (1/30 s) with the deterministic policy."""
        self._running()
        cmd = self.command(command)
        u = self._u
        if self.goal is not None and self._goal_command(cmd):
            self._obs = u.observation().astype(self._obs.dtype, copy=False)
        if cmd.skill is not None:
            clip = self.skill_index(cmd.skill)
            if clip != u.clip_index:  # as evaluate's clip sequence: switch, then observe the new reference
                u.switch_clip(clip)
                self._obs = u.observation().astype(self._obs.dtype, copy=False)
        if self._push_left > 0:
            apply_force(self.env, self._push_body, self._push)
            self._push_left -= 1
            self._pushed = True
        elif self._pushed:
            self._end_push()
        action = self._policy.act(self._obs[None], True)[0][0]
        obs, reward, terminated, truncated, _ = self.env.step(action)
        self._obs = obs
        self._steps += 1
        self._ended = bool(terminated or truncated)
        if self._ended:
            self._end_push()
        return self._state(float(reward), bool(terminated), self._ended)

    def push(self, force: float, direction: float | Sequence[float] | None = None,
             seconds: float = PUSH_SECONDS) -> np.ndarray:
        """Push the character's chest (a character without one: its root) horizontally with ``force`` newtons for
        the next ``seconds`` (rounded to whole steps, at least one), as ``evaluate --push`` does. ``direction``:
        an angle (rad) from the world's x axis, or a vector (x, y[, z]) whose horizontal part gives it; None: a
        random direction (repeatable with reset's seed). A push replaces one still in progress. Returns the
        force vector (3,)."""
        self._running()
        f = check_force(force)
        try:
            s = float(seconds)
        except (TypeError, ValueError):
            s = float("nan")
        if not (np.isfinite(s) and s > 0):
            raise ValueError(f"push seconds must be a number > 0, got {seconds!r}")
        if self._push_body is None:
            self._push_body = push_body(self.env)
        self._push = horizontal_force(f, self._angle(direction))
        self._push_left = max(1, int(round(s / self.dt)))
        return self._push.copy()

    # ------------------------------------------------------------------ questions
    def skill_index(self, skill: str) -> int:
        """The index in the policy's clips of a skill given by name (``run``), clip file name or stem."""
        if not isinstance(skill, str):
            raise TypeError(f"a skill is a name (str), one of {', '.join(self.skills)}; got {skill!r}")
        if skill in self.skills:
            return self.skills.index(skill)
        try:
            return self._u.clip_index_of(skill)
        except ValueError:
            raise ValueError(f"unknown skill {skill!r}: this policy's skills are {', '.join(self.skills)}") from None

    def command(self, command: Command | Mapping[str, Any] | None) -> Command:
        """``command`` as a :class:`Command`; keys this controller does not take are a ValueError."""
        if command is None:
            return Command()
        if isinstance(command, Command):
            return command
        if not isinstance(command, Mapping):
            raise TypeError(f"a command is a dict (keys: {', '.join(self.commands)}), a Command or None; got "
                            f"{type(command).__name__}")
        unknown = [k for k in command if k not in self.commands]
        if unknown:
            raise ValueError(f"unknown command key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}: "
                             f"this policy takes {', '.join(self.commands)}")
        return Command(**command)

    def _goal_command(self, cmd: Command) -> bool:
        """Hand a goal command to the scene's goal; whether there was one."""
        goal = self._u.core.scene.goal
        if self.goal == "heading" and (cmd.heading is not None or cmd.speed is not None):
            goal.command(0, heading=cmd.heading, speed=cmd.speed)
            return True
        if cmd.target is not None:
            t = [float(v) for v in cmd.target]
            if len(t) not in ((2,) if self.goal == "target" else (2, 3)):
                raise ValueError(f"a {self.goal} target is (x, y){' or (x, y, z)' if self.goal == 'strike' else ''} "
                                 f"metres, got {cmd.target!r}")
            goal.command(0, **dict(zip(("x", "y", "z"), t)))
            return True
        return False

    @property
    def skill(self) -> str:
        """The skill imitated now."""
        return self.skills[self._u.clip_index]

    def reference_qpos(self) -> np.ndarray:
        """The reference pose (nq,) now, where the reward measures it (for a ghost)."""
        return self._u.reference_qpos()

    @property
    def speeds(self) -> tuple[float, float] | None:
        """A heading policy's range of speeds (m/s) a command may ask (the motion set's); None otherwise."""
        return tuple(self._u.core.scene.goal.speeds) if self.goal == "heading" else None

    def goal_now(self) -> dict[str, Any]:
        """A goal policy's goal now, as its commands name it (``heading`` rad, ``speed`` m/s; ``target``
        metres, world frame); {} for a tracking policy."""
        if self.goal in ("heading",):
            g = self._u.core.scene.goal
            return {"heading": float(g.target[0]), "speed": float(g.speed[0])}
        if self.goal in ("target", "strike"):
            return {"target": tuple(float(v) for v in self._u.core.scene.goal.target[0])}
        return {}

    def goal_markers(self) -> list[tuple]:
        """What to draw of the goal now (world frame): ``("arrow", start, end, rgba)`` (a heading and speed) or
        ``("sphere", centre, radius, rgba)`` (a target), as the videos draw them; [] for a tracking policy."""
        scene = self._u.core.scene
        if scene is None:
            return []
        return scene.goal.markers(0, scene.kinematics(self._u.core.physics.state))

    def close(self) -> None:
        self.env.close()

    def __enter__(self) -> "Controller":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ inside
    def _running(self) -> None:
        if self._obs is None:
            raise RuntimeError("call reset() before step() or push()")
        if self._ended:
            raise RuntimeError(f"the episode ended at step {self._steps}; call reset() to start another")

    def _angle(self, direction: float | Sequence[float] | None) -> float:
        if direction is None:
            return float(self._rng.uniform(0.0, 2.0 * np.pi))
        try:
            d = np.asarray(direction, dtype=np.float64)
        except (TypeError, ValueError):
            d = np.array(np.nan)
        if d.ndim == 0 and np.isfinite(d):
            return float(d)
        if d.ndim == 1 and len(d) in (2, 3) and np.all(np.isfinite(d)) and np.hypot(d[0], d[1]) > 0:
            return float(np.arctan2(d[1], d[0]))
        raise ValueError(f"push direction must be an angle (rad), a vector (x, y[, z]) with a horizontal part, or "
                         f"None; got {direction!r}")

    def _end_push(self) -> None:
        if self._pushed:
            apply_force(self.env, self._push_body, np.zeros(3))
        self._push_left, self._pushed = 0, False

    def _state(self, reward: float | None, fell: bool, ended: bool) -> CharacterState:
        u = self._u
        d = u.data
        return CharacterState(qpos=d.qpos.copy(), qvel=d.qvel.copy(), body_pos=d.xpos[self._bodies].copy(),
                              body_quat=d.xquat[self._bodies].copy(), time=self._steps * self.dt,
                              clip_time=u.time, skill=self.skills[u.clip_index], step=self._steps, reward=reward,
                              fell=fell, ended=ended)
