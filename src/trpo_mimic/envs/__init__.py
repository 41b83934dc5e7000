"""Environment construction: one `make_env` factory where the whole wrapper stack is visible."""
from __future__ import annotations

from typing import Any, Callable

import gymnasium as gym
from gymnasium.vector import AutoresetMode

from .atari import ATARI_DEFAULTS, AtariUnavailable, ale_installed, is_atari, looks_like_atari, register_atari_envs
from ..registration import is_deepmimic
from .wrappers import NonFiniteError, NonFiniteGuard

STEP_METRIC_PREFIXES = ("reward_", "error_")
"""Per-step info keys that training and evaluation average and log: reward terms (``reward_pose``,
``reward_forward``, ...) and errors (DeepMimic's ``error_body_pos`` in metres)."""


def is_step_metric(key: str) -> bool:
    return key.startswith(STEP_METRIC_PREFIXES)


class EnvError(ValueError):
    """An environment id or option that cannot be used."""


def _register_project_envs() -> None:
    from ..registration import register_envs  # the ids only: the DeepMimic modules load when an env is made
    register_envs()


def env_kwargs_from_config(cfg: Any, training: bool = True) -> dict[str, Any]:
    """Environment keyword arguments carried by a Config (DeepMimic options only for DeepMimic ids).

    training=False asks for the evaluation mode of the DeepMimic envs (training devices such as
    the drift bound off)."""
    kwargs: dict[str, Any] = {"nonfinite": cfg.nonfinite}
    dm_opts = {"motion_file": cfg.motion_file, "motion_dir": cfg.motion_dir, "obs_mode": cfg.obs_mode,
               "character_file": cfg.character_file, "controller_file": cfg.controller_file,
               "action_mode": cfg.action_mode, "residual_scale": cfg.residual_scale,
               "clip_id_obs": cfg.clip_id_obs or None, "max_root_drift": cfg.max_root_drift,
               "pd_feedforward": cfg.pd_feedforward, "pd_clamp": cfg.pd_clamp, "physics": cfg.physics,
               "ref_obs": cfg.ref_obs,
               "early_termination": cfg.early_termination, "fall_contact_bodies": cfg.fall_contact_bodies,
               "root_rot_fail": cfg.root_rot_fail, "pose_termination": cfg.pose_termination,
               "fail_weighted_rsi": cfg.fail_weighted_rsi, "sync_root": cfg.sync_root,
               "switch_interval": cfg.switch_interval}
    if is_deepmimic(cfg.env_id):
        kwargs.update({k: v for k, v in dm_opts.items() if v is not None})
        kwargs["mode"] = "train" if training else "eval"
    else:
        given = [k for k, v in dm_opts.items() if v is not None]
        if given:
            raise EnvError(f"--{given[0]} applies to DeepMimic environments only, not {cfg.env_id!r}")
    return kwargs


def check_env_id(env_id: str) -> None:
    """Raise EnvError with a one-line message if the id is not registered.

    Atari ids register ale_py's environments lazily (only when such an id is asked for): ids that
    are Atari by name (ALE/..., ...NoFrameskip-v4) need ale-py; any other unknown id is looked up
    again after registering ale_py if it is installed (e.g. Pong-v4)."""
    _register_project_envs()
    if looks_like_atari(env_id):
        try:
            register_atari_envs(env_id)
        except AtariUnavailable as exc:
            raise EnvError(str(exc)) from None
    elif env_id not in gym.registry and ale_installed():
        register_atari_envs(env_id)
    try:
        gym.spec(env_id)
    except gym.error.Error as exc:
        hint = "" if ale_installed() else " (Atari games need the ale-py package: pip install ale-py)"
        raise EnvError(f"unknown environment id {env_id!r}: {exc}{hint}") from None


