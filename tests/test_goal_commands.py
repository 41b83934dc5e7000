"""Goals given by hand (issues 41 and 42): a scripted goal file for evaluate --commands, and the Controller's goal
commands for a goal-scene policy."""
from __future__ import annotations

import numpy as np
import pytest

from trpo_mimic.config import Config
from trpo_mimic.mimic.goal_script import CommandsError, GoalScript, read_commands


def write(tmp_path, text):
    p = tmp_path / "goals.txt"
    p.write_text(text)
    return p


def test_a_commands_file_is_read_in_time_order(tmp_path):
    p = write(tmp_path, "# a script\n4 heading 1.57 3.0\n0 heading 0 1.5  # start east\n\n")
    assert read_commands(p, "heading") == [(0.0, {"heading": 0.0, "speed": 1.5}),
                                           (4.0, {"heading": 1.57, "speed": 3.0})]
    assert read_commands(write(tmp_path, "0 strike 1 0 1.3\n"), "strike") == [(0.0, {"x": 1.0, "y": 0.0, "z": 1.3})]


@pytest.mark.parametrize("text,goal,words", [("0 heading 1\n", "heading", "expected 'TIME heading HEADING SPEED'"),
                                             ("0 target 3 4\n", "heading", "expected"),
                                             ("x heading 0 1\n", "heading", "not a number"),
                                             ("-1 heading 0 1\n", "heading", "time must be >= 0"),
                                             ("0 heading nan 1\n", "heading", "finite"),
                                             ("# nothing\n", "heading", "no command"),
                                             ("0 heading 0 1\n", "amp", "no goal to command")])
def test_a_bad_commands_file_is_one_line_naming_it(tmp_path, text, goal, words):
    with pytest.raises(CommandsError, match=words) as e:
        read_commands(write(tmp_path, text), goal)
    assert "\n" not in str(e.value) and "goals.txt" in str(e.value)


def test_scripted_goals_hold_from_their_time_on():
    import gymnasium as gym
    env = gym.make("DeepMimicHeading-v0", motion_file="humanoid3d_walk.txt")
    env = GoalScript(env, [(0.0, {"heading": 1.0, "speed": 2.0}), (0.5, {"heading": -1.0, "speed": 1.2})])
    obs, _ = env.reset(seed=0)
    goal = env.unwrapped.core.scene.goal
    assert goal.target[0] == 1.0 and goal.speed[0] == 2.0 and obs[-1] == 2.0  # the observation shows it at once
    for k in range(30):
        obs, *_ = env.step(np.zeros(env.action_space.shape))
        if k == 10:
            assert goal.target[0] == 1.0  # no random change of a commanded goal
    assert goal.target[0] == -1.0 and goal.speed[0] == 1.2 and obs[-1] == 1.2
    env.close()


def test_a_controller_steers_a_heading_policy(tmp_path):
    from trpo_mimic import Controller
    from trpo_mimic.train import train
    train(Config(env_id="DeepMimicHeading-v0", motion_file=["humanoid3d_walk.txt"], amp=True, action_mode="absolute",
                 num_envs=2, steps_per_env=16, num_timesteps=32, vf_epochs=1, checkpoint_dir=str(tmp_path),
                 run_name="h", progress=False, eval_freq=0, eval_video=False, amp_buffer_size=64))
    c = Controller(tmp_path / "h")
    assert c.commands == ("heading", "speed") and c.goal == "heading"
    c.reset(seed=0)
    c.step({"heading": 0.5, "speed": 2.5})
    goal = c.env.unwrapped.core.scene.goal
    assert goal.target[0] == 0.5 and goal.speed[0] == 2.5
    with pytest.raises(ValueError, match="this policy takes heading, speed"):
        c.step({"skill": "walk"})
    c.close()
