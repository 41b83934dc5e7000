"""The evaluation job: run a saved policy for N episodes, report statistics, optionally record."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .checkpoint import load_agent, resolve_checkpoint
from .config import Config
from .envs import env_kwargs_from_config, is_atari, is_deepmimic, is_step_metric, make_env, make_vector_env
from .envs.vector_util import ended_info
from .policies.agent import Agent
from .threads import limit_threads
from .video import VideoWriter, video_path


class NoDisplayError(RuntimeError):
    """--render was asked for where no display exists."""


BODY_ERROR_KEY = "error_body_pos"
VIDEO_FPS = 30
"""Videos have at most this many frames per second (a faster env is drawn every k-th step)."""
PREVIEW_FPS = 15
"""The training's previews (draft videos) have at most this many: on a CPU renderer the frames are most of an
evaluation's cost."""
SUCCESS_ERROR = 0.5
"""An episode succeeds when it does not fall and its mean body-position error stays under this (m)
throughout (the success rate of PHC and ProtoMotions)."""


@dataclass
class EvalResult:
    returns: list[float]
    lengths: list[int]
    terminated: list[bool]
    term_means: dict[str, float] = field(default_factory=dict)
    deepmimic: bool = False
    video: Path | None = None
    clip_stats: dict[str, dict[str, float]] = field(default_factory=dict)  # several-clip DeepMimic: per clip
    switch_falls: int | None = None  # a clip sequence: falls within SWITCH_FALL_SECONDS after a switch
    max_errors: list[float] = field(default_factory=list)  # per episode: largest body-position error (m)

    @property
    def reward_per_step(self) -> float:
        """Total reward over total steps, all episodes together (DeepMimic's normalised return)."""
        return sum(self.returns) / max(sum(self.lengths), 1)

    @property
    def successes(self) -> int | None:
        """Episodes without a fall whose body-position error stayed under SUCCESS_ERROR (None: no error known)."""
        if not self.max_errors:
            return None
        return sum(not t and e < SUCCESS_ERROR for t, e in zip(self.terminated, self.max_errors))

    def per_clip(self) -> dict[str, dict[str, float]]:
        """For each clip: episodes that imitated it, steps, reward, reward per step and falls, each step counted
        for the clip it imitated (a clip sequence's episode counts for every clip it went through): the steps,
        rewards and falls add up to the whole evaluation's."""
        return {name: {**c, "reward_per_step": c["reward"] / max(c["steps"], 1)}
                for name, c in sorted(self.clip_stats.items())}

    def summary(self) -> dict[str, float]:
        r, l = np.asarray(self.returns, dtype=np.float64), np.asarray(self.lengths, dtype=np.float64)
        out = {"episodes": len(r), "return_mean": float(r.mean()), "return_std": float(r.std()),
               "return_min": float(r.min()), "return_max": float(r.max()), "length_mean": float(l.mean()),
               "length_std": float(l.std()), "length_min": float(l.min()), "length_max": float(l.max()),
               "terminated": int(sum(self.terminated))}
        out.update(self.term_means)
        if self.successes is not None:
            out["success_rate"] = self.successes / max(len(r), 1)
        return out

    def format(self) -> str:
        s = self.summary()
        lines = [f"episodes: {s['episodes']}",
                 f"return:   {s['return_mean']:.3f} ± {s['return_std']:.3f}  "
                 f"(min {s['return_min']:.3f}, max {s['return_max']:.3f})",
                 f"length:   {s['length_mean']:.1f} ± {s['length_std']:.1f}  "
                 f"(min {s['length_min']:.0f}, max {s['length_max']:.0f})"]
        if self.deepmimic:
            lines.append(f"mean reward per step: {self.reward_per_step:.4f}")
            lines.append(f"falls: {s['terminated']} of {s['episodes']} episodes ended early"
                         + (" (none fell)" if s["terminated"] == 0 else ""))
            if BODY_ERROR_KEY in self.term_means:
                lines.append(f"body position error: {self.term_means[BODY_ERROR_KEY]:.3f} m mean per step "
                             f"(relative to the root: {self.term_means.get(BODY_ERROR_KEY + '_local', float('nan')):.3f} m)")
                lines.append(f"success: {self.successes} of {s['episodes']} episodes (no fall, body position "
                             f"error under {SUCCESS_ERROR} m throughout)")
            for k, v in sorted(self.term_means.items()):
                if k.startswith("reward_"):
                    lines.append(f"  {k}: {v:.4f}")
            for name, c in self.per_clip().items():
                lines.append(f"clip {name}: {c['reward_per_step']:.4f} reward per step over {c['steps']} steps "
                             f"of {c['episodes']} episodes, falls {c['falls']}")
            if self.switch_falls is not None:
                from .envs.deepmimic.sequence import SWITCH_FALL_SECONDS
                lines.append(f"falls at a clip switch (within {SWITCH_FALL_SECONDS:g} s of it): {self.switch_falls} "
                             f"of {s['terminated']} falls")
        else:
            lines.append(f"terminated: {s['terminated']} of {s['episodes']} episodes")
        return "\n".join(lines)


