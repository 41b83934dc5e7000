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


def test_a_timed_process_reports_its_cpu_seconds_beside_its_wall_time():
    import sys
    busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass"
    wall, cpu = compare_sb3._timed_process([sys.executable, "-c", busy], {}, "busy loop")
    assert 0.3 <= cpu <= wall + 0.05  # one thread: CPU time at least the loop's, at most its wall time
    idle = "import time; time.sleep(0.3)"
    wall, cpu = compare_sb3._timed_process([sys.executable, "-c", idle], {}, "sleep")
    assert wall >= 0.3 and cpu < 0.25  # asleep, it uses little CPU
    with pytest.raises(RuntimeError, match="failing process failed"):
        compare_sb3._timed_process([sys.executable, "-c", "raise SystemExit(3)"], {}, "failing process")


def test_core_use_and_the_bound_of_our_cpu_work():
    # 40 CPU-s in 25 s on 2 cores: 80% of the cores; spread over both, 20 s against the reference's 100 s
    assert compare_sb3.utilisation(25.0, 40.0, cores=2) == pytest.approx(0.8)
    assert compare_sb3.ceiling(100.0, 40.0, cores=2) == pytest.approx(5.0)


def test_the_physics_speedup_compares_equal_work_in_one_process_and_in_two():
    speedup, states = compare_sb3.physics_speedup("Hopper-v5", workers=2, num_envs=4, steps=10, repeats=1)
    assert np.isfinite(speedup) and speedup > 0.0
    assert sorted(states) == [0, 1, 2, 3]
    for i, qpos in states.items():  # each copy was stepped from its own seeded reset (and both ways alike)
        env = gym.make("Hopper-v5")
        env.reset(seed=i)
        assert not np.array_equal(qpos, env.unwrapped.data.qpos)
        env.close()
    assert not np.array_equal(states[0], states[1])
