"""Random clip switches inside episodes (issue 42, part 1): the training scheme that teaches transitions."""

from __future__ import annotations

import numpy as np
import pytest

from trpo_mimic.envs.deepmimic.core import TaskOptions
from trpo_mimic.envs.deepmimic.vector import DeepMimicVectorEnv

CLIPS = ["humanoid3d_walk.txt", "humanoid3d_jog.txt", "humanoid3d_run.txt"]


def _env(n=4, interval=(0.2, 0.4), **kw):
    return DeepMimicVectorEnv(n, max_episode_steps=200, motion_file=CLIPS, clip_id_obs=True,
                              switch_interval=interval, early_termination=False, **kw)


def test_episodes_switch_to_another_clip_within_the_interval_and_observe_it():
    env = _env()
    obs, info = env.reset(seed=3)
    core = env.core
    clip = info["clip"].copy()
    since = np.zeros(env.num_envs, dtype=int)  # steps since the episode's start or last switch
    gaps, rng = [], np.random.default_rng(0)
    for _ in range(60):
        obs, _, term, trunc, info = env.step(rng.uniform(-0.2, 0.2, env.action_space.shape))
        assert not (term | trunc).any()
        since += 1
        now = core.clip_id.copy()
        # the observation's one-hot names the clip imitated from now on
        assert np.array_equal(np.argmax(obs[:, core.task_obs_dim:], axis=1), now)
        assert np.array_equal(info["clip"], clip)  # the step's reward belongs to the clip it was taken under
        for i in np.flatnonzero(now != clip):
            gaps.append(since[i] * core.control_dt)
            since[i] = 0
        clip = now
    assert len(gaps) >= 4 * env.num_envs  # 2 s of episode, a switch every 0.2-0.4 s
    first = np.array(gaps)
    assert first.min() >= 0.2 - 1e-9 and first.max() <= 0.4 + core.control_dt + 1e-9
    env.close()


def test_a_switch_starts_the_new_reference_at_the_character():
    env = _env(n=1, interval=(0.5, 0.5))
    env.reset(seed=0)
    core = env.core
    for _ in range(14):
        env.step(np.zeros(env.action_space.shape))
    c0 = int(core.clip_id[0])
    env.step(np.zeros(env.action_space.shape))  # the 15th step (0.5 s) switches
    assert int(core.clip_id[0]) != c0
    after = core.reference(core.t.copy(), core.clip_id.copy())[1][0, core.layout.root_pos]
    np.testing.assert_allclose(after[:2], core.physics.state.xpos[0, core.index.root_body, :2], atol=1e-9)
    env.close()


def test_the_same_seed_switches_the_same_way():
    runs = []
    for _ in range(2):
        env = _env(n=3)
        env.reset(seed=11)
        seq = []
        for _ in range(40):
            env.step(np.zeros(env.action_space.shape))
            seq.append(env.core.clip_id.copy())
        runs.append(np.array(seq))
        env.close()
    assert np.array_equal(runs[0], runs[1]) and len(np.unique(runs[0])) > 1


@pytest.mark.parametrize("bad", [(0.0, 1.0), (2.0, 1.0), (1.0,), (1.0, float("inf"))])
def test_bad_intervals_are_refused(bad):
    with pytest.raises(ValueError, match="switch_interval"):
        TaskOptions(switch_interval=bad)


def test_one_clip_cannot_switch():
    with pytest.raises(ValueError, match="at least two clips"):
        DeepMimicVectorEnv(1, motion_file="humanoid3d_walk.txt", switch_interval=(1, 2))
