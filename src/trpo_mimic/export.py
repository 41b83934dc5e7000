"""Export a trained policy for use outside this package.

:func:`export_checkpoint` writes, from one checkpoint:

* ``agent0_model_anet.pth`` / ``agent0_model_cnet.pth``: the actor's and the critic's
  ``state_dict`` (``torch.save``), the file names of the PyTorch TRPO ports;
* ``actor.pt``: TorchScript of the deterministic policy *with* its observation normaliser:
  raw observations ``(batch, *obs_shape)`` in, actions out (the Gaussian mean clipped to the
  action bounds for Box actions; the most likely action, int64, for Discrete);
* ``actor.onnx``: the same function as ONNX (input ``obs``, output ``action``, dynamic batch);
* ``export.json``: what the files expect (environment, shapes, dtypes, bounds).

Observations are cast to float32 inside (image observations stay uint8 and are scaled inside).
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .checkpoint import load_agent
from .policies.agent import Agent

ANET_FILE = "agent0_model_anet.pth"
CNET_FILE = "agent0_model_cnet.pth"
TORCHSCRIPT_FILE = "actor.pt"
ONNX_FILE = "actor.onnx"
META_FILE = "export.json"
OUTPUT_FILES = (ANET_FILE, CNET_FILE, TORCHSCRIPT_FILE, ONNX_FILE, META_FILE)


class DeterministicPolicy(nn.Module):
    """normaliser -> actor mean (or argmax) -> clip to the action bounds, as one traceable module.

    Computes what ``Agent.act(obs, deterministic=True)`` computes, on a tensor.
    """

    def __init__(self, agent: Agent) -> None:
        super().__init__()
        norm = agent.obs_normalizer
        self.normalize = bool(norm.enabled)
        self.clip = float(norm.clip)
        self.register_buffer("mean", norm.mean32.detach().clone().cpu())
        self.register_buffer("inv_std", norm.inv_std32.detach().clone().cpu())
        self.actor = _copy_module(agent.actor).cpu().eval().requires_grad_(False)
        self.discrete = bool(agent.actor.discrete)
        if not self.discrete:
            self.register_buffer("low", agent.action_low.detach().clone().cpu())
            self.register_buffer("high", agent.action_high.detach().clone().cpu())

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs
        if self.normalize:
            x = torch.clamp((x.float() - self.mean) * self.inv_std, -self.clip, self.clip)
        elif not self.actor.image:
            x = x.float()
        action = self.actor(x)
        if self.discrete:
            return action
        return torch.maximum(torch.minimum(action, self.high), self.low)


def _copy_module(module: nn.Module) -> nn.Module:
    import copy
    return copy.deepcopy(module)


def export_torchscript(policy: DeterministicPolicy, example: torch.Tensor, path: str | Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit deprecation notices
        traced = torch.jit.trace(policy, (example,), check_trace=False)
        with open(path, "wb") as fh:  # opened here: a file that cannot be written is an OSError naming it
            torch.jit.save(traced, fh)
    return Path(path)


ONNX_MISSING = "ONNX not written: {missing} missing (pip install 'trpo-mimic[export]')"


def onnx_missing() -> list[str]:
    """The ONNX exporter's packages that cannot be imported (the ``export`` extra)."""
    import importlib

    missing = []
    for name in ("onnx", "onnxscript"):
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def export_onnx(policy: DeterministicPolicy, example: torch.Tensor, path: str | Path, opset: int = 18) -> Path:
    """ONNX with a dynamic batch axis (needs the ``onnx`` and ``onnxscript`` packages)."""
    path = Path(path)
    batch = torch.export.Dim("batch", min=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(policy, (example,), input_names=["obs"], output_names=["action"],
                                    dynamic_shapes={"obs": {0: batch}}, opset_version=opset, dynamo=True,
                                    external_data=False, verbose=False)
    program.save(str(path))
    return path


def _save(obj: object, path: Path) -> None:
    """torch.save to a file opened here (torch's own opening turns an OSError into a RuntimeError)."""
    with open(path, "wb") as fh:
        torch.save(obj, fh)


def export_checkpoint(checkpoint_path: str | Path, out_dir: str | Path, onnx: bool = True,
                      torchscript: bool = True, notes: list[str] | None = None) -> dict[str, Path]:
    """Write the state_dicts, TorchScript and ONNX policies of a checkpoint (file or run directory).

    Returns {"anet", "cnet", "torchscript", "onnx", "meta"} -> written paths (the last three only
    when asked for; "meta" always). Without the ONNX packages the ONNX file is skipped and a line saying
    so is appended to ``notes``.
    """
    notes = [] if notes is None else notes
    agent, cfg, _ = load_agent(checkpoint_path, "cpu")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    paths["anet"] = out / ANET_FILE
    _save(agent.actor.state_dict(), paths["anet"])
    paths["cnet"] = out / CNET_FILE
    _save(agent.critic.state_dict(), paths["cnet"])

    policy = DeterministicPolicy(agent).eval()
    obs_space = tuple(agent.obs_normalizer.mean.shape)
    example = torch.zeros((2, *obs_space), dtype=torch.uint8 if agent.actor.image else torch.float32)
    if torchscript:
        paths["torchscript"] = export_torchscript(policy, example, out / TORCHSCRIPT_FILE)
    if onnx:
        missing = onnx_missing()
        if missing:  # the state dicts and TorchScript are still written; the caller says what is missing
            notes.append(ONNX_MISSING.format(missing=" and ".join(missing)))
        else:
            paths["onnx"] = export_onnx(policy, example, out / ONNX_FILE)
    space = agent.action_space
    meta = {
        "env_id": cfg.env_id,
        "obs_mode": cfg.obs_mode,
        "observation_shape": list(obs_space),
        "observation_dtype": "uint8" if agent.actor.image else "float32",
        "action_space": ({"type": "Discrete", "n": int(space.n)} if agent.actor.discrete else
                         {"type": "Box", "shape": list(space.shape), "low": np.asarray(space.low).tolist(),
                          "high": np.asarray(space.high).tolist()}),
        "inputs": {"obs": ["batch", *obs_space]},
        "outputs": {"action": ["batch"] if agent.actor.discrete else ["batch", *space.shape]},
        "normalizer": {"enabled": policy.normalize, "clip": policy.clip},
        "files": {k: p.name for k, p in paths.items()},
    }
    paths["meta"] = out / META_FILE
    paths["meta"].write_text(json.dumps(meta, indent=2) + "\n")
    return paths
