"""Showing an evaluation: the render mode an env needs (a window, a video), whether it takes a frame size, and
MuJoCo's own live viewer for envs without a window of their own (the task draws its extras into it)."""
from __future__ import annotations

import os
import sys
from typing import Any


class NoDisplayError(RuntimeError):
    """--render was asked for where no display exists."""


def takes_frame_size(env_id: str) -> bool:
    """Whether the environment's constructor takes ``width`` and ``height``: Gymnasium's MuJoCo envs (through
    their ``**kwargs``) and DeepMimic's do, the classic-control and Atari ones do not."""
    import inspect

    import gymnasium as gym

    from ..envs import is_atari
    if is_atari(env_id):
        return False
    entry = gym.spec(env_id).entry_point
    creator = gym.envs.registration.load_env_creator(entry) if isinstance(entry, str) else entry
    if isinstance(creator, type) and creator.__module__.startswith("gymnasium.envs.mujoco"):
        from gymnasium.envs.mujoco.mujoco_env import MujocoEnv
        return issubclass(creator, MujocoEnv)
    try:
        params = inspect.signature(creator).parameters
    except (TypeError, ValueError):
        return False
    return "width" in params and "height" in params


def render_mode_for(env_id: str, live: bool, video: bool) -> str | None:
    """"human" for a live window (checked for a display first), "rgb_array" for a video."""
    if live:
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise NoDisplayError("--render needs a display, and none is set (DISPLAY/WAYLAND_DISPLAY); "
                                 "use --record_video to write a video instead")
        import gymnasium as gym
        modes = gym.spec(env_id).entry_point
        env_cls = gym.envs.registration.load_env_creator(modes) if isinstance(modes, str) else None
        if env_cls is not None and "human" not in getattr(env_cls, "metadata", {}).get("render_modes", []):
            return None  # shown with MuJoCo's passive viewer instead (see LiveViewer)
        return "human"
    return "rgb_array" if video else None


class LiveViewer:
    """MuJoCo's own interactive viewer (pause, slow motion, drag-to-push built in) for environments without a
    "human" render mode (the DeepMimic humanoid): the camera follows the character (an env with an ``index``
    naming its root body), and ``extra`` (the task's :meth:`.tasks.Task.live_viewer_extra`, e.g. the reference's
    ghost) draws into each frame."""

    def __init__(self, env: Any, extra: Any = None) -> None:
        u = env.unwrapped
        if not (hasattr(u, "model") and hasattr(u, "data")):
            raise NoDisplayError(f"{env.spec.id if env.spec else env}: this environment cannot be shown live")
        import mujoco
        import mujoco.viewer
        self.env = u
        self.handle = mujoco.viewer.launch_passive(u.model, u.data)
        index = getattr(u, "index", None)
        if index is not None:  # follow the character
            self.handle.cam.type = mujoco.mjtCamera.mjCAMERA_TRACKING
            self.handle.cam.trackbodyid = index.root_body
            self.handle.cam.distance = 3.5
        self.extra = extra
        self.dt = 1.0 / (env.metadata.get("render_fps") or 30)

    def sync(self) -> None:
        import time
        if self.extra is not None:
            self.extra(self.handle)
        self.handle.sync()
        time.sleep(self.dt)

    def close(self) -> None:
        self.handle.close()