class _Tally:
    """The statistics of evaluation episodes, fed a step of one episode (:meth:`step`) or of a batch of them at
    once (:meth:`step_rows`, the batched evaluation: episode i on sub-env i)."""

    def __init__(self, episodes: int, clips: Any = ()) -> None:
        self.returns, self.lengths = np.zeros(episodes), np.zeros(episodes, dtype=np.int64)
        self.terminated = np.zeros(episodes, dtype=bool)
        self.max_err = np.full(episodes, np.nan)  # nan: no body-position error reported
        self.term_sums: dict[str, float] = {}
        self.term_steps: dict[str, int] = {}
        self.clips = list(clips)  # several DeepMimic clips: per-clip statistics by the step's "clip"
        self.clip_stats: dict[str, dict[str, float]] = {}
        self._seen: list[set[str]] = [set() for _ in range(episodes)]
        self.switch_falls: int | None = None

    def step(self, ep: int, reward: float, info: dict[str, Any], terminated: bool) -> None:
        """A step of episode `ep` (`info`: the env's info dict)."""
        scalars = {k: np.array([v]) for k, v in info.items() if np.ndim(v) == 0 and not isinstance(v, str)}
        self.step_rows(np.array([ep]), np.array([reward], dtype=np.float64), scalars, np.array([terminated]))

    def step_rows(self, rows: np.ndarray, reward: np.ndarray, info: dict[str, np.ndarray],
                  terminated: np.ndarray) -> None:
        """A step of episodes `rows`: `reward`, `terminated` and each `info` entry an array over those rows (an
        entry may come with its ``"_key"`` mask: the rows that report it)."""
        for k, v in info.items():
            if not is_step_metric(k) or v.ndim != 1:
                continue
            x = v.astype(np.float64)
            finite = np.isfinite(x)
            reported = info.get("_" + k, np.ones(len(x), dtype=bool))
            ok = reported & finite
            if ok.any():
                self.term_sums[k] = self.term_sums.get(k, 0.0) + float(x[ok].sum())
                self.term_steps[k] = self.term_steps.get(k, 0) + int(ok.sum())
            if k == BODY_ERROR_KEY:  # a non-finite error counts as an infinite one
                r = rows[reported]
                self.max_err[r] = np.fmax(self.max_err[r], np.where(finite, x, np.inf)[reported])
        self.returns[rows] += reward
        self.lengths[rows] += 1
        self.terminated[rows] = terminated
        if len(self.clips) > 1:  # the step counts for the clip it imitated
            for j, ep in enumerate(rows):
                name = self.clips[int(info["clip"][j])].name
                c = self.clip_stats.setdefault(name, {"episodes": 0, "steps": 0, "reward": 0.0, "falls": 0})
                if name not in self._seen[ep]:
                    self._seen[ep].add(name)
                    c["episodes"] += 1
                c["steps"] += 1
                c["reward"] += float(reward[j])
                c["falls"] += int(terminated[j])
        if "fell_at_switch" in info:  # a clip sequence
            self.switch_falls = (self.switch_falls or 0) + int(np.sum(info["fell_at_switch"]))

    def result(self, deepmimic: bool) -> EvalResult:
        return EvalResult(self.returns.tolist(), self.lengths.tolist(), self.terminated.tolist(),
                          {k: v / self.term_steps[k] for k, v in self.term_sums.items()}, deepmimic=deepmimic,
                          clip_stats=self.clip_stats, switch_falls=self.switch_falls,
                          max_errors=self.max_err[~np.isnan(self.max_err)].tolist())


