"""A training extension (tasks.TrainingExtension: what a reward source such as adversarial motion priors plugs in
as) gets the per-step info it asks for, replaces the rewards the advantages are computed from, adds its update's
scalars to the log, and its state travels in the checkpoint and back on a resume; the hooks run in order."""
from __future__ import annotations

import csv

import numpy as np
import torch

from trpo_mimic.checkpoint import load_checkpoint
from trpo_mimic.config import Config
from trpo_mimic.tasks import Task, TrainingExtension
from trpo_mimic.train import Trainer
from trpo_mimic.train_hooks import Hook


class BigReward(TrainingExtension):
    key = "big_reward"
    info_keys = ("reward_forward", "reward_ctrl")

    def __init__(self) -> None:
        self.updates, self.loaded = 0, None

    def rewards(self, rollout, rewards):
        self.seen, self.extras = rewards.copy(), rollout.extras
        return rewards + 1000.0

    def update(self, rollout, batch):
        self.updates += 1
        self.returns = batch.returns.clone()
        return {"Big/updates": float(self.updates)}

    def state_dict(self):
        return {"updates": torch.tensor(self.updates)}

    def load_state_dict(self, state):
        self.loaded = state


def config(tmp_path, **kw):
    return Config(**{"env_id": "Pendulum-v1", "num_envs": 2, "steps_per_env": 16, "num_timesteps": 64,
                     "vf_epochs": 1, "checkpoint_dir": str(tmp_path), "run_name": "r", "progress": False,
                     "eval_freq": 0, "eval_video": False, "save_per_iter": 1, "gamma": 0.9, "lam": 0.9, **kw})


def test_an_extension_replaces_the_rewards_logs_and_is_saved_and_restored(tmp_path, monkeypatch):
    made = []
    monkeypatch.setattr(Task, "extensions", lambda self, cfg, envs, agent: made.append(BigReward()) or made[-1:])
    order = []

    class Note(Hook):
        def __init__(self, name):
            self.name = name

        def after_iteration(self, trainer, scalars, bar):
            order.append(self.name)
            return False

    own = Trainer.make_hooks
    monkeypatch.setattr(Trainer, "make_hooks", lambda self: own(self) + [Note("a"), Note("b")])
    trainer = Trainer(config(tmp_path, env_id="HalfCheetah-v5"))
    trainer.run()
    ext = made[0]
    assert ext.extras["reward_forward"].shape == (16, 2) and ext.updates == 2  # every step, every env
    # the env's own rewards came in, and the info the extension asked for is of the same steps ...
    assert np.allclose(ext.seen, ext.extras["reward_forward"] + ext.extras["reward_ctrl"], atol=1e-5)
    assert ext.returns.min() > 900  # ... and the returns were computed from the extension's (1000 more per step)
    assert order == ["a", "b", "a", "b"]
    rows = list(csv.DictReader(open(tmp_path / "r" / "progress.csv")))
    assert [float(r["Big/updates"]) for r in rows if r["Big/updates"]] == [1.0, 2.0]
    ckpt = load_checkpoint(tmp_path / "r" / "latest.pt")
    assert int(ckpt["big_reward"]["updates"]) == 2
    Trainer(config(tmp_path, env_id="HalfCheetah-v5", resume=str(tmp_path / "r"), num_timesteps=96)).run()
    assert int(made[1].loaded["updates"]) == 2 and made[1].updates == 1
