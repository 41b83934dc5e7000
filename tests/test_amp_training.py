"""Adversarial motion priors in training (issue 41): a run on an AMP scene logs the discriminator, saves it, and a
resumed run goes on exactly as one that was never stopped."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from trpo_mimic.config import Config
from trpo_mimic.train import train


def config(tmp_path, name, steps, **kw):
    return Config(**{"env_id": "DeepMimicAMP-v0", "motion_file": ["humanoid3d_walk.txt"], "amp": True,
                     "action_mode": "absolute", "num_envs": 2, "steps_per_env": 32, "num_timesteps": steps,
                     "max_episode_steps": 40, "vf_epochs": 1, "checkpoint_dir": str(tmp_path), "run_name": name,
                     "progress": False, "eval_freq": 0, "eval_video": False, "save_per_iter": 1,
                     "amp_buffer_size": 100, **kw})


def rows(path):
    with open(path / "progress.csv") as f:
        return list(csv.DictReader(f))


def same(a, b):
    """Nested checkpoint states equal, bit for bit."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    return a == b


def test_an_amp_run_logs_and_saves_its_discriminator_and_a_resume_restores_it_exactly(tmp_path):
    from trpo_mimic.train import Trainer
    train(config(tmp_path, "run", 256))
    log = [r for r in rows(tmp_path / "run") if r.get("iteration")]
    assert len(log) == 4
    for k in ("AMP/DiscLoss", "AMP/GradPenalty", "AMP/AccExpert", "AMP/AccAgent", "AMP/StyleReward",
              "AMP/TaskReward", "AMP/Reward"):
        assert all(np.isfinite(float(r[k])) for r in log), k
    assert float(log[-1]["AMP/TaskReward"]) == 0.0  # imitation alone: no task reward
    saved = torch.load(tmp_path / "run" / "latest.pt", weights_only=True)["amp"]
    assert saved["buffer"]["data"].shape == (100, 266)  # full: 256 transitions seen, 100 kept
    trainer = Trainer(config(tmp_path, "run", 512, resume=str(tmp_path / "run")))
    try:
        (ext,) = trainer.extensions
        assert same(ext.state_dict(), saved)  # discriminator, optimiser, normaliser, buffer, generator
    finally:
        trainer.close({})


def test_amp_is_refused_without_a_scene_and_the_refused_run_leaves_nothing(tmp_path):
    cfg = config(tmp_path, "plain", 64, env_id="DeepMimic-v0")
    with pytest.raises(ValueError, match="needs one of the AMP scenes"):
        train(cfg)
    assert list(tmp_path.iterdir()) == []  # no run directory, no lock file left behind
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("kept")
    with pytest.raises(ValueError, match="needs one of the AMP scenes"):
        train(config(tmp_path, "mine", 64, env_id="DeepMimic-v0"))
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]  # a folder it did not make stays


def test_a_policy_file_keeps_the_discriminator_and_a_warm_start_takes_it(tmp_path, capsys):
    """`export --pretrained` of an AMP run keeps the discriminator and its normaliser (not its optimiser or
    buffer); a new run from that file starts with them; from a file without them, it says so."""
    from trpo_mimic.checkpoint import EXTENSION_WEIGHTS, write_policy_file
    from trpo_mimic.train import Trainer
    train(config(tmp_path, "run", 128, amp_hidden=[32]))
    saved = torch.load(tmp_path / "run" / "latest.pt", weights_only=True)
    policy = write_policy_file(tmp_path / "run" / "latest.pt", tmp_path / "amp_policy.pt")
    kept = torch.load(policy, weights_only=True)[EXTENSION_WEIGHTS]["amp"]
    assert set(kept) == {"settings", "dim", "net", "norm"}
    assert same(kept["net"], saved["amp"]["net"]) and same(kept["norm"], saved["amp"]["norm"])
    trainer = Trainer(config(tmp_path, "warm", 256, pretrained_weight_path=str(policy), amp_hidden=[32]))
    try:
        (ext,) = trainer.extensions
        assert same(ext.amp.net.state_dict(), saved["amp"]["net"])
        assert same(ext.amp.norm.state_dict(), saved["amp"]["norm"])
        assert ext.amp.buffer.size == 0  # the buffer fills again from the new run's transitions
    finally:
        trainer.close({})
    assert "no amp weights" not in capsys.readouterr().err
    # a policy file without them (trained without --amp's extension weights) warm-starts the policy alone, and says so
    bare = torch.load(policy, weights_only=True)
    del bare[EXTENSION_WEIGHTS]
    torch.save(bare, tmp_path / "bare.pt")
    trainer = Trainer(config(tmp_path, "cold", 256, pretrained_weight_path=str(tmp_path / "bare.pt"),
                             amp_hidden=[32]))
    trainer.close({})
    assert f"note: {tmp_path / 'bare.pt'} holds no amp weights; they start afresh" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"hidden sizes \(32,\), this run's \(16,\)"):
        Trainer(config(tmp_path, "other", 256, pretrained_weight_path=str(policy), amp_hidden=[16]))
