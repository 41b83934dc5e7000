"""Policy-optimisation algorithms, each an object with the `base.Algorithm` surface."""
from __future__ import annotations

from typing import Any

from . import quick_optim  # noqa: F401 (before any optimiser: see its doc)
from .base import Algorithm, PolicyBatch
from .ppo import PPO, PPOSettings
from .trpo import TRPO, TRPOSettings

ALGORITHMS = {"trpo": TRPO, "ppo": PPO}


def make_algorithm(cfg: Any, agent: Any) -> Algorithm:
    """The algorithm `cfg.algo` names, its settings read from the config."""
    return ALGORITHMS[cfg.algo].from_config(cfg, agent)


__all__ = ["ALGORITHMS", "Algorithm", "PPO", "PPOSettings", "PolicyBatch", "TRPO", "TRPOSettings", "make_algorithm"]