def video_stride(fps: float, cap: float = VIDEO_FPS) -> int:
    """Steps per video frame: a video has at most `cap` frames per second (VIDEO_FPS; PREVIEW_FPS for drafts)."""
    return max(1, int(round(fps / cap)))


def run_episodes(agent: Agent, env: Any, episodes: int, deterministic: bool, seed: int, record: bool = False,
                 frames: Any = None, progress: bool = True, on_step: Any = None,
                 max_frames: int | None = None, film_only: bool = False,
                 stride: int | None = None) -> tuple[EvalResult, dict[str, np.ndarray] | None]:
    """Play whole episodes, one after another, with the normaliser frozen (episode k reset with seed + k).
    `frames` (a list, a `VideoWriter`: anything with `append`) gets the first episode's renders: every
    `stride`-th step (None: ``video_stride`` of the env's frame rate), at most `max_frames` of them; `record`
    keeps the trajectories (and, for DeepMimic, simulated and reference poses). film_only: the episode stops once its frames are drawn (a video, no figures)."""
    from tqdm import tqdm
    traj: dict[str, list] = {"obs": [], "actions": [], "rewards": [], "episode": []}
    unwrapped = env.unwrapped
    dm = hasattr(unwrapped, "clip") and hasattr(unwrapped, "data")
    if record and dm:
        traj.update(sim_qpos=[], ref_qpos=[], time=[])
    tally = _Tally(episodes, getattr(unwrapped, "clips", ()) if dm else ())
    if stride is None:
        stride = video_stride(env.metadata.get("render_fps") or VIDEO_FPS)
    budget = np.inf if max_frames is None else max_frames
    policy = agent.inference()
    for ep in tqdm(range(episodes), desc="evaluate", disable=not progress, leave=False, file=sys.stderr):
        obs, reset_info = env.reset(seed=seed + ep)
        drawn = 0
        if frames is not None and ep == 0 and budget > 0:
            frames.append(env.render())
            drawn = 1
        done, length = False, 0
        while not done:
            action = policy.act(obs[None], deterministic)[0][0]
            next_obs, reward, terminated, truncated, info = env.step(action)
            length += 1
            if on_step is not None:
                on_step()
            if frames is not None and ep == 0 and drawn < budget and length % stride == 0:
                frames.append(env.render())
                drawn += 1
            if record:
                traj["obs"].append(obs)
                traj["actions"].append(action)
                traj["rewards"].append(reward)
                traj["episode"].append(ep)
                if dm:
                    traj["sim_qpos"].append(unwrapped.data.qpos.copy())
                    traj["ref_qpos"].append(unwrapped.reference_qpos())
                    traj["time"].append(info["time"])
                for k, v in info.items():  # per-step reward terms and errors
                    if is_step_metric(k):
                        traj.setdefault(k, [np.nan] * (len(traj["rewards"]) - 1)).append(float(v))
            tally.step(ep, reward, info, terminated)
            obs = next_obs
            done = terminated or truncated or (film_only and drawn >= budget)
    arrays = {k: np.asarray(v) for k, v in traj.items()} if record else None
    return tally.result(dm), arrays


def run_episodes_batched(agent: Agent, envs: Any, deterministic: bool, seed: int, deepmimic: bool = False,
                         progress: bool = True) -> EvalResult:
    """One episode on each sub-env of a vector env (sub-env i reset with seed + i, as episode i of
    :func:`run_episodes`: the same episodes, to the rounding of batched maths), every policy call batched.
    A sub-env that ended keeps stepping (autoreset) until the last one ends; its steps are not counted."""
    from tqdm import tqdm
    n = envs.num_envs
    tally = _Tally(n, getattr(envs, "clips", ()) if deepmimic else ())
    obs, _ = envs.reset(seed=seed)
    policy = agent.inference()
    active = np.ones(n, dtype=bool)
    with tqdm(total=n, desc="evaluate", disable=not progress, leave=False, file=sys.stderr) as bar:
        while active.any():
            obs, reward, terminated, truncated, info = envs.step(policy.act(obs, deterministic)[0])
            done = terminated | truncated
            rows = np.flatnonzero(active)
            step_info = ended_info(info, done)
            reward = np.asarray(reward, dtype=np.float64)
            tally.step_rows(rows, reward[rows], {k: v[rows] for k, v in step_info.items()}, terminated[rows])
            ended = active & done
            if ended.any():
                active &= ~done
                bar.update(int(ended.sum()))
    return tally.result(deepmimic)


