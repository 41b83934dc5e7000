"""Reward sources beside an environment's own reward (adversarial motion priors: :mod:`.amp`)."""
