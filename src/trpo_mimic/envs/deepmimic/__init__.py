"""DeepMimic-style humanoid imitation on MuJoCo: clips, reward, environment, registration.

Environment ids (registered by :func:`register_envs`, episode limit
``DEFAULT_MAX_EPISODE_STEPS`` = 300 steps = 10 s at 30 Hz, a truncation):

* ``DeepMimic-v0``: any clip, ``gymnasium.make("DeepMimic-v0", motion_file=...)``;
  ``motion_file`` may be a DeepMimic clip file or ``"builtin:walk"``.
* ``DeepMimicWalk-v0``, ``DeepMimicRun-v0``, ``DeepMimicJump-v0``,
  ``DeepMimicBackflip-v0``: the DeepMimic clips ``humanoid3d_<skill>.txt``, looked up
  in ``motion_file``, then ``motion_dir``, then ``$TRPO_MIMIC_MOTION_DIR``, then
  ``../shared/motions`` from the working directory.
* ``DeepMimicBuiltinWalk-v0``: the project's own generated walk (``builtin:walk``),
  needs no file.
"""

from __future__ import annotations

import gymnasium as gym

from .clip import MotionClip, load_motion
from .clipfile import MotionError, MotionNotFoundError, MotionWarning
from .env import DeepMimicEnv

DEFAULT_MAX_EPISODE_STEPS = 300
ENTRY_POINT = "trpo_mimic.envs.deepmimic.env:DeepMimicEnv"
SHORTCUTS = {
    "DeepMimicWalk-v0": "humanoid3d_walk.txt",
    "DeepMimicRun-v0": "humanoid3d_run.txt",
    "DeepMimicJump-v0": "humanoid3d_jump.txt",
    "DeepMimicBackflip-v0": "humanoid3d_backflip.txt",
}
ENV_IDS = ("DeepMimic-v0", *SHORTCUTS, "DeepMimicBuiltinWalk-v0")

__all__ = ["DeepMimicEnv", "MotionClip", "MotionError", "MotionNotFoundError", "MotionWarning",
           "load_motion", "register_envs", "ENV_IDS", "DEFAULT_MAX_EPISODE_STEPS"]


def register_envs() -> None:
    """Register the DeepMimic ids with gymnasium (safe to call more than once)."""
    registry = gym.envs.registration.registry

    def reg(env_id: str, **kwargs) -> None:
        if env_id not in registry:
            gym.register(id=env_id, entry_point=ENTRY_POINT,
                         max_episode_steps=DEFAULT_MAX_EPISODE_STEPS, kwargs=kwargs)

    reg("DeepMimic-v0")
    for env_id, clip in SHORTCUTS.items():
        reg(env_id, clip_name=clip)
    reg("DeepMimicBuiltinWalk-v0", motion_file="builtin:walk")