def takes_frame_size(env_id: str) -> bool:
    """Whether the environment's constructor takes ``width`` and ``height``: Gymnasium's MuJoCo envs (through
    their ``**kwargs``) and DeepMimic's do, the classic-control and Atari ones do not."""
    import inspect

    import gymnasium as gym
    if is_atari(env_id):
        return False
    entry = gym.spec(env_id).entry_point
    creator = gym.envs.registration.load_env_creator(entry) if isinstance(entry, str) else entry
    if isinstance(creator, type) and creator.__module__.startswith("gymnasium.envs.mujoco"):
        from gymnasium.envs.mujoco.mujoco_env import MujocoEnv
        return issubclass(creator, MujocoEnv)
    try:
        params = inspect.signature(creator).parameters
    except (TypeError, ValueError):
        return False
    return "width" in params and "height" in params


def render_mode_for(env_id: str, live: bool, video: bool) -> str | None:
    """"human" for a live window (checked for a display first), "rgb_array" for a video."""
    if live:
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise NoDisplayError("--render needs a display, and none is set (DISPLAY/WAYLAND_DISPLAY); "
                                 "use --record_video to write a video instead")
        import gymnasium as gym
        modes = gym.spec(env_id).entry_point
        env_cls = gym.envs.registration.load_env_creator(modes) if isinstance(modes, str) else None
        if env_cls is not None and "human" not in getattr(env_cls, "metadata", {}).get("render_modes", []):
            return None  # shown with MuJoCo's passive viewer instead (see LiveViewer)
        return "human"
    return "rgb_array" if video else None


class LiveViewer:
    """MuJoCo's own interactive viewer (pause, slow motion, drag-to-push built in) for environments without a
    "human" render mode (the DeepMimic humanoid): the camera follows the character, and the reference is drawn
    as a ghost as in the videos (``render_reference`` of the env)."""

    def __init__(self, env: Any) -> None:
        u = env.unwrapped
        if not (hasattr(u, "model") and hasattr(u, "data")):
            raise NoDisplayError(f"{env.spec.id if env.spec else env}: this environment cannot be shown live")
        import mujoco
        import mujoco.viewer
        self.env = u
        self.handle = mujoco.viewer.launch_passive(u.model, u.data)
        index = getattr(u, "index", None)
        if index is not None:  # follow the character
            self.handle.cam.type = mujoco.mjtCamera.mjCAMERA_TRACKING
            self.handle.cam.trackbodyid = index.root_body
            self.handle.cam.distance = 3.5
        self.ghost = mujoco.MjData(u.model) if hasattr(u, "clip") else None
        self.dt = 1.0 / (env.metadata.get("render_fps") or 30)

    def sync(self) -> None:
        import time
        view = getattr(self.env, "render_reference", "off")
        if self.ghost is not None and view != "off":
            from .envs.deepmimic.render import add_ghost
            with self.handle.lock():
                self.handle.user_scn.ngeom = 0
                add_ghost(self.env.model, self.ghost, self.handle.user_scn, self.env.reference_qpos(),
                          view == "side", int(self.env.model.jnt_qposadr[0]))
        self.handle.sync()
        time.sleep(self.dt)

    def close(self) -> None:
        self.handle.close()


def episode_limit(cfg: Config) -> int | None:
    """Steps an evaluation episode lasts at most: --max_episode_steps, or the length of a --clip_sequence."""
    if cfg.clip_sequence:
        from .envs.deepmimic.sequence import sequence_steps
        return sequence_steps(len(cfg.clip_sequence), cfg.switch_seconds)
    return cfg.max_episode_steps


