"""Policy-optimisation algorithms."""
