"""Nothing lost when a run is killed; resume is exact; numerical faults are contained (issue 5)."""
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from conftest import ROOT
from trpo_mimic.checkpoint import load_checkpoint
from trpo_mimic.config import Config
from trpo_mimic.envs import make_env, make_vector_env
from trpo_mimic.envs.wrappers import NonFiniteError
from trpo_mimic.evaluate import evaluate_policy, load_agent
from trpo_mimic.train import Trainer

FAST = ["--num_envs", "2", "--steps_per_env", "32", "--vf_epochs", "1", "--no-progress", "--eval_freq", "0",
        "--no-eval_video"]


def start_training(run_root: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "trpo_mimic", "train", "--env_id", "Pendulum-v1",
                             "--num_timesteps", "10000000", "--save_per_iter", "1", "--keep_checkpoints", "3",
                             "--checkpoint_dir", str(run_root), "--run_name", "r", *FAST, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for(path: Path, timeout: float = 60) -> None:
    t0 = time.time()
    while not path.exists():
        if time.time() - t0 > timeout:
            raise TimeoutError(path)
        time.sleep(0.05)


def test_sigkill_at_random_points_never_corrupts_latest(tmp_path, cli):
    rng = random.Random(1234)
    latest = tmp_path / "r" / "latest.pt"
    last_iter = 0
    for attempt in range(4):
        extra = ["--resume", str(tmp_path / "r")] if attempt else []
        proc = start_training(tmp_path, *extra)
        try:
            wait_for(latest)
            time.sleep(rng.uniform(0.2, 1.5))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
        assert proc.returncode == -signal.SIGKILL
        ckpt = load_checkpoint(latest)  # always loads
        assert ckpt["iteration"] >= last_iter
        last_iter = ckpt["iteration"]
        assert len(list((tmp_path / "r").glob("iter_*.pt"))) <= 4  # --keep_checkpoints 3 (+1 being written)
    r = cli("train", "--resume", str(tmp_path / "r"), "--num_timesteps", str(ckpt["timesteps"] + 64), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert load_checkpoint(latest)["iteration"] == last_iter + 1
    assert not list((tmp_path / "r").glob(".*.tmp"))  # temp files of interrupted saves are cleaned up


def test_sigterm_saves_a_checkpoint(tmp_path):
    proc = start_training(tmp_path)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("iter 3 "):
                break
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    run = tmp_path / "r"  # one line, once the checkpoint is saved (issue 40)
    assert err.strip().splitlines() == [f"trpo-mimic: interrupted by SIGTERM; saved {run / 'latest.pt'} (--resume "
                                        f"{run} continues the run)"], err
    ckpt = load_checkpoint(tmp_path / "r" / "latest.pt")
    assert ckpt["iteration"] >= 3


def test_resume_restores_normaliser_and_evaluation_exactly(tmp_path):
    cfg = Config(env_id="Pendulum-v1", num_timesteps=256, num_envs=2, steps_per_env=64, vf_epochs=1,
                 checkpoint_dir=str(tmp_path), run_name="x", progress=False, eval_freq=0, eval_video=False)
    Trainer(cfg).run()
    agent, saved_cfg, ckpt = load_agent(tmp_path / "x")
    before, _ = evaluate_policy(agent, saved_cfg, 2, seed=99, progress=False)
    assert ckpt["obs_normalizer"]["count"].item() == 256
    resumed = Trainer(Config.from_dict({**ckpt["config"], "resume": str(tmp_path / "x")}))
    assert torch.equal(resumed.agent.obs_normalizer.mean, ckpt["obs_normalizer"]["mean"])
    after, _ = evaluate_policy(resumed.agent, resumed.cfg, 2, seed=99, progress=False)
    resumed.envs.close()
    resumed.logger.close()
    assert after.returns == before.returns  # exactly, not approximately
    assert resumed.iteration == 2 and resumed.timesteps == 256
    assert resumed.algo.optimizer.state_dict()["state"][0]["step"].item() > 0


def test_keep_checkpoints_prunes_old_numbered_files(tmp_path, cli):
    r = cli("train", "--env_id", "CartPole-v1", "--num_timesteps", "384", "--save_per_iter", "1",
            "--keep_checkpoints", "2", "--checkpoint_dir", str(tmp_path), "--run_name", "k", *FAST)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "k").glob("*.pt")) == ["iter_5.pt", "iter_6.pt", "latest.pt"]


