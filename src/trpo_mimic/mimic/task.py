"""The DeepMimic task as the engine sees it: one :class:`.tasks.Task` (its options, its native vector env, its
evaluation extras, its checkpoint upgrade, its metric names, its sub-commands). Registered where the package is
put together (``trpo_mimic/__init__.py``); light to import (no MuJoCo, no torch: each method imports what it
uses)."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

from ..options import env_kwargs
from ..tasks import Command, Task
from .options import OPTION, OPTIONS
from .registration import DEFAULT_MAX_EPISODE_STEPS, is_deepmimic


class DeepMimicTask(Task):
    """Motion imitation: the ``DeepMimic*`` ids (:mod:`.registration`)."""

    name = "DeepMimic"
    metric_prefix = "DeepMimic"
    per_step_curve = True
    default_episode_steps = DEFAULT_MAX_EPISODE_STEPS
    has_vector_env = True
    options = OPTIONS

    def owns(self, env_id: str) -> bool:
        return is_deepmimic(env_id)

    # ---- environments
    def env_kwargs(self, cfg: Any, training: bool) -> dict[str, Any]:
        """The options ``cfg`` sets, and the mode (evaluation switches the training-only options off; a clip
        sequence, which says when to switch, replaces the random switches of ``switch_interval``)."""
        kwargs = {**env_kwargs(OPTIONS, cfg), "mode": "train" if training else "eval"}
        if not training and getattr(cfg, "clip_sequence", None):
            kwargs["switch_interval"] = None
        return kwargs

    def vector_env(self, env_id: str, num_envs: int, max_episode_steps: int | None, nthread: int | None,
                   **kwargs: Any) -> Any:
        import gymnasium as gym
        from .vector import DeepMimicVectorEnv
        spec = gym.spec(env_id)
        steps = max_episode_steps if max_episode_steps is not None else spec.max_episode_steps
        return DeepMimicVectorEnv(num_envs, max_episode_steps=steps, nthread=nthread, **{**spec.kwargs, **kwargs})

    def input_files(self, cfg: Any) -> list[tuple[str, Any]]:
        return [*(("--motion_file", f) for f in cfg.motion_file or []), ("--character_file", cfg.character_file),
                ("--controller_file", cfg.controller_file)]

    # ---- configurations and checkpoints
    def run_config(self, cfg: Any) -> Any:
        """A run records the PD law it trains under (a later change of the default must not change the run)."""
        if cfg.pd_clamp is None:
            cfg = dataclasses.replace(cfg, pd_clamp=OPTION["pd_clamp"].default)
        return cfg

    def upgrade_config(self, saved: dict[str, Any]) -> dict[str, Any]:
        """A run saved without its PD law (``pd_clamp`` unset: before the default became ``total``) was trained
        under ``split``."""
        return {**saved, "pd_clamp": "split"} if saved.get("pd_clamp") is None else saved

    def preset(self, env_id: str, algo: str) -> Path | None:
        """Every DeepMimic id trains with the one DeepMimic preset (a clip's rules come from its skill file), but
        the AMP scenes' ids (:data:`.registration.SCENE_IDS`), which train with the AMP preset."""
        from ..presets import AMP_PRESET, DEEPMIMIC_PRESET, PRESET_DIR
        from .registration import SCENE_IDS
        if algo != "trpo":
            return None
        return PRESET_DIR / (AMP_PRESET if env_id.split("/")[-1] in SCENE_IDS else DEEPMIMIC_PRESET)

    def extensions(self, cfg: Any, envs: Any, agent: Any) -> list:
        """``--amp``: adversarial motion priors on the motion set of the run's clips (:mod:`.amp_training`)."""
        if not cfg.amp:
            return []
        from .amp_training import amp_reward
        return [amp_reward(cfg, envs)]

    def episodes_end_early(self, cfg: Any) -> bool:
        """Where no contact ends an episode (``--no-early_termination``: the getups, the roll) none ends early."""
        return cfg.early_termination is not False

    # ---- evaluation
    def episode_limit(self, cfg: Any) -> int | None:
        if cfg.clip_sequence:
            from .sequence import sequence_steps
            return sequence_steps(len(cfg.clip_sequence), cfg.switch_seconds)
        return cfg.max_episode_steps

    def plays_one_env(self, cfg: Any, opts: dict[str, Any]) -> bool:
        return float(opts.get("push") or 0.0) > 0 or bool(cfg.clip_sequence) or bool(cfg.commands)

    def render_kwargs(self, cfg: Any) -> dict[str, Any]:
        return {"render_reference": cfg.reference}

    def wrap_eval_env(self, env: Any, cfg: Any, opts: dict[str, Any]) -> Any:
        """A clip sequence (``--clip_sequence``), then pushes (``--push``)."""
        if cfg.clip_sequence:
            from .sequence import ClipSequence
            env = ClipSequence(env, cfg.clip_sequence, cfg.switch_seconds)
        if cfg.commands:
            from .goal_script import GoalScript, read_commands
            scene = env.unwrapped.core.scene
            env = GoalScript(env, read_commands(cfg.commands, scene.name if scene is not None else "imitate"))
        push = float(opts.get("push") or 0.0)
        if push > 0:
            from .push import Pushes
            env = Pushes(env, push)
        return env

    def tally_clips(self, env: Any) -> Sequence[Any]:
        return getattr(getattr(env, "unwrapped", env), "clips", ()) or getattr(env, "clips", ())

    def result_lines(self, result: Any) -> list[str] | None:
        from .evaluation import result_lines
        return result_lines(result)

    def evaluate(self, agent: Any, cfg: Any, opts: dict[str, Any], path: Any) -> Any:
        if not opts.get("push_sweep"):
            return None
        from .evaluation import push_sweep
        return push_sweep(agent, cfg, int(opts.get("num_eval_episodes", 10)), int(opts.get("seed", cfg.seed)),
                          not opts.get("stochastic_policy", False), path)

    def before_evaluation(self, ckpt: dict[str, Any], cfg: Any, opts: dict[str, Any]) -> list[str]:
        from .pretrained import clip_mismatch
        return clip_mismatch(ckpt, cfg)  # the card's clip is not the one found now

    def evaluation_header(self, opts: dict[str, Any]) -> list[str]:
        push = float(opts.get("push") or 0.0)
        return [f"pushes: {push:g} N on the chest for 0.2 s, a random horizontal direction, every 1.5-2.5 s"] \
            if push > 0 else []

    def live_viewer_extra(self, env: Any) -> Any:
        from .evaluation import ghost_drawer
        return ghost_drawer(env)

    # ---- the command line
    def commands(self) -> list[Command]:
        from .commands import COMMANDS
        return list(COMMANDS)