def make_env(env_id: str, max_episode_steps: int | None = None, render_mode: str | None = None,
             nonfinite: str = "raise", training: bool = False, render_draft: bool = False,
             **kwargs: Any) -> gym.Env:
    """Create one environment (time limits come from the registration unless overridden),
    guarded against non-finite observations and rewards (see NonFiniteGuard).

    Atari ids get the preprocessing of envs/atari.py: (4, 84, 84) uint8 stacked frames, newest
    last; `training=True` (the trainer's rollouts) makes a lost life terminal, evaluation keeps
    the default False. Other environments ignore `training`. max_episode_steps counts agent steps.
    `render_draft` (MuJoCo envs rendering rgb_array): frames without shadows and reflections, as previews
    are drawn (`offscreen.draft_quality`)."""
    check_env_id(env_id)
    if is_atari(env_id):
        from .atari import make_atari_env
        try:
            env = make_atari_env(env_id, training=training, max_episode_steps=max_episode_steps,
                                 render_mode=render_mode, **kwargs)
        except AtariUnavailable as exc:
            raise EnvError(str(exc)) from None
        return NonFiniteGuard(env, env_id, nonfinite)
    make_kwargs: dict[str, Any] = dict(kwargs)
    if max_episode_steps is not None:
        make_kwargs["max_episode_steps"] = int(max_episode_steps)
    if render_mode is not None:
        make_kwargs["render_mode"] = render_mode
    env = gym.make(env_id, **make_kwargs)
    model = getattr(env.unwrapped, "model", None)
    if render_mode == "rgb_array" and model is not None and hasattr(model, "vis"):
        from .offscreen import cap_offscreen_quality, draft_quality
        cap_offscreen_quality(model)
        if render_draft:
            draft_quality(model)
    if not isinstance(env.action_space, (gym.spaces.Box, gym.spaces.Discrete)):
        raise EnvError(f"{env_id}: action space {env.action_space} is neither Box nor Discrete")
    return NonFiniteGuard(env, env_id, nonfinite)


def make_vector_env(env_id: str, num_envs: int, vec_env: str = "auto", max_episode_steps: int | None = None,
                    nonfinite: str = "raise", env_threads: int | None = None, training: bool = True,
                    **kwargs: Any) -> gym.vector.VectorEnv:
    """Vectorised environments that reset in the same step an episode ends (final obs in info).

    vec_env: "sync" (gymnasium SyncVectorEnv), "async" (AsyncVectorEnv, one process per env),
    "native" (the DeepMimic humanoid's own batched env: one MjModel, N MjData stepped by
    `env_threads` threads, observations and rewards computed for all at once; and the same for
    every id of Gymnasium's MuJoCo v5 family, see envs/mujoco_vector.py, and for Pendulum-v1, see
    envs/classic_vector.py), or "auto": native for those ids (sync for the Gymnasium ones under
    nonfinite="terminate"), async for Atari ids, sync otherwise.

    training: passed to make_env (True by default: vector envs feed the trainer; for Atari a lost
    life is then terminal).
    """
    check_env_id(env_id)
    from .classic_vector import SUPPORTED as NATIVE_CLASSIC
    from .vector_util import MUJOCO_V5_IDS as NATIVE_MUJOCO
    if vec_env == "auto":
        if is_atari(env_id):
            vec_env = "async"
        elif env_id in NATIVE_MUJOCO or env_id in NATIVE_CLASSIC:  # --nonfinite terminate needs the wrapper
            vec_env = "native" if nonfinite == "raise" else "sync"
        else:
            vec_env = "native" if is_deepmimic(env_id) else "sync"
    if vec_env == "native":
        kind = ("MuJoCo" if env_id in NATIVE_MUJOCO else "Pendulum" if env_id in NATIVE_CLASSIC
                else "DeepMimic" if is_deepmimic(env_id) else None)
        if kind is None:
            raise EnvError(f"--vec_env native exists for the DeepMimic environments and for "
                           f"{', '.join(NATIVE_MUJOCO + NATIVE_CLASSIC)} only, not {env_id!r}")
        if nonfinite != "raise":
            why = ("ends unstable episodes itself" if kind == "DeepMimic"
                   else "leaves non-finite values to the rollout's check, which raises")
            raise EnvError(f"--nonfinite terminate needs --vec_env sync or async (the native {kind} vector env {why})")
        if kind == "MuJoCo":
            from .mujoco_vector import MujocoLocomotionVectorEnv
            return MujocoLocomotionVectorEnv(env_id, num_envs, max_episode_steps=max_episode_steps,
                                             nthread=env_threads, **kwargs)
        if kind == "Pendulum":
            from .classic_vector import PendulumVectorEnv
            return PendulumVectorEnv(env_id, num_envs, max_episode_steps=max_episode_steps, **kwargs)
        from .deepmimic.vector import DeepMimicVectorEnv
        spec = gym.spec(env_id)
        dm_kwargs = {**spec.kwargs, **kwargs}
        steps = max_episode_steps if max_episode_steps is not None else spec.max_episode_steps
        return DeepMimicVectorEnv(num_envs, max_episode_steps=steps, nthread=env_threads, **dm_kwargs)

    def thunk() -> gym.Env:
        return make_env(env_id, max_episode_steps=max_episode_steps, nonfinite=nonfinite, training=training,
                        **kwargs)

    fns: list[Callable[[], gym.Env]] = [thunk for _ in range(num_envs)]
    if vec_env == "async":
        return gym.vector.AsyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP, context="spawn")
    return gym.vector.SyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP)
