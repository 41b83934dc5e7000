"""Rollout storage, collection and advantage estimation."""
from ..envs.wrappers import NonFiniteError
from .collect import Rollout, RolloutCollector
from .gae import compute_gae

__all__ = ["NonFiniteError", "Rollout", "RolloutCollector", "compute_gae"]
