"""The imitation domain: DeepMimic-style motion imitation on MuJoCo (clips, characters, the task core, rewards,
physics backends, drawing, pushes, clip sequences, BVH and character-file tools, the controller, the live viewer,
the shipped policies' cards). It plugs into the engine through one :class:`.task.DeepMimicTask`
(:func:`plug_in`), with its options declared once in :mod:`.options`.

Environment ids (registered when ``trpo_mimic`` is imported, :mod:`.registration`; episode limit
``DEFAULT_MAX_EPISODE_STEPS`` = 300 steps = 10 s at 30 Hz, a truncation):

* ``DeepMimic-v0``: any clip, ``gymnasium.make("DeepMimic-v0", motion_file=...)``;
  ``motion_file`` may be a DeepMimic clip file or ``"builtin:walk"``.
* ``DeepMimicWalk-v0``, ``DeepMimicRun-v0``, ``DeepMimicJump-v0``, ``DeepMimicBackflip-v0``: the DeepMimic clips
  ``humanoid3d_<skill>.txt``, looked up in ``motion_file``, then ``motion_dir``, then ``$TRPO_MIMIC_MOTION_DIR``,
  then the package's data (``trpo_mimic/data/motions``).
* ``DeepMimicBuiltinWalk-v0``: the project's own generated walk (``builtin:walk``), needs no file.
"""
from __future__ import annotations


def plug_in() -> None:
    """Register the DeepMimic task with the engine and its ids with Gymnasium (light: no MuJoCo, no torch)."""
    from ..tasks import register_task
    from .registration import register_envs
    from .task import DeepMimicTask
    register_task(DeepMimicTask())
    register_envs()


_LAZY = {"DeepMimicEnv": "env", "MotionClip": "clip", "load_motion": "clip", "MotionError": "clipfile",
         "MotionNotFoundError": "clipfile", "MotionWarning": "clipfile", "register_envs": "registration",
         "ENV_IDS": "registration", "DEFAULT_MAX_EPISODE_STEPS": "registration"}
"""The domain's public names, loaded on first use (``trpo_mimic.mimic.DeepMimicEnv``): importing the package
(which ``import trpo_mimic`` does) stays light."""
__all__ = [*_LAZY, "plug_in"]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
