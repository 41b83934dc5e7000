"""trpo-mimic: trust-region reinforcement learning and DeepMimic-style motion imitation in PyTorch."""
__version__ = "0.1.0"
