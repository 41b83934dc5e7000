"""Failure-weighted reference state initialisation (issue 39): start times drawn where episodes fail."""

from __future__ import annotations

import numpy as np
import pytest

from trpo_mimic.mimic.core import RSI_BINS, TaskOptions
from trpo_mimic.mimic.vector import DeepMimicVectorEnv


def _env(share, mode="train", n=6, seed=0):
    env = DeepMimicVectorEnv(n, max_episode_steps=40, motion_file="builtin:walk", fail_weighted_rsi=share,
                             pose_termination=0.15, mode=mode)
    env.reset(seed=seed)
    return env


def _run(env, steps=120, seed=0):
    """Step random actions; the number of episodes that ended."""
    rng = np.random.default_rng(seed)
    ended = 0
    for _ in range(steps):
        _, _, term, trunc, _ = env.step(rng.uniform(-1, 1, env.action_space.shape))
        ended += int((term | trunc).sum())
    return ended


def test_the_weights_mix_uniform_starts_with_the_failure_rates_by_hand():
    env = _env(0.5, n=1)
    core = env.core
    core.rsi_started[0, 3], core.rsi_failed[0, 3] = 8.0, 8.0  # bin 3: rate 9/10; the others (0+1)/(0+2)
    w = core.start_weights()[0]
    total = 19 * 0.5 + 0.9
    assert w[3] == pytest.approx(0.5 / RSI_BINS + 0.5 * 0.9 / total)  # 0.06827
    assert w[0] == pytest.approx(0.5 / RSI_BINS + 0.5 * 0.5 / total)  # 0.04904
    assert w.sum() == pytest.approx(1.0)
    env.close()


def test_every_ended_episode_is_counted_once_in_the_bin_it_started_from():
    env = _env(0.5)
    ended = _run(env)
    core = env.core
    assert ended > 10
    # with the decay undone the counts would equal the episodes; decayed, each is at most 1 and the sum is close
    assert 0.7 * ended < core.rsi_started.sum() <= ended
    assert (core.rsi_failed <= core.rsi_started + 1e-12).all() and core.rsi_failed.sum() > 0
    assert not np.allclose(core._rsi_weights, 1.0 / RSI_BINS)  # the next starts follow the failures
    env.close()


def test_off_by_default_and_in_evaluation_and_the_same_for_the_same_seed():
    for share, mode in ((0.0, "train"), (0.5, "eval")):
        env = _env(share, mode)
        _run(env, steps=60)
        assert env.core.rsi_started.sum() == 0 and np.allclose(env.core._rsi_weights, 1.0 / RSI_BINS)
        env.close()
    a, b = _env(0.5, seed=3), _env(0.5, seed=3)
    _run(a, seed=1), _run(b, seed=1)
    assert np.array_equal(a.core.rsi_started, b.core.rsi_started) and np.array_equal(a.core.t, b.core.t)
    a.close(), b.close()


def test_a_bin_that_always_fails_draws_more_starts():
    env = _env(0.9, n=1)
    core = env.core
    core.rsi_started[0, 7] = core.rsi_failed[0, 7] = 1000.0
    core.rsi_started[0, np.arange(RSI_BINS) != 7] = 1000.0  # the rest never fail
    core._rsi_weights = core.start_weights()
    bins = []
    for k in range(400):
        core._start(0)
        bins.append(core.start_bin[0])
    share = np.mean(np.asarray(bins) == 7)
    assert share > 0.8  # 0.1 / 20 + 0.9 * (1001/1002) / (1001/1002 + 19/1002) = 0.86
    env.close()


@pytest.mark.parametrize("bad", [-0.1, 1.0, 2.0])
def test_a_share_outside_0_1_is_refused(bad):
    with pytest.raises(ValueError, match="fail_weighted_rsi"):
        TaskOptions(fail_weighted_rsi=bad)
