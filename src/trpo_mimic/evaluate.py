"""The evaluation job: run a saved policy for N episodes, report statistics, optionally record.

Its parts live in :mod:`.evaluation` (statistics, episode runners, showing it live); what a task adds (wrappers,
its lines of the results, a sweep of its own) comes from its :class:`.tasks.Task`."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .checkpoint import load_agent, resolve_checkpoint
from .config import Config
from .envs import env_kwargs_from_config, is_atari, make_env, make_vector_env
from .evaluation.episodes import PREVIEW_FPS, VIDEO_FPS, run_episodes, run_episodes_batched, video_stride
from .evaluation.live import LiveViewer, render_mode_for, takes_frame_size
from .evaluation.stats import EvalResult
from .options import EVAL
from .policies.agent import Agent
from .tasks import foreign_options, task_for
from .threads import limit_threads
from .video import VideoWriter, video_path


def evaluate_policy(agent: Agent, cfg: Config, episodes: int, seed: int, deterministic: bool = True,
                    video_file: Path | None = None, live: bool = False, record: bool = False,
                    progress: bool = True, extras: dict[str, Any] | None = None,
                    video_size: tuple[int, int] | None = None, video_seconds: float | None = None,
                    draft: bool = False) -> tuple[EvalResult, dict[str, np.ndarray] | None]:
    """Evaluate `agent` on fresh environments built from `cfg`; optionally write a video of the first episode
    (of `video_size` (width, height) where the environment takes a size, None: its own; its first
    `video_seconds`, None: all of it), at most VIDEO_FPS frames per second; `draft` (the training's previews):
    drawn without shadows and reflections, at most PREVIEW_FPS frames per second.

    The episodes run batched, one per sub-env of a vector env (the same episodes as one env played
    `episodes` times); a video is one more episode on a single rendering env, drawn for at most
    `video_seconds`. A live view, recorded trajectories or the task's own wrappers (``extras``, the evaluation's
    options for :meth:`.tasks.Task.wrap_eval_env`, e.g. DeepMimic's pushes, or a clip sequence of ``cfg``) play
    the episodes one after another on one env instead (the video is then the first of them)."""
    task, extras = task_for(cfg.env_id), extras or {}
    kwargs = env_kwargs_from_config(cfg, training=False)  # evaluation mode: no training devices (drift bound)
    limit = task.episode_limit(cfg)
    if live or record or task.plays_one_env(cfg, extras):
        result, arrays = _play_one_env(agent, cfg, kwargs, limit, episodes, seed, deterministic, video_file, live,
                                       record, progress, extras, film_only=False, size=video_size,
                                       seconds=video_seconds, draft=draft)
    else:
        vec = "sync" if cfg.vec_env == "async" or is_atari(cfg.env_id) else cfg.vec_env
        envs = make_vector_env(cfg.env_id, episodes, vec, limit, env_threads=cfg.env_threads, training=False,
                               **kwargs)
        try:
            result, arrays = run_episodes_batched(agent, envs, deterministic, seed, task, progress), None
        finally:
            envs.close()
        if video_file is not None:
            result.video = record_preview(agent, cfg, seed, video_file, video_size, video_seconds, deterministic,
                                          draft)
    result.limit = limit
    return result, arrays


def record_preview(agent: Agent, cfg: Config, seed: int, video_file: Path, size: tuple[int, int] | None = None,
                   seconds: float | None = None, deterministic: bool = True, draft: bool = False) -> Path | None:
    """The video of :func:`evaluate_policy`'s first episode (reset with `seed`) on its own rendering env, drawn
    for at most `seconds` (None: all of it), of `size` where the environment takes one; `draft`: as there."""
    kwargs = env_kwargs_from_config(cfg, training=False)
    filmed, _ = _play_one_env(agent, cfg, kwargs, task_for(cfg.env_id).episode_limit(cfg), 1, seed, deterministic,
                              video_file, False, False, False, {}, film_only=True, size=size, seconds=seconds,
                              draft=draft)
    return filmed.video


def _play_one_env(agent: Agent, cfg: Config, kwargs: dict[str, Any], limit: int | None, episodes: int, seed: int,
                  deterministic: bool, video_file: Path | None, live: bool, record: bool, progress: bool,
                  extras: dict[str, Any], film_only: bool,
                  size: tuple[int, int] | None = None, seconds: float | None = None,
                  draft: bool = False) -> tuple[EvalResult, dict[str, np.ndarray] | None]:
    """Episodes one after another on one env; film_only: stop once the video has its frames."""
    task = task_for(cfg.env_id)
    mode = render_mode_for(cfg.env_id, live, video_file is not None)
    if mode is not None or live:
        kwargs = {**kwargs, **task.render_kwargs(cfg)}
    if mode == "rgb_array" and size is not None and takes_frame_size(cfg.env_id):
        kwargs = {**kwargs, "width": int(size[0]), "height": int(size[1])}
    env = make_env(cfg.env_id, max_episode_steps=limit, render_mode=mode, render_draft=draft, **kwargs)
    env = task.wrap_eval_env(env, cfg, extras)
    viewer = LiveViewer(env, task.live_viewer_extra(env)) if live and mode is None else None
    fps = env.metadata.get("render_fps") or VIDEO_FPS
    stride = video_stride(fps, PREVIEW_FPS if draft else VIDEO_FPS)
    # frames go to the file as they are drawn: one in memory, however long the episode
    video = VideoWriter(video_file, fps / stride) if video_file is not None and not live else None
    frames = None if video is None or seconds is None else int(np.ceil(seconds * fps / stride)) + 1
    try:
        result, arrays = run_episodes(agent, env, episodes, deterministic, seed, record, video, progress,
                                      on_step=viewer.sync if viewer else None, max_frames=frames,
                                      film_only=film_only, stride=stride, task=task)
        if video is not None:
            result.video = video.close()
    except BaseException:
        if video is not None:
            video.abort()
        raise
    finally:
        if viewer:
            viewer.close()
        env.close()
    return result, arrays


def evaluate(opts: dict[str, Any]) -> EvalResult:
    """`trpo-mimic evaluate`: load --load_model_path, play --num_eval_episodes, print the results block."""
    path = opts.get("load_model_path")
    if not path:
        raise ValueError("evaluate needs --load_model_path (a checkpoint file or run directory)")
    limit_threads(1)
    device = "cpu" if opts.get("cpu") else ("cuda" if opts.get("device") == "cuda" else "cpu")
    agent, cfg, ckpt = load_agent(path, device)
    task = task_for(cfg.env_id)
    overridden = ["max_episode_steps", *(o.name for o in task.options if o.eval_override)]
    for k in overridden:  # the checkpoint's own config, but for what evaluation may change
        if opts.get(k) is not None:
            setattr(cfg, k, opts[k])
    own = {o.name: o for o in task.options if o.kind != EVAL}  # not evaluation's own options (--push_sweep)
    saved = {k: o.cast(o.default if getattr(cfg, k, None) is None else getattr(cfg, k)) for k, o in own.items()}
    fixed = [k for k, o in own.items()
             if k not in overridden and opts.get(k) is not None and o.cast(opts[k]) != saved[k]]
    if fixed:  # never a flag taken and then ignored
        raise ValueError(f"--{fixed[0]} is the policy's own setting (its checkpoint: {saved[fixed[0]]!r}); evaluate "
                         f"changes only --{', --'.join(overridden)}")
    foreign = foreign_options(cfg.env_id, Config.from_dict(opts), kinds=(EVAL,))
    if foreign:
        raise ValueError(f"--{foreign[0][0]} applies to {foreign[0][1]} environments only, not {cfg.env_id}")
    for line in task.before_evaluation(ckpt, cfg, opts):
        print(line)
    special = task.evaluate(agent, cfg, opts, path)
    if special is not None:
        return special
    episodes = int(opts.get("num_eval_episodes", 10))
    stochastic = bool(opts.get("stochastic_policy", False))
    seed = int(opts.get("seed", cfg.seed))
    video_file = None
    if opts.get("record_video"):
        video_file = video_path(opts.get("video_dir", "render"), cfg.env_id, opts.get("video_format", "mp4"))
    result, arrays = evaluate_policy(agent, cfg, episodes, seed, not stochastic, video_file,
                                     live=bool(opts.get("render")), record=bool(opts.get("save_sample")),
                                     progress=bool(opts.get("progress", True)), extras=opts)
    print(f"evaluated {resolve_checkpoint(path)} on {cfg.env_id} "
          f"({'stochastic' if stochastic else 'deterministic'} policy)")
    for line in task.evaluation_header(opts):
        print(line)
    report(result, arrays, ckpt, cfg, path)
    return result


def report(result: EvalResult, arrays: dict[str, np.ndarray] | None, ckpt: dict[str, Any], cfg: Config,
           path: Any) -> None:
    """The results block of `evaluate`, and where its video and trajectories went."""
    if "timesteps" in ckpt:
        took = f" in {ckpt['train_seconds'] / 60:.0f} min of training" if "train_seconds" in ckpt else ""
        print(f"policy trained on {int(ckpt['timesteps']):,} samples{took}")
    print(result.format())
    if result.video is not None:
        print(f"video written to {result.video}")
    if arrays is not None:
        out = resolve_checkpoint(path).parent / f"samples_{cfg.env_id.replace('/', '_')}.npz"
        np.savez_compressed(out, **arrays)
        print(f"trajectories written to {out}")
