"""Policies, value functions and the observation normaliser."""
from .networks import Actor, Critic, NatureCNN, expand_hidden_sizes
from .normalizer import RunningNormalizer

__all__ = ["Actor", "Critic", "NatureCNN", "RunningNormalizer", "expand_hidden_sizes"]
