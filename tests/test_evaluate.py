"""Evaluation: batched episodes equal to the same episodes played one after another; bounded, cheap videos."""
from __future__ import annotations

import numpy as np
import pytest

from deepmimic_util import clip_path
from trpo_mimic.checkpoint import build_agent
from trpo_mimic.config import Config
from trpo_mimic.envs import env_kwargs_from_config, make_env, make_vector_env
from trpo_mimic.envs.offscreen import SAMPLES, SHADOW_SIZE
from trpo_mimic.evaluate import evaluate_policy
from trpo_mimic.evaluation.episodes import run_episodes, run_episodes_batched
from trpo_mimic.evaluation.live import takes_frame_size
from trpo_mimic.tasks import task_for


def _agent(cfg: Config):
    env = make_env(cfg.env_id, **env_kwargs_from_config(cfg, training=False))
    agent = build_agent(cfg, env.observation_space, env.action_space)
    env.close()
    return agent


@pytest.mark.parametrize("env_id,limit", [("Hopper-v5", 400), ("DeepMimicWalk-v0", 60)])
def test_batched_episodes_are_the_sequential_ones(env_id, limit):
    """Sub-env i of the batched evaluation (reset with seed + i) plays episode i of the sequential one: the same
    returns, lengths, ends and per-step terms, to the rounding of batched maths; the first ones end early (the
    Hopper falls, the walk's random policy falls), so finished sub-envs must not be counted on."""
    extra = {"motion_file": [str(clip_path("walk"))]} if env_id.startswith("DeepMimic") else {}
    cfg = Config(env_id=env_id, max_episode_steps=limit, **extra)
    agent = _agent(cfg)
    kwargs = env_kwargs_from_config(cfg, training=False)
    one = make_env(env_id, max_episode_steps=limit, **kwargs)
    seq, _ = run_episodes(agent, one, 4, True, 7, progress=False, task=task_for(env_id))
    envs = make_vector_env(env_id, 4, "auto", limit, training=False, **kwargs)
    bat = run_episodes_batched(agent, envs, True, 7, task_for(env_id), progress=False)
    one.close()
    envs.close()
    assert bat.lengths == seq.lengths and bat.terminated == seq.terminated
    np.testing.assert_allclose(bat.returns, seq.returns, rtol=1e-6)
    assert set(bat.term_means) == set(seq.term_means)
    for k in seq.term_means:
        assert bat.term_means[k] == pytest.approx(seq.term_means[k], rel=1e-6)
    assert len(set(seq.lengths)) > 1 and any(seq.terminated)  # some ended early, at different steps
    res, arrays = evaluate_policy(agent, cfg, 4, 7, progress=False)  # the batched path is evaluate_policy's
    assert arrays is None and res.lengths == seq.lengths


def test_a_training_video_is_bounded_in_length_frame_rate_and_size(tmp_path):
    """Hopper steps at 125 Hz: its video keeps every 4th step (31.25 fps); 0.5 s of it is 17 frames (with the
    reset's), at the preview size asked for; the statistics still come from whole episodes. The rendering
    env's shadow map and multisampling are capped (the frame cost on a CPU renderer)."""
    import imageio.v3 as iio
    cfg = Config(env_id="Hopper-v5", max_episode_steps=200)
    agent = _agent(cfg)
    video = tmp_path / "v.mp4"
    res, _ = evaluate_policy(agent, cfg, 2, 0, video_file=video, progress=False, video_size=(320, 240),
                             video_seconds=0.5)
    frames = np.stack(list(iio.imiter(video)))
    assert frames.shape[0] == 17 and frames.shape[1:3] == (240, 320)
    assert res.video == video and len(res.lengths) == 2
    env = make_env("Hopper-v5", render_mode="rgb_array")
    q = env.unwrapped.model.vis.quality
    assert q.shadowsize == SHADOW_SIZE < 4096 and q.offsamples == SAMPLES
    env.close()
    assert takes_frame_size("Hopper-v5") and takes_frame_size("DeepMimicWalk-v0")
    assert not takes_frame_size("Pendulum-v1") and not takes_frame_size("CartPole-v1")