def evaluate_policy(agent: Agent, cfg: Config, episodes: int, seed: int, deterministic: bool = True,
                    video_file: Path | None = None, live: bool = False, record: bool = False,
                    progress: bool = True, push: float = 0.0,
                    video_size: tuple[int, int] | None = None, video_seconds: float | None = None,
                    draft: bool = False) -> tuple[EvalResult, dict[str, np.ndarray] | None]:
    """Evaluate `agent` on fresh environments built from `cfg`; optionally write a video of the first episode
    (of `video_size` (width, height) where the environment takes a size, None: its own; its first
    `video_seconds`, None: all of it), at most VIDEO_FPS frames per second; `draft` (the training's previews):
    drawn without shadows and reflections, at most PREVIEW_FPS frames per second.

    The episodes run batched, one per sub-env of a vector env (the same episodes as one env played
    `episodes` times); a video is one more episode on a single rendering env, drawn for at most
    `video_seconds`. A live view, recorded trajectories, pushes or a clip sequence play the episodes
    one after another on one env instead (the video is then the first of them).
    push > 0 (DeepMimic): pushes of that force at random times (:class:`.envs.deepmimic.push.Pushes`)."""
    kwargs = env_kwargs_from_config(cfg, training=False)  # evaluation mode: no training devices (drift bound)
    limit = episode_limit(cfg)
    if live or record or push > 0 or cfg.clip_sequence:
        return _play_one_env(agent, cfg, kwargs, limit, episodes, seed, deterministic, video_file, live, record,
                             progress, push, film_only=False, size=video_size, seconds=video_seconds,
                             draft=draft)
    vec = "sync" if cfg.vec_env == "async" or is_atari(cfg.env_id) else cfg.vec_env
    envs = make_vector_env(cfg.env_id, episodes, vec, limit, env_threads=cfg.env_threads, training=False, **kwargs)
    try:
        result = run_episodes_batched(agent, envs, deterministic, seed, is_deepmimic(cfg.env_id), progress)
    finally:
        envs.close()
    if video_file is not None:
        result.video = record_preview(agent, cfg, seed, video_file, video_size, video_seconds, deterministic, draft)
    return result, None


def record_preview(agent: Agent, cfg: Config, seed: int, video_file: Path, size: tuple[int, int] | None = None,
                   seconds: float | None = None, deterministic: bool = True, draft: bool = False) -> Path | None:
    """The video of :func:`evaluate_policy`'s first episode (reset with `seed`) on its own rendering env, drawn
    for at most `seconds` (None: all of it), of `size` where the environment takes one; `draft`: as there."""
    kwargs = env_kwargs_from_config(cfg, training=False)
    filmed, _ = _play_one_env(agent, cfg, kwargs, episode_limit(cfg), 1, seed, deterministic, video_file, False,
                              False, False, 0.0, film_only=True, size=size, seconds=seconds, draft=draft)
    return filmed.video


