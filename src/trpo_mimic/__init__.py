"""trpo-mimic: trust-region reinforcement learning and DeepMimic-style motion imitation in PyTorch.

This file puts the package together: the engine (everything but :mod:`.mimic`) knows no task; the imitation
domain (:mod:`.mimic`) plugs in here, through its one :class:`.tasks.Task` and its Gymnasium ids, before anything
else is imported (its options become fields of :class:`.config.Config`). Nothing heavy is imported (no MuJoCo,
no torch)."""
__version__ = "0.1.0"

from .mimic import plug_in as _plug_in_mimic

_plug_in_mimic()

_LAZY = ("Controller", "Command", "CharacterState")
"""Names of the package loaded on first use (``trpo_mimic.Controller``), so that ``import trpo_mimic`` stays light."""


def __getattr__(name: str):
    if name in _LAZY:
        from .mimic import controller
        return getattr(controller, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
