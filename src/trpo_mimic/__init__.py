"""trpo-mimic: trust-region reinforcement learning and DeepMimic-style motion imitation in PyTorch."""
__version__ = "0.1.0"

from .registration import register_envs as _register_envs

_register_envs()  # the Gymnasium ids, as Gymnasium packages do on import (no MuJoCo or torch imported)

_LAZY = ("Controller", "Command", "CharacterState")
"""Names of the package loaded on first use (``trpo_mimic.Controller``), so that ``import trpo_mimic`` stays light."""


def __getattr__(name: str):
    if name in _LAZY:
        from . import controller
        return getattr(controller, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
