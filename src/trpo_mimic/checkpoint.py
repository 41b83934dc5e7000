"""Checkpoints: plain state_dicts, config and RNG states in a `.pt` file, written atomically; and what
is rebuilt from them: the agent (`build_agent`, `load_weights`, `load_agent`) and the run to resume
(`find_resume`).

Files load with `torch.load(weights_only=True)`: nothing in them can run code.
"""
from __future__ import annotations

import os
import pickle
import random
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .config import Config
from .envs import env_kwargs_from_config, make_env
from .faults import os_error_of, write_failed
from .policies.agent import Agent

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, unsafe or of another architecture."""


def rng_state() -> dict[str, Any]:
    """torch, numpy (legacy global) and python RNG states, as weights_only-safe values."""
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": random.getstate(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write atomically: temporary file in the same directory, flush, fsync, rename.

    A failed write (a full disk) removes the temporary file, leaves `path` as it was, and raises `WriteFailed`
    naming the free space."""
    path = Path(path)
    kept = f"the previous {path.name} is kept" if path.exists() else f"no {path.name} was written"
    payload = {"format_version": FORMAT_VERSION, **payload}
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except (OSError, RuntimeError) as exc:
        if os_error_of(exc) is None:
            raise
        raise write_failed(path, os_error_of(exc), kept) from None
    finally:  # also on Ctrl-C
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return path


EXTENSION_WEIGHTS = "extension_weights"
"""A checkpoint's key for its training extensions' weights (:meth:`.tasks.TrainingExtension.weights`, by their keys):
a policy file keeps them, a warm start restores them."""
WARM_STARTS = "warm_starts"
"""A checkpoint's key for the runs its weights came from before its own (``--pretrained_weight_path``), oldest
first: each ``{"from": the path or name given, "samples", "train_seconds"}`` of that run alone, so that a warm-started
policy's cost is its own samples plus theirs (:func:`warm_start_chain`, :func:`samples_in_all`)."""
POLICY_FILE_KEYS = ("actor", "critic", "obs_normalizer", "iteration", "timesteps")
RUN_SETTINGS = ("checkpoint_dir", "run_name", "resume", "overwrite", "pretrained_weight_path", "keep_checkpoints")
"""Config fields that belong to the run that wrote a checkpoint, not to its policy."""


def write_policy_file(checkpoint_path: str | Path, out: str | Path) -> Path:
    """A small weights-only policy file (e.g. ``pretrained/walk.pt``): the networks, the normaliser and the
    config (the environment and its rules) of a checkpoint, without the optimiser state and RNG. It loads
    wherever a checkpoint is read for its weights (``evaluate``, ``--pretrained_weight_path``, ``export``)."""
    ckpt = load_checkpoint(checkpoint_path)
    cfg = dict(ckpt["config"])
    defaults = Config()
    for k in RUN_SETTINGS:
        cfg[k] = getattr(defaults, k)
    extra = {k: ckpt[k] for k in ("train_seconds", EXTENSION_WEIGHTS, WARM_STARTS) if k in ckpt}
    return save_checkpoint(out, {"kind": "policy", **{k: ckpt[k] for k in POLICY_FILE_KEYS}, **extra, "config": cfg})


def warm_start_chain(ckpt: dict[str, Any], source: str | Path) -> list[dict[str, Any]]:
    """The :data:`WARM_STARTS` of a run warm-started from ``ckpt`` (read from ``source``): ``ckpt``'s own chain,
    then ``ckpt``'s run itself."""
    own = {"from": str(source), "samples": int(ckpt.get("timesteps", 0)),
           "train_seconds": float(ckpt.get("train_seconds", 0.0))}
    return [dict(w) for w in ckpt.get(WARM_STARTS, [])] + [own]


def samples_in_all(ckpt: dict[str, Any]) -> tuple[int, float]:
    """(samples, training seconds) of a checkpoint's weights in all: its run's and its warm starts'."""
    chain = ckpt.get(WARM_STARTS, [])
    return (int(ckpt.get("timesteps", 0)) + sum(int(w["samples"]) for w in chain),
            float(ckpt.get("train_seconds", 0.0)) + sum(float(w["train_seconds"]) for w in chain))


def check_resumable(ckpt: dict[str, Any], source: str | Path) -> None:
    """A run resumes from a training checkpoint only (a policy file has no optimiser state or RNG)."""
    if ckpt.get("kind") == "policy":
        raise CheckpointError(f"{source}: a policy file (weights only) cannot resume a run; start a new run from it "
                              f"with --pretrained_weight_path {source}")


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, a run directory (its latest.pt), or the name of a shipped policy (``walk``)."""
    from .data import known, resolve
    p = resolve(path)
    if p.is_dir():
        p = p / "latest.pt"
    if not p.exists():
        raise CheckpointError(f"checkpoint not found: {p} (a checkpoint file, a run directory, or one of the "
                              f"{known()})")
    return p


def _written_by_torch_save(path: Path) -> bool:
    """The file could be torch.save's: a zip archive, or a pickle (protocol 2 or later, torch's old format)."""
    if zipfile.is_zipfile(path):
        return True
    with open(path, "rb") as f:
        return f.read(1) == b"\x80"


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load safely (weights_only); every failure becomes a CheckpointError that names the file."""
    p = resolve_checkpoint(path)
    try:
        data = torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if not _written_by_torch_save(p):
            raise CheckpointError(f"{p}: not a checkpoint: neither the zip archive nor the pickle that torch.save "
                                  f"writes") from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{p}: refused to load: the file holds objects other than tensors and plain "
                              f"values (possibly code). Nothing was executed. ({first})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{p}: not a readable checkpoint (truncated or corrupt?): {first}") from None
    if not isinstance(data, dict) or "actor" not in data or "config" not in data:
        raise CheckpointError(f"{p}: not a trpo-mimic checkpoint (missing 'actor' or 'config')")
    data["config"] = upgrade_config(data["config"])
    return data


