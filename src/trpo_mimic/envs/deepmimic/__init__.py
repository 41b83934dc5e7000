"""DeepMimic-style humanoid imitation on MuJoCo: clips, reward, environment, registration.

Environment ids (registered when ``trpo_mimic`` is imported, :mod:`trpo_mimic.mimic.registration`; episode limit
``DEFAULT_MAX_EPISODE_STEPS`` = 300 steps = 10 s at 30 Hz, a truncation):

* ``DeepMimic-v0``: any clip, ``gymnasium.make("DeepMimic-v0", motion_file=...)``;
  ``motion_file`` may be a DeepMimic clip file or ``"builtin:walk"``.
* ``DeepMimicWalk-v0``, ``DeepMimicRun-v0``, ``DeepMimicJump-v0``,
  ``DeepMimicBackflip-v0``: the DeepMimic clips ``humanoid3d_<skill>.txt``, looked up
  in ``motion_file``, then ``motion_dir``, then ``$TRPO_MIMIC_MOTION_DIR``, then
  the package's data (``trpo_mimic/data/motions``).
* ``DeepMimicBuiltinWalk-v0``: the project's own generated walk (``builtin:walk``),
  needs no file.
"""

from __future__ import annotations

from ...mimic.registration import DEFAULT_MAX_EPISODE_STEPS, ENV_IDS, register_envs
from .clip import MotionClip, load_motion
from .clipfile import MotionError, MotionNotFoundError, MotionWarning
from .env import DeepMimicEnv

__all__ = ["DeepMimicEnv", "MotionClip", "MotionError", "MotionNotFoundError", "MotionWarning",
           "load_motion", "register_envs", "ENV_IDS", "DEFAULT_MAX_EPISODE_STEPS"]