class NaNAfter(gym.Wrapper):
    """Produces a NaN observation at the 5th step of every episode."""

    def reset(self, *, seed=None, options=None):
        self.n = 0
        return self.env.reset(seed=seed, options=options)

    def step(self, a):
        obs, r, term, trunc, info = self.env.step(a)
        self.n += 1
        if self.n == 5:
            obs = obs * np.nan
        return obs, r, term, trunc, info


@pytest.fixture
def nan_env_id():
    env_id = "NaNPendulum-v0"
    if env_id not in gym.envs.registration.registry:
        gym.register(env_id, entry_point=lambda **kw: NaNAfter(gym.make("Pendulum-v1", **kw).unwrapped),
                     max_episode_steps=200)
    return env_id


def test_non_finite_observation_raises_naming_env_and_step(nan_env_id):
    env = make_env(nan_env_id)
    env.reset(seed=0)
    with pytest.raises(NonFiniteError, match=r"NaNPendulum-v0: non-finite observation at step 5 of the episode"):
        for _ in range(10):
            env.step(env.action_space.sample())


def test_non_finite_episodes_can_be_terminated_and_counted(nan_env_id, tmp_path):
    cfg = Config(env_id=nan_env_id, num_timesteps=64, num_envs=2, steps_per_env=32, vf_epochs=1, nonfinite="terminate",
                 checkpoint_dir=str(tmp_path), run_name="n", progress=False, eval_freq=0, eval_video=False)
    tr = Trainer(cfg)
    scalars = tr.iterate()
    tr.envs.close()
    tr.logger.close()
    assert scalars["Rollout/NonFiniteEpisodes"] == 2 * 6  # each env: episodes of 5 steps in 32 steps
    assert scalars["Rollout/EpisodeLength"] == 5
    assert np.isfinite(scalars["TRPO/value_loss"])


def test_interrupt_during_evaluation_is_not_swallowed(tmp_path, monkeypatch):
    import trpo_mimic.evaluate as ev
    from trpo_mimic.train import Interrupted
    cfg = Config(env_id="Pendulum-v1", num_timesteps=64, num_envs=2, steps_per_env=32, vf_epochs=1,
                 checkpoint_dir=str(tmp_path), run_name="i", progress=False, eval_freq=1, eval_episodes=1)

    real = ev.evaluate_policy
    calls = []

    def interrupted_once(*args, **kwargs):  # a signal arriving while the first evaluation runs
        calls.append(1)
        if len(calls) == 1:
            raise Interrupted("SIGTERM")
        return real(*args, **kwargs)

    monkeypatch.setattr(ev, "evaluate_policy", interrupted_once)
    with pytest.raises(Interrupted):
        Trainer(cfg).run()
    assert len(calls) == 1  # not retried as if it were a video problem
    assert load_checkpoint(tmp_path / "i")["iteration"] == 1  # saved on the way out


def test_a_sigterm_during_a_checkpoint_write_waits_for_its_end(tmp_path, monkeypatch):
    """A signal raised inside torch.save would surface as a failed write (exit 1, the save lost): the trainer
    holds it until the checkpoint is written, then stops as for any SIGTERM, with both files complete."""
    import trpo_mimic.train as train_mod
    from trpo_mimic.train import Interrupted
    real = train_mod.save_checkpoint
    calls = []

    def save_with_a_signal_inside(path, payload):
        calls.append(Path(path).name)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # delivered here, in the middle of the write
            time.sleep(0.01)
        return real(path, payload)

    monkeypatch.setattr(train_mod, "save_checkpoint", save_with_a_signal_inside)
    cfg = Config(env_id="Pendulum-v1", num_timesteps=10_000, num_envs=2, steps_per_env=32, vf_epochs=1,
                 save_per_iter=1, checkpoint_dir=str(tmp_path), run_name="s", progress=False, eval_freq=0,
                 eval_episodes=0, eval_video=False)
    with pytest.raises(Interrupted, match="SIGTERM"):
        Trainer(cfg).run()
    assert calls[:2] == ["latest.pt", "iter_1.pt"]  # the interrupted save finished both files first
    assert load_checkpoint(tmp_path / "s" / "iter_1.pt")["iteration"] == 1
    assert load_checkpoint(tmp_path / "s" / "latest.pt")["iteration"] == 1
    assert signal.getsignal(signal.SIGTERM) is not None
