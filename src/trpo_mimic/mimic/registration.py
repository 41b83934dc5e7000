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
SCENE_IDS = {
    "DeepMimicAMP-v0": ("amp", "humanoid3d_locomotion.json"),
    "DeepMimicHeading-v0": ("heading", "humanoid3d_locomotion.json"),
    "DeepMimicTarget-v0": ("target", "humanoid3d_locomotion.json"),
    "DeepMimicStrike-v0": ("strike", "humanoid3d_walk_punch.json"),
}
"""DeepMimic's AMP scenes (:mod:`.scene`): the scene and its default motion set (``--motion_file`` replaces it)."""
SCENE_EPISODE_STEPS = 600
"""A scene's episode limit: 20 s at 30 Hz (DeepMimic's test episodes; ``--max_episode_steps`` for training's)."""
ENV_IDS = ("DeepMimic-v0", *SHORTCUTS, "DeepMimicBuiltinWalk-v0", *SCENE_IDS)
DEEPMIMIC_PREFIX = "DeepMimic"


def is_deepmimic(env_id: str) -> bool:
    """Whether ``env_id`` names one of the DeepMimic environments (``DeepMimic*``, with or without a namespace)."""
    return env_id.split("/")[-1].startswith(DEEPMIMIC_PREFIX)


def register_envs() -> None:
    """Register the DeepMimic ids with gymnasium (safe to call more than once)."""
    registry = gym.envs.registration.registry

    def reg(env_id: str, steps: int = DEFAULT_MAX_EPISODE_STEPS, **kwargs) -> None:
        if env_id not in registry:
            gym.register(id=env_id, entry_point=ENTRY_POINT, max_episode_steps=steps, kwargs=kwargs)

    reg("DeepMimic-v0")
    for env_id, clip in SHORTCUTS.items():
        reg(env_id, clip_name=clip)
    reg("DeepMimicBuiltinWalk-v0", motion_file="builtin:walk")
    for env_id, (scene, motion_set) in SCENE_IDS.items():
        reg(env_id, SCENE_EPISODE_STEPS, scene=scene, motion_file=motion_set)
