"""`trpo-mimic view POLICY`: a trained character live in the browser, with its reference as a ghost and controls.

Built on viser (the optional extra ``trpo-mimic[viewer]``): it serves a three.js scene and a GUI panel over a
websocket from Python, so a remote machine needs no display and the browser nothing installed. A
:class:`~.controller.Controller` drives the character; a thread steps it at real time times the playback speed
and moves the scene's nodes (one frame per body, the body's geoms as meshes inside it, shaped from the MuJoCo
model's geom types and sizes); the ghost is the same shapes posed by ``Controller.reference_qpos()`` through
``mj_kinematics`` on a second MjData. The GUI's callbacks only leave requests (a skill, a push, a reset) for that
thread, which alone touches the simulation.
"""
from __future__ import annotations

import contextlib
import io
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .shapes import geom_shape
from .viewer_goals import GoalMarkers, add_goal_controls

VIEWER_EXTRA = "pip install 'trpo-mimic[viewer]'"

CHARACTER_RGB = (235, 130, 50)
GHOST_RGB = (70, 140, 255)
GHOST_OPACITY = 0.3
PUSH_FORCE = (0.0, 600.0, 150.0)
"""The push slider: least, most and first force (N)."""
SPEED = (0.1, 4.0, 1.0)
"""The playback speed slider: least, most and first (times real time)."""
FALLEN_SECONDS = 1.0
"""A character that fell lies this long (real time) before a new episode starts."""
TICK = 1.0 / 60.0
MAX_STEPS_PER_TICK = 8
"""Steps one tick may take to catch up; a slower machine then plays slower than asked, not in bursts."""


class ViewerUnavailable(Exception):
    """viser is not installed: the message says how to install it (exit code 2)."""


def import_viser() -> Any:
    try:
        import viser
    except ImportError:
        raise ViewerUnavailable(f"trpo-mimic view needs viser, an optional extra: {VIEWER_EXTRA}") from None
    return viser


