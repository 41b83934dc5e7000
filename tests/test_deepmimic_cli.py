"""The DeepMimic environment through the command line: training, evaluation, play-motion."""
import imageio.v2 as imageio
import torch

from deepmimic_util import clip_path, motions_dir


def test_two_iteration_trpo_on_walk_from_cli(cli, tmp_path):
    motions = motions_dir()
    r = cli("train", "--env_id", "DeepMimicWalk-v0", "--motion_dir", str(motions), "--num_timesteps", "128",
            "--num_envs", "2", "--steps_per_env", "32", "--vf_epochs", "1", "--save_per_iter", "1",
            "--checkpoint_dir", str(tmp_path), "--run_name", "walk", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "iter 2 | steps 128" in r.stdout
    ckpt = torch.load(tmp_path / "walk" / "latest.pt", weights_only=True)
    assert ckpt["actor"]["body.0.weight"].shape[1] == 197  # DeepMimic observation
    assert ckpt["actor"]["log_std"].shape == (28,)
    r = cli("evaluate", "--load_model_path", str(tmp_path / "walk"), "--num_eval_episodes", "2",
            "--max_episode_steps", "20")
    assert r.returncode == 0, r.stderr
    assert "reward_pose" in r.stdout and "episodes: 2" in r.stdout
    r = cli("evaluate", "--load_model_path", str(tmp_path / "walk"), "--num_eval_episodes", "2",
            "--max_episode_steps", "90", "--push_sweep")
    assert r.returncode == 0, r.stderr
    assert "push    50.0 N:" in r.stdout and "largest push survived" in r.stdout  # an untrained policy: under 50 N
    r = cli("evaluate", "--load_model_path", str(tmp_path / "walk"), "--push", "-5")
    assert r.returncode == 2 and r.stderr.strip() == "trpo-mimic: error: --push must be a non-negative force in newtons, got -5.0"


def test_compact_mode_matches_port_sizes_from_cli(cli, tmp_path):
    r = cli("train", "--env_id", "DeepMimic-v0", "--motion_file", str(clip_path("run")), "--obs_mode", "compact",
            "--policy_hidden_size", "100", "--num_timesteps", "64", "--num_envs", "2", "--steps_per_env", "32",
            "--vf_epochs", "1", "--checkpoint_dir", str(tmp_path), "--run_name", "c", "--no-progress")
    assert r.returncode == 0, r.stderr
    ckpt = torch.load(tmp_path / "c" / "latest.pt", weights_only=True)
    assert sum(v.numel() for v in ckpt["actor"].values()) == 18_656
    assert sum(v.numel() for v in ckpt["critic"].values()) == 15_901


def test_missing_clip_and_bad_clip_exit_2(cli, tmp_path):
    # a clip the package does not ship, looked for everywhere
    r = cli("train", "--env_id", "DeepMimic-v0", "--motion_file", "humanoid3d_moonwalk.txt", "--motion_dir",
            str(tmp_path / "none"), "--no-progress", cwd=tmp_path,
            env={"TRPO_MIMIC_MOTION_DIR": str(tmp_path / "also-none")})
    assert r.returncode == 2 and "humanoid3d_moonwalk.txt" in r.stderr and "Traceback" not in r.stderr
    assert str(tmp_path / "none") in r.stderr and str(tmp_path / "also-none") in r.stderr
    bad = tmp_path / "bad.txt"
    bad.write_text('{"Loop": "wrap", "Frames": [[0.1, 0, 1], [0.1, 0, 1]]}')
    r = cli("train", "--env_id", "DeepMimic-v0", "--motion_file", str(bad), "--no-progress", cwd=tmp_path)
    assert r.returncode == 2 and "bad.txt" in r.stderr and "frame 0" in r.stderr and "Traceback" not in r.stderr


def test_play_motion_writes_a_decodable_video(cli, tmp_path):
    out = tmp_path / "walk.mp4"
    r = cli("play-motion", str(clip_path("walk")), "--out", str(out))
    assert r.returncode == 0, r.stderr
    frames = [f for f in imageio.get_reader(out)]  # (list() would ask len(), which is inf for ffmpeg)
    # walk: 1.27 s at 30 fps
    assert abs(len(frames) - round(1.27 * 30)) <= 1
    assert frames[0].shape == (480, 640, 3) and frames[0].std() > 1


def test_factory_picks_native_vector_env_for_deepmimic():
    from trpo_mimic.envs import EnvError, make_vector_env
    from trpo_mimic.mimic.vector import DeepMimicVectorEnv
    import gymnasium as gym
    import pytest
    envs = make_vector_env("DeepMimicWalk-v0", 3, motion_dir=str(motions_dir()), max_episode_steps=7)
    assert isinstance(envs, DeepMimicVectorEnv)
    envs.reset(seed=0)
    for _ in range(7):
        _, _, term, trunc, _ = envs.step(envs.action_space.sample() * 0)
    assert (term | trunc).all()  # time limit of 7 steps (if nothing fell first)
    envs.close()
    sync = make_vector_env("DeepMimicWalk-v0", 2, vec_env="sync", motion_dir=str(motions_dir()))
    assert isinstance(sync, gym.vector.SyncVectorEnv)
    sync.close()
    with pytest.raises(EnvError, match="exists for the DeepMimic environments and for Hopper-v5"):
        make_vector_env("CartPole-v1", 2, vec_env="native")


def test_several_clips_sampled_per_episode_with_clip_id_and_per_clip_evaluation(cli, tmp_path):
    import json
    import numpy as np
    from trpo_mimic.mimic import DeepMimicEnv, MotionError
    walk, run = clip_path("walk"), clip_path("run")
    env = DeepMimicEnv(motion_file=[str(walk), str(run)], clip_id_obs=True)
    assert env.observation_space.shape == (199,)
    seen = set()
    for s in range(12):
        obs, info = env.reset(seed=s)
        seen.add(info["clip"])
        assert obs[-2:].tolist() == ([1.0, 0.0] if info["clip"] == 0 else [0.0, 1.0])
        _, _, _, _, step_info = env.step(np.zeros(28))
        assert step_info["clip"] == info["clip"]
    assert seen == {0, 1}
    motion_set = tmp_path / "set.json"
    motion_set.write_text(json.dumps({"Motions": [{"File": str(walk), "Weight": 0.0}, {"File": str(run), "Weight": 2}]}))
    env = DeepMimicEnv(motion_file=str(motion_set))
    assert {env.reset(seed=s)[1]["clip"] for s in range(6)} == {1}  # weight 0 is never sampled
    bad = tmp_path / "bad_set.json"
    bad.write_text(json.dumps({"Motions": [{"File": str(walk), "Weight": -1}]}))
    import pytest
    with pytest.raises(MotionError, match="bad_set.json: motion 0, field 'Weight'"):
        DeepMimicEnv(motion_file=str(bad))
    r = cli("train", "--env_id", "DeepMimic-v0", "--motion_file", str(walk), str(run), "--clip_id_obs",
            "--num_timesteps", "64", "--num_envs", "2", "--steps_per_env", "32", "--vf_epochs", "1",
            "--eval_episodes", "0", "--checkpoint_dir", str(tmp_path), "--run_name", "multi", "--no-progress")
    assert r.returncode == 0, r.stderr
    r = cli("evaluate", "--load_model_path", str(tmp_path / "multi"), "--num_eval_episodes", "6",
            "--max_episode_steps", "10")
    assert r.returncode == 0, r.stderr
    assert "clip humanoid3d_walk" in r.stdout and "clip humanoid3d_run" in r.stdout
    # a clip sequence: walk, run, walk, 0.2 s (6 steps) each, in one episode
    r = cli("evaluate", "--load_model_path", str(tmp_path / "multi"), "--num_eval_episodes", "2",
            "--clip_sequence", "walk", "run", "walk", "--switch_seconds", "0.2")
    assert r.returncode == 0, r.stderr
    assert "falls at a clip switch (within 1 s of it):" in r.stdout and "length:   18.0" in r.stdout
    r = cli("evaluate", "--load_model_path", str(tmp_path / "multi"), "--clip_sequence", "walk", "jump")
    assert r.returncode != 0 and r.stderr.count("\n") == 1 and "no single clip named 'jump'" in r.stderr
    from trpo_mimic.checkpoint import load_agent
    from trpo_mimic.evaluate import evaluate_policy
    agent, cfg, _ = load_agent(str(tmp_path / "multi"), "cpu")
    for sequence in (None, ["run", "walk"]):  # per-clip statistics add up to the whole
        cfg.clip_sequence, cfg.switch_seconds, cfg.max_episode_steps = sequence, 0.3, 12
        res, _ = evaluate_policy(agent, cfg, 4, 3, progress=False)
        per = res.per_clip()
        assert sum(c["steps"] for c in per.values()) == sum(res.lengths)
        assert abs(sum(c["reward"] for c in per.values()) - sum(res.returns)) < 1e-9
        assert sum(c["falls"] for c in per.values()) == sum(res.terminated)
        if sequence:
            assert set(per) == {"humanoid3d_run.txt", "humanoid3d_walk.txt"} and res.switch_falls is not None
            assert all(c["episodes"] == 4 for c in per.values()) or sum(res.terminated) > 0


def test_root_drift_is_a_training_device_only(monkeypatch):
    """Training envs get --max_root_drift; the evaluation env does not (it ends an episode only on a fall)."""
    import numpy as np
    import trpo_mimic.evaluate as ev
    from trpo_mimic.config import Config
    from trpo_mimic.envs import env_kwargs_from_config, make_env, make_vector_env
    from trpo_mimic.checkpoint import build_agent
    cfg = Config(env_id="DeepMimicWalk-v0", motion_file=[str(clip_path("walk"))], max_root_drift=0.3,
                 max_episode_steps=3)
    assert env_kwargs_from_config(cfg)["max_root_drift"] == 0.3
    built = []

    def spy(env_id, **kwargs):
        built.append(kwargs)
        return make_env(env_id, **kwargs)

    def spy_vector(env_id, num_envs, vec_env, limit, **kwargs):
        built.append(kwargs)
        return make_vector_env(env_id, num_envs, vec_env, limit, **kwargs)

    monkeypatch.setattr(ev, "make_env", spy)
    monkeypatch.setattr(ev, "make_vector_env", spy_vector)
    env = make_env(cfg.env_id, **env_kwargs_from_config(cfg))
    assert env.unwrapped.options.in_force("max_root_drift") == 0.3
    agent = build_agent(cfg, env.observation_space, env.action_space)
    env.close()
    result, _ = ev.evaluate_policy(agent, cfg, 1, 0, progress=False)
    assert built[0]["mode"] == "eval" and np.isfinite(result.returns).all()
    ev_env = make_env(cfg.env_id, **{k: v for k, v in built[0].items() if k not in ("env_threads", "training")})
    assert ev_env.unwrapped.options.max_root_drift == 0.3 and ev_env.unwrapped.options.in_force("max_root_drift") is None


def test_pd_clamp_flag_reaches_the_env_and_the_preset_sets_it():
    """--pd_clamp total goes to the DeepMimic env; the preset sets it; without it the env takes DeepMimic's law
    (total); a bad value is refused by the parser."""
    from pathlib import Path

    import pytest

    from trpo_mimic.cli import parse
    from trpo_mimic.config import Config
    from trpo_mimic.envs import env_kwargs_from_config
    from trpo_mimic.mimic.core import TaskOptions
    root = Path(__file__).resolve().parents[1]
    _, opts = parse(["train", "--arg_file", str(root / "configs" / "deepmimic.txt"), "--arg_file",
                     str(root / "configs" / "skills" / "run.txt")])
    assert opts["pd_clamp"] == "total"
    cfg = Config(env_id="DeepMimic-v0", motion_file=[str(clip_path("run"))], pd_clamp="total")
    assert env_kwargs_from_config(cfg)["pd_clamp"] == "total"
    assert "pd_clamp" not in env_kwargs_from_config(Config(env_id="DeepMimic-v0"))
    assert TaskOptions().pd_clamp == "total"
    with pytest.raises(SystemExit):
        parse(["train", "--env_id", "DeepMimic-v0", "--pd_clamp", "both"])


def test_a_run_records_its_pd_law_and_one_saved_without_it_reads_as_split(tmp_path):
    """A DeepMimic run's config holds the law it trained under, the default included; a config saved before
    the default became total (no pd_clamp) reads back as split, the law it was trained under, for evaluation
    and resumes alike; other envs are left alone."""
    from trpo_mimic.checkpoint import load_agent, load_checkpoint, upgrade_config
    from trpo_mimic.config import Config
    from trpo_mimic.train import Trainer
    cfg = Config(env_id="DeepMimic-v0", motion_file=[str(clip_path("walk"))], num_timesteps=32, num_envs=2,
                 steps_per_env=16, vf_epochs=1, eval_freq=0, eval_episodes=0, eval_video=False,
                 checkpoint_dir=str(tmp_path), run_name="r", progress=False)
    assert cfg.pd_clamp is None
    tr = Trainer(cfg)
    assert tr.envs.core.options.pd_clamp == "total"
    tr.run()
    ckpt = load_checkpoint(tmp_path / "r")
    assert ckpt["config"]["pd_clamp"] == "total"
    old = dict(ckpt)
    old["config"] = {k: v for k, v in ckpt["config"].items() if k != "pd_clamp"}  # as saved before the default
    torch.save(old, tmp_path / "old.pt")
    assert load_checkpoint(tmp_path / "old.pt")["config"]["pd_clamp"] == "split"
    _, saved_cfg, _ = load_agent(tmp_path / "old.pt")
    assert saved_cfg.pd_clamp == "split"
    assert "pd_clamp" not in upgrade_config({"env_id": "Pendulum-v1"})


def test_evaluate_refuses_a_setting_it_would_ignore(cli):
    """A task option that is the policy's own (not one evaluate may change) is an error when it differs from the
    checkpoint's, never taken and ignored; the same value, or one evaluate may change, is accepted."""
    r = cli("evaluate", "--pretrained", "jump", "--num_eval_episodes", "1", "--max_episode_steps", "5",
            "--pd_clamp", "split")
    assert r.returncode == 2 and r.stderr.strip().startswith(
        "trpo-mimic: error: --pd_clamp is the policy's own setting (its checkpoint: 'total'); evaluate changes only "
        "--max_episode_steps, ")
    r = cli("evaluate", "--pretrained", "jump", "--num_eval_episodes", "1", "--max_episode_steps", "5",
            "--pd_clamp", "total", "--ground_snap", "0.05")
    assert r.returncode == 0, r.stderr
