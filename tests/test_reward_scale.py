"""--normalize_reward: rewards divided by the running spread of the discounted return (VecNormalize's rule)."""
import numpy as np
import pytest
import torch

from trpo_mimic.checkpoint import load_checkpoint
from trpo_mimic.config import Config
from trpo_mimic.rollout.reward_scale import RewardScaler
from trpo_mimic.train import Trainer


def test_rewards_are_divided_by_the_spread_of_the_discounted_returns_by_hand():
    sc = RewardScaler(num_envs=1, gamma=0.5)
    rewards = np.array([[1.0], [1.0], [1.0]])
    ends = np.array([[False], [True], [False]])
    out = sc(rewards, ends, np.zeros_like(ends))
    # returns seen: 1, 1 + 0.5 = 1.5 (the episode ends: back to 0), then 1; their variance is 1/18
    assert float(sc.stats.mean) == pytest.approx(7 / 6)
    assert float(sc.stats.var) == pytest.approx(1 / 18)
    np.testing.assert_allclose(out, np.sqrt(18) * rewards, rtol=1e-6)
    # the open episode's return carries into the next rollout: 0.5 * 1 + 2 = 2.5
    sc(np.array([[2.0]]), np.array([[False]]), np.array([[False]]))
    assert sc.returns[0] == pytest.approx(2.5)
    assert float(sc.stats.count) == 4
    assert float(sc.stats.mean) == pytest.approx((1 + 1.5 + 1 + 2.5) / 4)


def test_a_truncation_ends_the_return_and_large_rewards_are_clipped():
    sc = RewardScaler(num_envs=2, gamma=1.0, clip=1.0)
    rewards = np.array([[0.0, 100.0], [0.0, -100.0]])
    trunc = np.array([[False, True], [False, False]])
    out = sc(rewards, np.zeros_like(trunc), trunc)
    assert sc.returns.tolist() == [0.0, -100.0]  # env 1: 100, cut by the truncation, then -100
    std = np.sqrt(np.var([0.0, 100.0, 0.0, -100.0]))  # 70.7: 100 / std = 1.41, beyond the bound of 1
    assert float(sc.stats.var) == pytest.approx(std ** 2)
    assert out.tolist() == [[0.0, 1.0], [0.0, -1.0]]


def test_a_run_saves_its_reward_statistics_and_a_resume_restores_them(tmp_path):
    cfg = Config(env_id="Pendulum-v1", num_timesteps=256, num_envs=2, steps_per_env=64, vf_epochs=1,
                 normalize_reward=True, checkpoint_dir=str(tmp_path), run_name="x", progress=False, eval_freq=0,
                 eval_episodes=0, eval_video=False)
    trainer = Trainer(cfg)
    trainer.run()
    ckpt = load_checkpoint(tmp_path / "x" / "latest.pt")
    saved = ckpt["reward_normalizer"]
    assert saved["count"].item() == 256
    # Pendulum's rewards are -16..0 a step: returns of gamma 0.99 spread over far more than 1
    assert saved["var"].item() > 1.0
    resumed = Trainer(Config.from_dict({**ckpt["config"], "resume": str(tmp_path / "x")}))
    try:
        assert torch.equal(resumed.reward_scaler.stats.var, saved["var"])
        assert resumed.reward_scaler.stats.count.item() == 256
    finally:
        resumed.envs.close()
        resumed.logger.close()


def test_without_the_flag_the_checkpoint_holds_no_reward_statistics(tmp_path):
    cfg = Config(env_id="Pendulum-v1", num_timesteps=128, num_envs=2, steps_per_env=64, vf_epochs=1,
                 checkpoint_dir=str(tmp_path), run_name="y", progress=False, eval_freq=0, eval_episodes=0,
                 eval_video=False)
    Trainer(cfg).run()
    assert "reward_normalizer" not in load_checkpoint(tmp_path / "y" / "latest.pt")
