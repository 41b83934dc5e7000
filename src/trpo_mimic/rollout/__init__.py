"""Rollout storage, collection and advantage estimation."""
from .collect import NonFiniteError, Rollout, RolloutCollector
from .gae import compute_gae

__all__ = ["NonFiniteError", "Rollout", "RolloutCollector", "compute_gae"]