@dataclass
class Requests:
    """What the GUI asked for since the simulation thread last looked (under ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    skill: str | None = None
    push: float | None = None
    reset: bool = False
    goal: dict[str, Any] | None = None  # a goal policy's command (heading and speed, or a target)

    def take(self) -> tuple[str | None, float | None, bool, dict[str, Any] | None]:
        with self.lock:
            out = (self.skill, self.push, self.reset, self.goal)
            self.skill, self.push, self.reset, self.goal = None, None, False, None
        return out


def check_host(host: str) -> None:
    """A host this machine can serve on (viser would otherwise try 1000 ports on it and wait for ever); else a
    ValueError that names it."""
    import socket
    try:
        family, _, _, _, address = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind(address)
    except (OSError, UnicodeError) as exc:
        raise ValueError(f"--host {host}: cannot serve there ({getattr(exc, 'strerror', None) or exc})") from None


# ---------------------------------------------------------------------------------------------- viewer
class Viewer:
    """A :class:`~.controller.Controller`'s character served to browsers at ``http://host:port`` (port 0: a
    free one; a port in use: viser takes the next free one, :attr:`port` says which).

    Attributes a program (or a test) may read: ``controller``, ``server`` (the ``viser.ViserServer``), ``gui``
    (the GUI handles by name: push, force, pause, speed, follow, reset, status; a tracking policy's skill and
    ghost; a heading policy's heading and goal_speed; a target or strike policy's target_x, target_y and go),
    ``state`` (the latest :class:`~.controller.CharacterState`), ``falls``, ``episodes`` and ``connections``
    (clients that have connected so far). A goal policy has no reference to draw: its goal is drawn instead (an
    arrow of the heading and speed, a sphere at the target), as in its videos."""

    def __init__(self, policy: str | Path, host: str = "127.0.0.1", port: int = 8080, skill: str | None = None,
                 seed: int | None = None, device: str = "cpu"):
        viser = import_viser()
        check_host(host)
        import mujoco
        from .controller import Controller
        self.controller = c = Controller(policy, device=device)
        self.server: Any = None
        self._closed = False
        try:
            self.state = c.reset(seed=seed, skill=skill)  # an unknown skill: a ValueError before anything is served
            self.falls, self.episodes, self.connections = 0, 1, 0
            u = c.env.unwrapped
            self._model = u.model
            self._ghost = mujoco.MjData(u.model)
            self._mujoco = mujoco
            with contextlib.redirect_stdout(io.StringIO()):  # viser's banner; the CLI says where it serves
                self.server = viser.ViserServer(host=host, port=int(port), label="trpo-mimic", verbose=False)
            self.host, self.port = host, int(self.server.get_port())
            self.requests = Requests()
            self._stop = threading.Event()
            self._error: BaseException | None = None
            self._thread: threading.Thread | None = None
            self._fell_at: float | None = None
            self._status_at = 0.0
            self._paused = False
            self._steering: dict[str, Any] | None = None  # the GUI's last goal command, sent again after a reset
            self._goal_markers = GoalMarkers(self.server.scene)
            self._build_scene()
            self._build_gui()
            self.draw()
        except BaseException:
            self.close()
            raise

        @self.server.on_client_connect
        def _(client: Any) -> None:
            self.connections += 1

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # ------------------------------------------------------------------ scene
    def _build_scene(self) -> None:
        m, scene = self._model, self.server.scene
        scene.set_up_direction("+z")
        # no environment map (its image lighting is slow to set up in a browser without a GPU): lights instead
        scene.configure_environment_map(None)
        scene.add_light_hemisphere("/sky", sky_color=(255, 255, 255), ground_color=(120, 110, 100), intensity=1.6)
        self.server.initial_camera.position = (0.9, -2.5, 1.3)
        self.server.initial_camera.look_at = (0.0, 0.0, 0.8)
        # /world holds everything; following the character moves /world under the camera (so a user's own orbit
        # of the camera is never fought over), and the ground moves along in whole metres so it never runs out
        self._world = scene.add_frame("/world", show_axes=False)
        self._ground = scene.add_grid("/world/ground", width=60.0, height=60.0, cell_size=0.5, section_size=1.0,
                                      plane_color=(225, 225, 225), plane_opacity=1.0, shadow_opacity=0.2,
                                      cell_color=(200, 200, 200), section_color=(160, 160, 160))
        bodies = [int(m.body(n).id) for n in self.controller.body_names]
        tracking = self.controller.goal is None  # a goal policy tracks no clip: no ghost
        self._bodies: list[int] = []  # bodies with geoms (besides the world's)
        self._rows: list[int | None] = []  # each one's row in CharacterState.body_pos (None: read from the data)
        self.character: dict[str, Any] = {}
        self.ghost: dict[str, Any] = {}
        for g in range(m.ngeom):
            shape = geom_shape(m, g)
            b = int(m.geom_bodyid[g])
            if shape is None or m.geom_rgba[g][3] == 0:
                continue
            v, f = shape
            local = dict(position=np.array(m.geom_pos[g]), wxyz=np.array(m.geom_quat[g]))
            if b == 0:  # a static geom of the world: drawn once where it is
                d = self.controller.env.unwrapped.data
                q = np.empty(4)
                self._mujoco.mju_mat2Quat(q, d.geom_xmat[g])
                scene.add_mesh_simple(f"/world/static/{g}", v, f, color=(170, 170, 170), position=d.geom_xpos[g],
                                      wxyz=q)
                continue
            if b not in self._bodies:
                self._bodies.append(b)
                self._rows.append(bodies.index(b) if b in bodies else None)
                name = m.body(b).name or f"body{b}"
                self.character[name] = scene.add_frame(f"/world/character/{name}", show_axes=False)
                if tracking:
                    self.ghost[name] = scene.add_frame(f"/world/ghost/{name}", show_axes=False)
            name = m.body(b).name or f"body{b}"
            scene.add_mesh_simple(f"/world/character/{name}/geom{g}", v, f, color=CHARACTER_RGB, **local)
            if tracking:
                scene.add_mesh_simple(f"/world/ghost/{name}/geom{g}", v, f, color=GHOST_RGB, opacity=GHOST_OPACITY,
                                      cast_shadow=False, receive_shadow=False, **local)

    def _build_gui(self) -> None:
        gui, c = self.server.gui, self.controller
        gui.configure_theme(control_width="medium")
        h: dict[str, Any] = {}
        h["status"] = gui.add_markdown(self._status_text())
        if "skill" in c.commands:
            h["skill"] = gui.add_dropdown("skill", options=list(c.skills), initial_value=self.state.skill,
                                          hint="the clip the character imitates")
        add_goal_controls(self.server.gui, self.controller, self.requests, h)
        h["force"] = gui.add_slider("push force (N)", min=PUSH_FORCE[0], max=PUSH_FORCE[1], step=10.0,
                                    initial_value=PUSH_FORCE[2])
        h["push"] = gui.add_button("push", hint="push the chest for 0.2 s, in a random horizontal direction")
        h["speed"] = gui.add_slider("playback speed", min=SPEED[0], max=SPEED[1], step=0.1, initial_value=SPEED[2])
        h["pause"] = gui.add_checkbox("pause", initial_value=False)
        h["follow"] = gui.add_checkbox("camera follow", initial_value=True)
        if self.ghost:
            h["ghost"] = gui.add_checkbox("ghost (reference)", initial_value=True)
        h["reset"] = gui.add_button("reset", hint="a new episode" + (" of the chosen skill" if "skill" in h else ""))
        self.gui = h
        r = self.requests

        if "skill" in h:
            @h["skill"].on_update
            def _(_: Any) -> None:
                with r.lock:
                    r.skill = str(h["skill"].value)

        @h["push"].on_click
        def _(_: Any) -> None:
            with r.lock:
                r.push = float(h["force"].value)

        @h["reset"].on_click
        def _(_: Any) -> None:
            with r.lock:
                r.reset = True

        if "ghost" in h:
            @h["ghost"].on_update
            def _(_: Any) -> None:
                for frame in self.ghost.values():
                    frame.visible = bool(h["ghost"].value)

    def _status_text(self) -> str:
        s, c = self.state, self.controller
        reward = "-" if s.reward is None else f"{s.reward:.2f}"
        note = " · **fell**" if s.fell else " · paused" if self.gui_value("pause", False) else ""
        what = f"**{s.skill}**"
        goal = c.goal_now()
        if "heading" in goal:
            what = f"**heading** {np.degrees(goal['heading']):.0f} deg at {goal['speed']:.1f} m/s"
        elif "target" in goal:
            what = f"**{c.goal}** at ({goal['target'][0]:.1f}, {goal['target'][1]:.1f}) m"
        return (f"{what} · {s.time:5.1f} s · reward {reward}{note}  \n"
                f"episode {self.episodes} · falls {self.falls}")

    def draw(self) -> None:
        """Move the character's and the ghost's bodies to the latest state (and /world under the camera)."""
        s, d, u = self.state, self._ghost, self.controller.env.unwrapped
        if self.ghost:
            d.qpos[:] = self.controller.reference_qpos()
            self._mujoco.mj_kinematics(self._model, d)
        root = s.body_pos[0]
        with self.server.atomic():
            for frame, b, row in zip(self.character.values(), self._bodies, self._rows):
                frame.position = s.body_pos[row] if row is not None else u.data.xpos[b].copy()
                frame.wxyz = s.body_quat[row] if row is not None else u.data.xquat[b].copy()
            for ghost, b in zip(self.ghost.values(), self._bodies):
                ghost.position, ghost.wxyz = d.xpos[b].copy(), d.xquat[b].copy()
            self._goal_markers.draw(self.controller.goal_markers())
            if self.gui_value("follow", True):
                self._world.position = (-root[0], -root[1], 0.0)
            self._ground.position = (float(np.round(root[0])), float(np.round(root[1])), 0.0)
        now = time.monotonic()
        if now - self._status_at > 0.2 and hasattr(self, "gui"):
            self._status_at = now
            self.gui["status"].content = self._status_text()

    def gui_value(self, name: str, default: Any) -> Any:
        h = getattr(self, "gui", {}).get(name)
        return default if h is None else h.value

    # ------------------------------------------------------------------ simulation
    def tick(self, elapsed: float, debt: float) -> float:
        """One pass of the loop: apply the GUI's requests, step as many times as ``elapsed`` real seconds times
        the speed (plus ``debt``, the simulated time still owed) allow, draw. Returns the time still owed."""
        c = self.controller
        skill, push, reset, goal = self.requests.take()
        if goal is not None:
            self._steering = goal
        changed = False
        if skill is not None and skill != self.state.skill and self.state.ended:
            reset = True  # a fallen character starts again in the skill asked for
        if reset or (self.state.ended and self._fell_at is not None
                     and time.monotonic() - self._fell_at >= FALLEN_SECONDS):
            self.state = c.reset(seed=None, skill=self.gui_value("skill", None))
            self.episodes += 1
            self._fell_at, debt, changed = None, 0.0, True
            skill, goal = None, self._steering  # the goal steered to holds in the new episode
        if push is not None and not self.state.ended:
            c.push(push)
        paused = bool(self.gui["pause"].value)
        if paused != self._paused:
            self._paused, changed, self._status_at = paused, True, 0.0
        if not paused and not self.state.ended:
            debt += elapsed * float(self.gui["speed"].value)
        steps = 0
        while debt >= c.dt and not self.state.ended and steps < MAX_STEPS_PER_TICK:
            command = {**({"skill": skill} if skill is not None else {}), **(goal or {})}
            self.state = c.step(command or None)
            skill, goal = None, None
            debt -= c.dt
            steps += 1
            if self.state.ended:
                self.falls += int(self.state.fell)
                self._fell_at = time.monotonic()
        if steps == MAX_STEPS_PER_TICK or self.state.ended:
            debt = min(debt, c.dt)
        if skill is not None or goal is not None:  # asked while paused: kept for the next step
            with self.requests.lock:
                self.requests.skill = self.requests.skill or skill
                self.requests.goal = self.requests.goal or goal
        if steps or changed:
            self.draw()
        return debt

    def _loop(self) -> None:
        last, debt = time.monotonic(), 0.0
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                debt = self.tick(now - last, debt)
                last = now
                self._stop.wait(max(0.0, TICK - (time.monotonic() - now)))
        except BaseException as exc:  # said by serve(), in the main thread
            self._error = exc
            self._stop.set()

    def start(self) -> "Viewer":
        """Step the character in a thread (until :meth:`close`)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="trpo-mimic-view", daemon=True)
            self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> None:
        """Block until the loop stops (an error in it is raised here) or ``timeout`` seconds pass."""
        end = None if timeout is None else time.monotonic() + timeout
        while not self._stop.wait(0.25):
            if end is not None and time.monotonic() >= end:
                return
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Stop the loop and the server, and close the controller (once; later calls do nothing)."""
        if self._closed:
            return
        self._closed = True
        stop, thread = getattr(self, "_stop", None), getattr(self, "_thread", None)
        if stop is not None:
            stop.set()
        if thread is not None and thread.ident is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)  # (a thread whose start a Ctrl-C cut short has no ident and nothing to join)
        try:
            if self.server is not None:
                with contextlib.redirect_stdout(io.StringIO()):  # viser says "Server stopped": the CLI says it
                    self.server.stop()
        finally:
            self.controller.close()

    def __enter__(self) -> "Viewer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def view(policy: str, host: str = "127.0.0.1", port: int = 8080, skill: str | None = None,
         seed: int | None = None) -> None:
    """``trpo-mimic view``: serve until Ctrl-C (a KeyboardInterrupt, raised to the caller once all is closed)."""
    import_viser()  # before the policy is loaded: a missing extra is said at once
    with Viewer(policy, host=host, port=port, skill=skill, seed=seed) as v:
        c = v.controller
        v.start()  # stepping before the address is said: a Ctrl-C from then on finds everything started
        taken = f" (port {port} was taken)" if port and v.port != port else ""
        print(f"trpo-mimic view: {policy} ({', '.join(c.skills)}) at {v.url}{taken} (Ctrl-C to stop)", flush=True)
        v.wait()