def test_the_training_previews_are_drawn_without_shadows_or_reflections(tmp_path, monkeypatch):
    """A draft frame (the trainer's preview videos) drops the shadow and the floor's reflection, the two passes
    that cost most on a CPU renderer: the same scene, other pixels, the rendering model's light and material
    fields zeroed; a full-quality env keeps them. A preview has at most PREVIEW_FPS frames a second. The trainer's
    evaluations ask for it."""
    import trpo_mimic.evaluate as ev
    from trpo_mimic.train import Trainer
    full = make_env("Hopper-v5", render_mode="rgb_array", width=160, height=120)
    draft = make_env("Hopper-v5", render_mode="rgb_array", width=160, height=120, render_draft=True)
    fm, dm = full.unwrapped.model, draft.unwrapped.model
    assert fm.light_castshadow.any() and fm.mat_reflectance.any()
    assert not dm.light_castshadow.any() and not dm.mat_reflectance.any()
    full.reset(seed=0)
    draft.reset(seed=0)
    a, b = full.render().astype(int), draft.render().astype(int)
    assert a.shape == b.shape == (120, 160, 3)
    assert np.abs(a - b).mean() > 1.0
    full.close()
    draft.close()
    import imageio.v3 as iio
    cfg = Config(env_id="Hopper-v5", max_episode_steps=200)
    video = tmp_path / "draft.mp4"
    evaluate_policy(_agent(cfg), cfg, 1, 0, video_file=video, progress=False, video_size=(160, 120),
                    video_seconds=0.5, draft=True)
    assert len(list(iio.imiter(video))) == 9  # at most PREVIEW_FPS: every 8th of Hopper's 125 steps a second
    asked = []
    real = ev.make_env
    monkeypatch.setattr(ev, "make_env", lambda *args, **kw: asked.append(kw.get("render_draft")) or real(*args, **kw))
    cfg = Config(env_id="Hopper-v5", num_timesteps=64, num_envs=2, steps_per_env=32, vf_epochs=1, eval_episodes=1,
                 eval_video_seconds=0.1, max_episode_steps=20, checkpoint_dir=str(tmp_path), run_name="d",
                 progress=False)
    Trainer(cfg).run()
    assert asked == [True] and (tmp_path / "d" / "videos").is_dir()


@pytest.mark.parametrize("budget,films", [(0.0, ["final.mp4"]), (1.0, ["final.mp4", "iter_1.mp4", "iter_2.mp4"])])
def test_the_preview_videos_keep_to_their_share_of_the_run(tmp_path, budget, films):
    """--eval_video_budget: an evaluation during training films its first episode only while the videos so far
    took at most that fraction of the run's wall time (0: none but the final one, always drawn; 1: every one);
    each evaluation still runs, with its figures logged."""
    import csv
    from trpo_mimic.train import Trainer
    cfg = Config(env_id="Hopper-v5", num_timesteps=128, num_envs=2, steps_per_env=32, vf_epochs=1, eval_freq=1,
                 eval_episodes=1, eval_video_seconds=0.1, eval_video_budget=budget, max_episode_steps=20,
                 checkpoint_dir=str(tmp_path), run_name="b", progress=False)
    trainer = Trainer(cfg)
    trainer.run()
    assert sorted(p.name for p in (tmp_path / "b" / "videos").iterdir()) == films
    assert 0 < trainer.video_seconds < trainer.eval_seconds
    with open(tmp_path / "b" / "progress.csv") as f:
        assert sum(row.get("Eval/Return", "") != "" for row in csv.DictReader(f)) == 3  # iterations 1, 2 and the final one


def test_an_eval_video_budget_outside_0_1_is_an_error(cli):
    r = cli("train", "--env_id", "Pendulum-v1", "--eval_video_budget", "1.5")
    assert r.returncode != 0 and "--eval_video_budget" in r.stderr and len(r.stderr.strip().splitlines()) == 1
