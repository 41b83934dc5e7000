"""A goal policy in the live viewer (:mod:`.viewer`): the GUI controls that steer it (a heading policy's heading and
speed, a target or strike policy's target), and its goal drawn in the scene as its videos draw it."""
from __future__ import annotations

from typing import Any

import numpy as np


def add_goal_controls(gui: Any, c: Any, r: Any, h: dict[str, Any]) -> None:
    """Into the GUI handles ``h``: a heading policy's heading and speed sliders (a change steers at once), a target
    or strike policy's target position and its button. Each leaves a goal command in the requests ``r`` (a
    :class:`.viewer.Requests`) for the simulation thread; a commanded goal holds (the scene's own changes stop)."""
    now = c.goal_now()
    if c.goal == "heading":
        lo, hi = np.ceil(c.speeds[0] * 10) / 10, np.floor(c.speeds[1] * 10) / 10  # within the set's, to 0.1 m/s
        if lo > hi:  # a range narrower than that: as it is
            lo, hi = c.speeds
        h["heading"] = gui.add_slider("heading (deg)", min=-180.0, max=180.0, step=5.0,
                                      initial_value=float(np.round(np.degrees(now["heading"]) / 5.0) * 5.0),
                                      hint="the direction to go, from the world's x axis")
        h["goal_speed"] = gui.add_slider("speed (m/s)", min=float(lo), max=float(hi), step=0.1,
                                         initial_value=float(np.clip(np.round(now["speed"], 1), lo, hi)))

        def steer(_: Any) -> None:
            with r.lock:
                r.goal = {"heading": float(np.radians(h["heading"].value)), "speed": float(h["goal_speed"].value)}
        h["heading"].on_update(steer)
        h["goal_speed"].on_update(steer)
    elif c.goal in ("target", "strike"):
        x, y = now["target"][:2]
        h["target_x"] = gui.add_number("target x (m)", initial_value=round(x, 1), step=0.1)
        h["target_y"] = gui.add_number("target y (m)", initial_value=round(y, 1), step=0.1)
        h["go"] = gui.add_button("strike there" if c.goal == "strike" else "go there",
                                 hint="the target at these world coordinates")

        @h["go"].on_click
        def _(_: Any) -> None:
            with r.lock:
                r.goal = {"target": (float(h["target_x"].value), float(h["target_y"].value))}


class GoalMarkers:
    """The goal's markers in a viser scene, under ``/world/goal``: an arrow (moved with the character, drawn again
    when the goal changes), a sphere (moved to the target, drawn again when its size or colour changes)."""

    def __init__(self, scene: Any):
        self.scene = scene
        self.shown: dict[str, tuple[Any, Any]] = {}  # marker name: (its handle, what it shows)

    def draw(self, markers: list[tuple]) -> None:
        """``markers``: :meth:`.controller.Controller.goal_markers`."""
        for k, marker in enumerate(markers):
            name = f"/world/goal/{k}"
            handle, shown = self.shown.get(name, (None, None))
            rgb = tuple(int(round(255 * v)) for v in marker[-1][:3])
            if marker[0] == "arrow":
                _, start, end, _ = marker
                vector = np.asarray(end, dtype=float) - start
                look = (tuple(np.round(vector, 4)), rgb)
                if look != shown:
                    if handle is not None:
                        handle.remove()
                    handle = self.scene.add_arrows(name, points=np.array([[np.zeros(3), vector]]), colors=rgb,
                                                   shaft_radius=0.03, head_radius=0.08, head_length=0.15)
                handle.position = tuple(np.asarray(start, dtype=float))
            else:
                _, centre, radius, _ = marker
                look = (float(radius), rgb)
                if look != shown:
                    if handle is not None:
                        handle.remove()
                    handle = self.scene.add_icosphere(name, radius=float(radius), color=rgb)
                handle.position = tuple(np.asarray(centre, dtype=float))
            self.shown[name] = (handle, look)