def upgrade_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """A saved config as today's code must read it to rebuild the same run: its task's
    :meth:`.tasks.Task.upgrade_config` (e.g. a DeepMimic run saved without its PD law was trained under
    ``split``)."""
    from .tasks import task_for
    return task_for(str(cfg.get("env_id", ""))).upgrade_config(cfg)


def load_module_state(module: nn.Module, state: dict[str, torch.Tensor], what: str, source: str | Path) -> None:
    """load_state_dict with an error that names every missing, unexpected or mismatched tensor."""
    own = module.state_dict()
    problems = []
    for k, v in own.items():
        if k not in state:
            problems.append(f"missing {k}")
        elif tuple(state[k].shape) != tuple(v.shape):
            problems.append(f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}")
    problems += [f"unexpected {k}" for k in state if k not in own]
    if problems:
        raise CheckpointError(f"{source}: {what} does not match this model's architecture: "
                              + "; ".join(problems[:8]) + (" ..." if len(problems) > 8 else ""))
    module.load_state_dict(state)


def find_resume(cfg: Config) -> Path:
    """The checkpoint `--resume` names: a file, a run directory, or `latest` (the newest run of --env_id)."""
    if cfg.resume == "latest":
        env = cfg.env_id.replace("/", "_")
        runs = sorted(Path(cfg.checkpoint_dir).glob(f"{env}-{cfg.algo}-*/latest.pt"), key=lambda p: p.stat().st_mtime)
        if not runs:
            raise CheckpointError(f"no run of {cfg.env_id} with a latest.pt under {cfg.checkpoint_dir}/")
        return runs[-1]
    return resolve_checkpoint(cfg.resume)


def build_agent(cfg: Config, obs_space: Any, action_space: Any, device: str | torch.device = "cpu",
                backend: str = "auto") -> Agent:
    """The agent a config describes, for an environment's spaces, on `device`, its backend chosen there
    (`Agent.set_backend`: "numpy" for tanh MLPs on the CPU unless `backend` says "torch")."""
    agent = Agent(obs_space, action_space, cfg.policy_hidden_size, cfg.value_hidden_size,
                  cfg.init_log_std, cfg.normalize_obs, sde=cfg.use_sde, sde_sample_freq=cfg.sde_sample_freq).to(device)
    agent.set_backend(backend)
    return agent


def load_weights(agent: Agent, ckpt: dict[str, Any], source: str | Path) -> None:
    """Actor, critic and normaliser from a checkpoint, with errors that name mismatched sizes."""
    load_module_state(agent.actor, ckpt["actor"], "actor", source)
    load_module_state(agent.critic, ckpt["critic"], "critic", source)
    load_module_state(agent.obs_normalizer, ckpt["obs_normalizer"], "observation normaliser", source)


def extension_weights(extensions: list) -> dict[str, Any]:
    """The checkpoint entry of the training extensions' weights ({} when none has any)."""
    weights = {e.key: w for e in extensions if (w := e.weights())}
    return {EXTENSION_WEIGHTS: weights} if weights else {}


def load_extension_weights(extensions: list, ckpt: dict[str, Any], source: str | Path) -> None:
    """A warm start (``--pretrained_weight_path``) of the training extensions that have weights in ``ckpt``; one
    note per extension that has none there (it starts afresh)."""
    saved = ckpt.get(EXTENSION_WEIGHTS, {})
    for ext in extensions:
        if ext.key in saved:
            ext.load_weights(saved[ext.key])
        elif ext.weights():
            import sys
            print(f"note: {source} holds no {ext.key} weights; they start afresh", file=sys.stderr)


def env_of(cfg: Config) -> Any:
    """The environment a (checkpoint's) config describes."""
    return make_env(cfg.env_id, max_episode_steps=cfg.max_episode_steps, **env_kwargs_from_config(cfg))


def load_agent(path: str | Path, device: str = "cpu") -> tuple[Agent, Config, dict[str, Any]]:
    """Rebuild the agent from a checkpoint's own config; the normaliser is restored, then frozen."""
    p = resolve_checkpoint(path)
    ckpt = load_checkpoint(p)
    cfg = Config.from_dict(ckpt["config"])
    env = env_of(cfg)
    agent = build_agent(cfg, env.observation_space, env.action_space, device)
    env.close()
    load_weights(agent, ckpt, p)
    agent.eval()
    return agent, cfg, ckpt
