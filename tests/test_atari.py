"""Atari: preprocessing, frame stacking, CNN policies, uint8 rollouts, life loss, CLI train/evaluate."""
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch

pytest.importorskip("ale_py")
pytest.importorskip("cv2")

from trpo_mimic.envs import EnvError, check_env_id, make_env, make_vector_env  # noqa: E402
from trpo_mimic.envs.atari import LifeLossTerminal, is_atari, make_atari_env  # noqa: E402
from trpo_mimic.policies.agent import Agent  # noqa: E402
from trpo_mimic.policies.networks import Actor, Critic, NatureCNN  # noqa: E402
from trpo_mimic.rollout import RolloutCollector  # noqa: E402

from conftest import ROOT  # noqa: E402

IMG = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)


def test_nature_cnn_shapes_and_uint8_scaling():
    torch.manual_seed(0)
    x = torch.randint(0, 256, (3, 4, 84, 84), dtype=torch.uint8)
    trunk = NatureCNN(4)
    assert trunk(x).shape == (3, 512)
    # the scaling to [0, 1] happens inside: uint8 input equals the float input divided by 255
    assert torch.allclose(trunk(x), trunk.net(x.float() / 255.0))
    actor, critic = Actor(IMG, gym.spaces.Discrete(6)), Critic(IMG)
    assert actor.image and critic.image and actor.discrete
    dist = actor.distribution(x)
    assert dist.logits.shape == (3, 6)
    assert actor.sample(x).shape == (3,) and actor(x).shape == (3,)
    assert critic(x).shape == (3,)
    agent = Agent(IMG, gym.spaces.Discrete(6))
    assert not agent.obs_normalizer.enabled  # images are not normalised
    assert agent.act(x.numpy()).shape == (3,)


def test_spaces_and_ids():
    for env_id in ("ALE/Pong-v5", "MsPacmanNoFrameskip-v4"):
        env = make_env(env_id)
        assert is_atari(env_id)
        assert env.observation_space.shape == (4, 84, 84) and env.observation_space.dtype == np.uint8
        assert isinstance(env.action_space, gym.spaces.Discrete)
        obs, _ = env.reset(seed=0)
        assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
        # the emulator does not skip frames itself: AtariPreprocessing does (4)
        assert env.unwrapped._frameskip == 1
        env.close()
    assert not is_atari("CartPole-v1")


def test_frame_stack_newest_last():
    """obs[-1] is the current preprocessed frame (from an identical unstacked env); obs[:-1] == previous obs[1:]."""
    stacked = make_atari_env("ALE/Breakout-v5", frame_stack=4)
    single = make_atari_env("ALE/Breakout-v5", frame_stack=1)
    prev, _ = stacked.reset(seed=3)
    one, _ = single.reset(seed=3)
    np.testing.assert_array_equal(prev[-1], one[0])
    assert all(np.array_equal(prev[i], prev[-1]) for i in range(4))  # padded with the reset frame
    rng = np.random.default_rng(0)
    changed = 0
    for _ in range(40):
        a = int(rng.integers(stacked.action_space.n))
        obs, _, term, trunc, _ = stacked.step(a)
        one, *_ = single.step(a)
        np.testing.assert_array_equal(obs[-1], one[0])
        np.testing.assert_array_equal(obs[:-1], prev[1:])
        changed += not np.array_equal(obs[-1], prev[-1])
        assert not (term or trunc)
        prev = obs
    assert changed > 10  # the frames do move, so the comparisons above mean something
    stacked.close()
    single.close()


def test_life_loss_terminal_in_training_only():
    """Same seed and actions: the training env ends the episode on a lost life, evaluation does not."""
    train_env = make_env("ALE/Breakout-v5", training=True)
    eval_env = make_env("ALE/Breakout-v5", training=False)
    train_env.reset(seed=1)
    eval_env.reset(seed=1)
    rng = np.random.default_rng(1)
    for step in range(3000):
        a = int(rng.integers(4))
        _, _, t_term, t_trunc, t_info = train_env.step(a)
        _, _, e_term, e_trunc, e_info = eval_env.step(a)
        assert t_info["lives"] == e_info["lives"]
        if t_term:
            break
    else:
        pytest.fail("no life lost in 3000 steps")
    assert t_info.get("life_loss") and 0 < t_info["lives"] < 5
    assert not e_term and not e_trunc  # evaluation plays on
    lives = t_info["lives"]
    frame = t_info["episode_frame_number"]
    # the next reset continues the same game (same number of lives, frame counter goes on)
    _, info = train_env.reset()
    assert info["lives"] == lives and info["episode_frame_number"] > frame
    # a whole game ends with its total score in info
    while True:
        _, _, term, trunc, info = train_env.step(int(rng.integers(4)))
        if term and not info.get("life_loss"):
            break
        if term:
            train_env.reset()
    assert info["lives"] == 0 and "game_return" in info and info["game_length"] > 0
    assert any(isinstance(w, LifeLossTerminal) for w in _wrappers(train_env))
    assert not any(isinstance(w, LifeLossTerminal) for w in _wrappers(eval_env))
    train_env.close()
    eval_env.close()