def _play_one_env(agent: Agent, cfg: Config, kwargs: dict[str, Any], limit: int | None, episodes: int, seed: int,
                  deterministic: bool, video_file: Path | None, live: bool, record: bool, progress: bool,
                  push: float, film_only: bool,
                  size: tuple[int, int] | None = None, seconds: float | None = None,
                  draft: bool = False) -> tuple[EvalResult, dict[str, np.ndarray] | None]:
    """Episodes one after another on one env; film_only: stop once the video has its frames."""
    mode = render_mode_for(cfg.env_id, live, video_file is not None)
    if (mode is not None or live) and is_deepmimic(cfg.env_id):
        kwargs = {**kwargs, "render_reference": cfg.reference}
    if mode == "rgb_array" and size is not None and takes_frame_size(cfg.env_id):
        kwargs = {**kwargs, "width": int(size[0]), "height": int(size[1])}
    env = make_env(cfg.env_id, max_episode_steps=limit, render_mode=mode, render_draft=draft, **kwargs)
    if cfg.clip_sequence:
        from .envs.deepmimic.sequence import ClipSequence
        env = ClipSequence(env, cfg.clip_sequence, cfg.switch_seconds)
    if push > 0:
        from .envs.deepmimic.push import Pushes
        env = Pushes(env, push)
    viewer = LiveViewer(env) if live and mode is None else None
    fps = env.metadata.get("render_fps") or VIDEO_FPS
    stride = video_stride(fps, PREVIEW_FPS if draft else VIDEO_FPS)
    # frames go to the file as they are drawn: one in memory, however long the episode
    video = VideoWriter(video_file, fps / stride) if video_file is not None and not live else None
    frames = None if video is None or seconds is None else int(np.ceil(seconds * fps / stride)) + 1
    try:
        result, arrays = run_episodes(agent, env, episodes, deterministic, seed, record, video, progress,
                                      on_step=viewer.sync if viewer else None, max_frames=frames,
                                      film_only=film_only, stride=stride)
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
    for k in ("max_episode_steps", "motion_file", "motion_dir", "reference", "clip_sequence", "switch_seconds"):
        if opts.get(k) is not None:
            setattr(cfg, k, opts[k])
    from .pretrained import clip_mismatch
    for line in clip_mismatch(ckpt, cfg):  # the card's clip is not the one found now
        print(line)
    episodes = int(opts.get("num_eval_episodes", 10))
    stochastic = bool(opts.get("stochastic_policy", False))
    seed = int(opts.get("seed", cfg.seed))
    video_file = None
    if opts.get("record_video"):
        video_file = video_path(opts.get("video_dir", "render"), cfg.env_id, opts.get("video_format", "mp4"))
    push, sweep = float(opts.get("push") or 0.0), bool(opts.get("push_sweep"))
    if (push > 0 or sweep or cfg.clip_sequence) and not is_deepmimic(cfg.env_id):
        raise ValueError(f"--push, --push_sweep and --clip_sequence apply to DeepMimic environments only, "
                         f"not {cfg.env_id}")
    if sweep:
        return push_sweep(agent, cfg, episodes, seed, not stochastic, path)
    result, arrays = evaluate_policy(agent, cfg, episodes, seed, not stochastic, video_file,
                                     live=bool(opts.get("render")), record=bool(opts.get("save_sample")),
                                     progress=bool(opts.get("progress", True)), push=push)
    print(f"evaluated {resolve_checkpoint(path)} on {cfg.env_id} "
          f"({'stochastic' if stochastic else 'deterministic'} policy)")
    if push > 0:
        print(f"pushes: {push:g} N on the chest for 0.2 s, a random horizontal direction, every 1.5-2.5 s")
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
    return result


SWEEP_START, SWEEP_MAX, SWEEP_PRECISION = 50.0, 6400.0, 0.05


def push_sweep(agent: Agent, cfg: Config, episodes: int, seed: int, deterministic: bool, path: Any) -> EvalResult:
    """The largest push force (N) the policy survives (no fall) in at least 9 of 10 episodes: doubling from
    SWEEP_START, then bisecting between the last force survived and the first not, to SWEEP_PRECISION of it.
    Prints each force tried and the answer; returns the evaluation at that force (without pushes if even
    SWEEP_START is too much)."""
    need = int(np.ceil(0.9 * episodes))

    def survived(force: float) -> tuple[bool, EvalResult]:
        res, _ = evaluate_policy(agent, cfg, episodes, seed, deterministic, progress=False, push=force)
        ok = episodes - sum(res.terminated)
        print(f"push {force:7.1f} N: {ok} of {episodes} episodes without a fall, "
              f"{res.reward_per_step:.4f} reward per step", flush=True)
        return ok >= need, res

    print(f"push sweep of {resolve_checkpoint(path)} on {cfg.env_id}: the largest force survived in at least "
          f"{need} of {episodes} episodes")
    good, best = 0.0, None
    bad = SWEEP_START
    while bad <= SWEEP_MAX:
        ok, res = survived(bad)
        if not ok:
            break
        good, best, bad = bad, res, 2 * bad
    else:
        print(f"survives every push up to {SWEEP_MAX:g} N (the sweep's limit)")
        return best
    while good > 0 and bad - good > SWEEP_PRECISION * good:
        mid = 0.5 * (good + bad)
        ok, res = survived(mid)
        if ok:
            good, best = mid, res
        else:
            bad = mid
    if best is None:
        print(f"largest push survived: under {SWEEP_START:g} N (falls in more than {episodes - need} of {episodes} "
              f"episodes at {SWEEP_START:g} N)")
        best, _ = evaluate_policy(agent, cfg, episodes, seed, deterministic, progress=False)
        return best
    print(f"largest push survived in at least {need} of {episodes} episodes: {good:.0f} N "
          f"(fell at {bad:.0f} N)")
    return best
