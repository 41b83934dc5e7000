"""The Gymnasium ids this package provides, registered when ``trpo_mimic`` is imported (as Gymnasium
packages do), so that ``import trpo_mimic; gymnasium.make("DeepMimic-v0", motion_file=...)`` works.
Registering imports neither MuJoCo nor torch: the environment module is loaded when an env is made."""

from __future__ import annotations

import gymnasium as gym

DEFAULT_MAX_EPISODE_STEPS = 300
"""The DeepMimic ids' episode limit: 10 s at 30 Hz, a truncation."""
ENTRY_POINT = "trpo_mimic.mimic.env:DeepMimicEnv"
SHORTCUTS = {
    "DeepMimicWalk-v0": "humanoid3d_walk.txt",
    "DeepMimicRun-v0": "humanoid3d_run.txt",
    "DeepMimicJump-v0": "humanoid3d_jump.txt",
    "DeepMimicBackflip-v0": "humanoid3d_backflip.txt",
}
ENV_IDS = ("DeepMimic-v0", *SHORTCUTS, "DeepMimicBuiltinWalk-v0")
DEEPMIMIC_PREFIX = "DeepMimic"


def is_deepmimic(env_id: str) -> bool:
    """Whether ``env_id`` names one of the DeepMimic environments (``DeepMimic*``, with or without a namespace)."""
    return env_id.split("/")[-1].startswith(DEEPMIMIC_PREFIX)


def register_envs() -> None:
    """Register the DeepMimic ids with gymnasium (safe to call more than once)."""
    registry = gym.envs.registration.registry

    def reg(env_id: str, **kwargs) -> None:
        if env_id not in registry:
            gym.register(id=env_id, entry_point=ENTRY_POINT, max_episode_steps=DEFAULT_MAX_EPISODE_STEPS,
                         kwargs=kwargs)

    reg("DeepMimic-v0")
    for env_id, clip in SHORTCUTS.items():
        reg(env_id, clip_name=clip)
    reg("DeepMimicBuiltinWalk-v0", motion_file="builtin:walk")
