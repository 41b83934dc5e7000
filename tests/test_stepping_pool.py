"""The one stepping pool of the batched envs (trpo_mimic.stepping_pool): every item worked once, errors reach
the caller, and the envs built on it give bit-identical results for any number of threads."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest

from deepmimic_util import clip_path
from trpo_mimic.mimic import MotionWarning
from trpo_mimic.mimic.vector import DeepMimicVectorEnv
from trpo_mimic.envs.mujoco_vector import MujocoLocomotionVectorEnv
from trpo_mimic.stepping_pool import SteppingPool


@pytest.mark.parametrize("nthread", [1, 2, 3])
def test_every_item_once_caller_thread_included(nthread):
    pool = SteppingPool(40, nthread)
    items: list[int] = []
    callers: list[str] = []
    gate = threading.Barrier(nthread, timeout=10)

    def work(it, scale):
        callers.append(threading.current_thread().name)
        gate.wait()  # all nthread threads run the worker body at once (else the barrier times out)
        for i in it:
            items.append(i * scale)

    try:
        pool.run(work, 2)
    finally:
        pool.close()
    assert sorted(items) == list(range(0, 80, 2))
    assert len(set(callers)) == len(callers) == nthread
    assert threading.current_thread().name in callers


def test_thread_count_is_bounded_by_the_items():
    assert SteppingPool(2, 8).nthread == 2
    assert SteppingPool(5, 0).nthread == 1
    assert SteppingPool(1).nthread == 1


@pytest.mark.parametrize("nthread,worked", [(1, [0, 1, 2, 3]), (3, [0, 1, 2, 3, 5])])
def test_a_workers_error_reaches_the_caller_after_all_threads_stop(nthread, worked):
    pool = SteppingPool(6, nthread)
    done: list[int] = []

    def work(it):
        for i in it:
            if i == 4:
                raise RuntimeError("item 4")
            done.append(i)

    with pytest.raises(RuntimeError, match="item 4"):
        pool.run(work)
    assert sorted(done) == worked  # the raising thread stops; the others work the rest, then stop
    pool.close()
    pool.close()  # idempotent; afterwards the caller's thread works alone
    out: list[int] = []
    pool.run(lambda it: out.extend(it))
    assert out == list(range(6))


def _mujoco_run(nthread: int) -> list[np.ndarray]:
    env = MujocoLocomotionVectorEnv("Hopper-v5", 5, max_episode_steps=25, nthread=nthread)
    rng = np.random.default_rng(1)
    try:
        out = [env.reset(seed=7)[0]]
        for _ in range(40):  # episodes end (falls and the 25-step limit): resets in the same step
            obs, reward, term, trunc, _ = env.step(rng.uniform(-1, 1, (5, 3)))
            out += [obs, reward, term, trunc]
        return out
    finally:
        env.close()


def _deepmimic_run(nthread: int) -> list[np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MotionWarning)
        env = DeepMimicVectorEnv(5, max_episode_steps=12, nthread=nthread, motion_file=str(clip_path("walk")),
                                 pd_clamp="total")
        rng = np.random.default_rng(2)
        try:
            out = [env.reset(seed=7)[0]]
            for _ in range(30):  # restarts run inside the workers (MujocoPhysics.step's ``after``)
                a = rng.normal(0, 1, env.action_space.shape)
                obs, reward, term, trunc, _ = env.step(a)
                out += [obs, reward, term, trunc]
            return out
        finally:
            env.close()


@pytest.mark.parametrize("run", [_mujoco_run, _deepmimic_run], ids=["hopper", "deepmimic"])
def test_any_thread_count_gives_bit_identical_results(run):
    one = run(1)
    assert any(x.dtype == bool and x.any() for x in one[1:]), "no episode ended: resets untested"
    for nthread in (2, 3):
        other = run(nthread)
        assert len(other) == len(one)
        for k, (a, b) in enumerate(zip(one, other)):
            np.testing.assert_array_equal(a, b, err_msg=f"nthread {nthread}, output {k}")
