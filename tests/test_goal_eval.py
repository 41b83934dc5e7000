"""A goal policy's figures (issue 41): the normalised task return of evaluate's results block, and the batched
play behind the AMP benchmark and the goal cards (:mod:`trpo_mimic.mimic.goal_eval`)."""
from __future__ import annotations

import numpy as np
import pytest

from trpo_mimic.config import Config
from trpo_mimic.evaluation.stats import EvalResult


def test_the_normalised_task_return_forfeits_the_rest_of_an_ended_episode():
    r = EvalResult(returns=[10.0, 5.0], lengths=[20, 8], terminated=[False, True], limit=20)
    assert r.return_over_limit == pytest.approx(15.0 / 40.0)  # not 15 / 28, the reward per step
    assert r.reward_per_step == pytest.approx(15.0 / 28.0)
    assert EvalResult(returns=[1.0], lengths=[3], terminated=[False]).return_over_limit is None


@pytest.fixture(scope="module")
def heading_policy(tmp_path_factory):
    from trpo_mimic.train import train
    d = tmp_path_factory.mktemp("heading")
    train(Config(env_id="DeepMimicHeading-v0", motion_file=["humanoid3d_walk.txt", "humanoid3d_run.txt"], amp=True,
                 action_mode="absolute", num_envs=2, steps_per_env=16, num_timesteps=32, vf_epochs=1,
                 checkpoint_dir=str(d), run_name="h", progress=False, eval_freq=0, eval_video=False,
                 amp_buffer_size=64))
    return d / "h"


def test_the_goal_play_and_evaluate_score_the_same_episodes(heading_policy):
    from trpo_mimic.checkpoint import load_agent
    from trpo_mimic.evaluate import evaluate_policy
    from trpo_mimic.mimic.evaluation import result_lines
    from trpo_mimic.mimic.goal_eval import play_goal
    agent, cfg, _ = load_agent(heading_policy, "cpu")
    steps, episodes = 40, 3
    g = play_goal(agent, cfg, episodes, 7, steps)
    cfg.max_episode_steps = steps
    result, _ = evaluate_policy(agent, cfg, episodes, 7, progress=False)
    assert g.scene == "heading" and [c.name for c in g.clips] == ["humanoid3d_walk.txt", "humanoid3d_run.txt"]
    assert result.limit == steps
    assert g.task_return.mean() == pytest.approx(result.return_over_limit, rel=1e-6)
    assert list(g.fell) == result.terminated
    # an episode's windows: its start and each step it continued from, two frames a window
    assert [len(w) for w in g.windows] == [n - 1 for n in result.lengths]
    assert all(w.shape[1:] == (2 * 15, 3) for w in g.windows)
    assert not [s for s in result_lines(result) if s.startswith("clip ")]  # its clips are only where it starts
    line = [s for s in result_lines(result) if s.startswith("normalised task return")]
    assert line == [f"normalised task return: {result.return_over_limit:.4f} (the task reward summed over each "
                    f"episode over its {steps} steps: a fall forfeits the rest)"]


def test_a_tracking_policy_is_not_a_goal_scene(tmp_path):
    from trpo_mimic.checkpoint import load_agent
    from trpo_mimic.mimic.goal_eval import play_goal
    agent, cfg, _ = load_agent("walk", "cpu")
    with pytest.raises(ValueError, match="not a goal scene"):
        play_goal(agent, cfg, 1, 0, 5)
    g = play_goal(agent, cfg, 2, 0, 5, tracking=True)
    assert g.scene is None and [len(w) for w in g.windows] == [4, 4] and not g.fell.any()
    assert np.all(g.task_return > 0)
