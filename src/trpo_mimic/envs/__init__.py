"""Environment construction: one `make_env` factory where the whole wrapper stack is visible."""
from __future__ import annotations

from typing import Any, Callable

import gymnasium as gym
from gymnasium.vector import AutoresetMode

from .atari import ATARI_DEFAULTS, AtariUnavailable, ale_installed, is_atari, looks_like_atari, register_atari_envs
from ..options import TRAIN
from ..tasks import foreign_options, task_for, tasks
from .wrappers import NonFiniteError, NonFiniteGuard

STEP_METRIC_PREFIXES = ("reward_", "error_")
"""Per-step info keys that training and evaluation average and log: reward terms (``reward_pose``,
``reward_forward``, ...) and errors (e.g. a body-position error in metres, ``error_body_pos``)."""


def is_step_metric(key: str) -> bool:
    return key.startswith(STEP_METRIC_PREFIXES)


class EnvError(ValueError):
    """An environment id or option that cannot be used."""


def env_kwargs_from_config(cfg: Any, training: bool = True) -> dict[str, Any]:
    """Environment keyword arguments carried by a Config: the options of the id's task (:mod:`..tasks`) that it
    sets, in training or evaluation mode; an option of another task is an EnvError."""
    foreign = foreign_options(cfg.env_id, cfg, kinds=("env", "arg", TRAIN))
    if foreign:
        raise EnvError(f"--{foreign[0][0]} applies to {foreign[0][1]} environments only, not {cfg.env_id!r}")
    return {"nonfinite": cfg.nonfinite, **task_for(cfg.env_id).env_kwargs(cfg, training)}


def check_env_id(env_id: str) -> None:
    """Raise EnvError with a one-line message if the id is not registered.

    Atari ids register ale_py's environments lazily (only when such an id is asked for): ids that
    are Atari by name (ALE/..., ...NoFrameskip-v4) need ale-py; any other unknown id is looked up
    again after registering ale_py if it is installed (e.g. Pong-v4)."""
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
    "native" (a task's own batched env, :meth:`.tasks.Task.vector_env`, e.g. DeepMimic's: one MjModel, N
    MjData stepped by `env_threads` threads, observations and rewards computed for all at once; and the same
    for every id of Gymnasium's MuJoCo v5 family, see envs/mujoco_vector.py, and for Pendulum-v1, see
    envs/classic_vector.py), or "auto": native for those ids (sync for the Gymnasium ones under
    nonfinite="terminate"), async for Atari ids, sync otherwise.

    training: passed to make_env (True by default: vector envs feed the trainer; for Atari a lost
    life is then terminal).
    """
    check_env_id(env_id)
    task = task_for(env_id)
    from .classic_vector import SUPPORTED as NATIVE_CLASSIC
    from .vector_util import MUJOCO_V5_IDS as NATIVE_MUJOCO
    if vec_env == "auto":
        if is_atari(env_id):
            vec_env = "async"
        elif env_id in NATIVE_MUJOCO or env_id in NATIVE_CLASSIC:  # --nonfinite terminate needs the wrapper
            vec_env = "native" if nonfinite == "raise" else "sync"
        else:
            vec_env = "native" if task.has_vector_env else "sync"
    if vec_env == "native":
        kind = ("MuJoCo" if env_id in NATIVE_MUJOCO else "Pendulum" if env_id in NATIVE_CLASSIC
                else task.name if task.has_vector_env else None)
        if kind is None:
            own = "".join(f"the {t.name} environments and for " for t in tasks() if t.has_vector_env)
            raise EnvError(f"--vec_env native exists for {own}"
                           f"{', '.join(NATIVE_MUJOCO + NATIVE_CLASSIC)} only, not {env_id!r}")
        if nonfinite != "raise":
            why = ("ends unstable episodes itself" if task.has_vector_env
                   else "leaves non-finite values to the rollout's check, which raises")
            raise EnvError(f"--nonfinite terminate needs --vec_env sync or async (the native {kind} vector env {why})")
        if kind == "MuJoCo":
            from .mujoco_vector import MujocoLocomotionVectorEnv
            return MujocoLocomotionVectorEnv(env_id, num_envs, max_episode_steps=max_episode_steps,
                                             nthread=env_threads, **kwargs)
        if kind == "Pendulum":
            from .classic_vector import PendulumVectorEnv
            return PendulumVectorEnv(env_id, num_envs, max_episode_steps=max_episode_steps, **kwargs)
        return task.vector_env(env_id, num_envs, max_episode_steps, env_threads, **kwargs)

    def thunk() -> gym.Env:
        return make_env(env_id, max_episode_steps=max_episode_steps, nonfinite=nonfinite, training=training,
                        **kwargs)

    fns: list[Callable[[], gym.Env]] = [thunk for _ in range(num_envs)]
    if vec_env == "async":
        return gym.vector.AsyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP, context="spawn")
    return gym.vector.SyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP)
