"""The whole-process benchmark's physics ceiling (benchmarks/compare_sb3.py): the timer and the bound."""
import importlib.util
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

_spec = importlib.util.spec_from_file_location(
    "compare_sb3", Path(__file__).resolve().parents[1] / "benchmarks" / "compare_sb3.py")
compare_sb3 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compare_sb3)


def test_the_ceiling_is_the_reference_wall_over_its_physics_spread_over_the_cores():
    # 100 s of which 60 s physics: 2 cores could at best do the physics in 30 s
    assert compare_sb3.ceiling(100.0, 60.0, cores=2) == pytest.approx(100.0 / 30.0)
    assert compare_sb3.ceiling(100.0, 60.0, cores=4) == pytest.approx(100.0 / 15.0)


def test_the_physics_timer_counts_only_the_mujoco_steps():
    env = gym.make("Hopper-v5")
    spent = compare_sb3._time_physics(env.unwrapped)
    env.reset(seed=0)
    assert spent() == 0.0
    before = env.unwrapped.data.qpos.copy()
    env.step(np.zeros(3))
    after_one = spent()
    assert after_one > 0.0 and not np.array_equal(env.unwrapped.data.qpos, before)  # it still steps the physics
    env.step(np.zeros(3))
    assert spent() > after_one
    env.close()
    assert compare_sb3._time_physics(gym.make("Pendulum-v1").unwrapped) is None  # no MuJoCo physics to time
