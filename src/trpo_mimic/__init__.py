"""trpo-mimic: trust-region reinforcement learning and DeepMimic-style motion imitation in PyTorch."""
__version__ = "0.1.0"

from .registration import register_envs as _register_envs

_register_envs()  # the Gymnasium ids, as Gymnasium packages do on import (no MuJoCo or torch imported)