def _wrappers(env):
    while isinstance(env, gym.Wrapper):
        yield env
        env = env.env


def test_rollout_stores_uint8_and_auto_picks_async():
    envs = make_vector_env("ALE/Pong-v5", 2)
    try:
        assert isinstance(envs, gym.vector.AsyncVectorEnv)
        agent = Agent(envs.single_observation_space, envs.single_action_space)
        roll = RolloutCollector(envs, agent, "ALE/Pong-v5", seed=0).collect(8)
    finally:
        envs.close()
    assert roll.obs.dtype == np.uint8 and roll.obs.shape == (8, 2, 4, 84, 84)
    obs = np.asarray(roll.obs)
    assert obs.dtype == np.uint8 and obs.shape == (8, 2, 4, 84, 84)
    np.testing.assert_array_equal(obs[1:, :, :-1], obs[:-1, :, 1:])  # no episode ended here
    # each frame stored once: the first (reset) stacks hold one frame four times, then one new frame
    # per env and step
    assert roll.obs.count == 8 * 2
    assert roll.obs.frames.dtype == np.uint8
    assert roll.obs.nbytes < 0.4 * obs.nbytes


def test_missing_ale_py_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ale_py", None)  # `import ale_py` now raises ImportError
    with pytest.raises(EnvError, match="needs the ale-py package.*pip install ale-py"):
        check_env_id("ALE/Pong-v5")
    with pytest.raises(EnvError, match="ale-py"):
        make_env("BreakoutNoFrameskip-v4")


def test_missing_ale_py_from_the_cli(cli_process, tmp_path):
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['ale_py'] = None\n")
    r = cli_process("train", "--env_id", "ALE/Pong-v5", env={"PYTHONPATH": f"{tmp_path}:{ROOT / 'src'}"}, timeout=60)
    assert r.returncode == 2, r.stderr
    assert "needs the ale-py package" in r.stderr and "Traceback" not in r.stderr


def test_cli_train_then_evaluate_video_of_original_frames(cli, tmp_path):
    r = cli("train", "--env_id", "ALE/Pong-v5", "--num_envs", "2", "--steps_per_env", "16", "--num_timesteps", "64",
            "--vf_epochs", "1", "--vf_batch_size", "16", "--max_kl", "0.001", "--eval_episodes", "0",
            "--max_episode_steps", "20", "--save_per_iter", "1", "--no-progress",
            "--checkpoint_dir", str(tmp_path), "--run_name", "pong", timeout=180)
    assert r.returncode == 0, r.stderr
    assert "iter 2 | steps 64" in r.stdout
    run = tmp_path / "pong"
    ckpt = torch.load(run / "latest.pt", weights_only=True)
    assert ckpt["actor"]["trunk.net.0.weight"].shape == (32, 4, 8, 8)
    r = cli("evaluate", "--load_model_path", str(run), "--num_eval_episodes", "1", "--record_video",
            "--video_dir", str(tmp_path / "vid"), "--max_episode_steps", "50", "--no-progress", timeout=120)
    assert r.returncode == 0, r.stderr
    assert "episodes: 1" in r.stdout and "length:   50.0" in r.stdout
    videos = list((tmp_path / "vid").glob("*.mp4"))
    assert len(videos) == 1
    import imageio.v2 as imageio
    reader = imageio.get_reader(videos[0])
    try:
        frames = np.stack([f for f in reader])  # (list() would ask len(), which is inf for ffmpeg)
    finally:
        reader.close()
    assert frames.shape[1:3] == (210, 160)  # the emulator's own screen, not the 84x84 input
    assert frames.shape[0] == 51  # the reset frame and one per step

