"""Adversarial motion priors for a DeepMimic run (``--amp``): the generic discriminator and training extension
(:mod:`trpo_mimic.rewards.amp`) fed with this domain's transition observations (:mod:`.amp_obs`) and the motion
set of the run's clips (drawn by their weights)."""
from __future__ import annotations

from typing import Any

from .. import distributed as D
from ..rewards.amp import AMP, AMPReward, AMPSettings
from .amp_obs import AMPObservation, ExpertTransitions
from .options import OPTION

GOAL_TASK_LERP = 0.5
"""The task reward's share in a goal scene unless ``--amp_task_lerp`` says otherwise (the release's
``TaskRewardLerp``); 0 elsewhere (imitation by the style reward alone, or mixed with DeepMimic's tracking reward
only when asked)."""


def amp_reward(cfg: Any, envs: Any) -> AMPReward:
    """The training extension of a run's configuration, on its native vector env."""
    core = getattr(envs, "core", None)
    if core is None:
        raise ValueError("--amp needs the native DeepMimic vector env (--vec_env native or auto), which computes "
                         "the discriminator's observations")
    if core.scene is None:
        raise ValueError("--amp needs one of the AMP scenes (--scene amp, heading, target or strike, or their ids "
                         "DeepMimicAMP-v0, ...): DeepMimic's clip tracking computes no transition observations")
    lerp = cfg.amp_task_lerp
    if lerp is None:
        lerp = GOAL_TASK_LERP if core.scene.goal.obs_dim else 0.0
    settings = AMPSettings(hidden=tuple(int(h) for h in cfg.amp_hidden) if cfg.amp_hidden else AMPSettings.hidden,
                           lr=cfg.amp_lr or OPTION["amp_lr"].default,
                           buffer_size=int(cfg.amp_buffer_size or OPTION["amp_buffer_size"].default),
                           task_lerp=float(lerp))
    obs = AMPObservation(core.layout)
    expert = ExpertTransitions(core.clips, core.clip_weights, obs)
    return AMPReward(AMP(obs.dim, expert, settings, seed=int(cfg.seed), stream=D.rank()))
