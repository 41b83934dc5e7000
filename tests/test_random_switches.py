"""Random clip switches inside episodes (issue 42, part 1): the training scheme that teaches transitions."""

from __future__ import annotations

import numpy as np
import pytest

from trpo_mimic.mimic.core import TaskOptions
from trpo_mimic.mimic.vector import DeepMimicVectorEnv

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


def test_after_a_switch_the_new_path_follows_the_character_for_a_second():
    from trpo_mimic.mimic.switching import SWITCH_FOLLOW_SECONDS
    env = _env(n=1, interval=(0.5, 0.5))
    env.reset(seed=1)
    core, root = env.core, env.core.layout.root_pos

    def gap():
        ref = core.reference(core.t.copy(), core.clip_id.copy())[1][0, root][:2]
        return float(np.linalg.norm(ref - core.physics.state.xpos[0, core.index.root_body, :2]))

    rng = np.random.default_rng(0)
    for _ in range(15):  # the 15th step (0.5 s) switches
        env.step(rng.uniform(-1, 1, env.action_space.shape))
    core.switch_left[0] = np.inf  # no second switch
    window = round(SWITCH_FOLLOW_SECONDS / core.control_dt)
    gaps = []
    for _ in range(window + 10):
        env.step(rng.uniform(-1, 1, env.action_space.shape))  # random actions: the character drifts off the clip
        gaps.append(gap())
    assert max(gaps[:window]) < 1e-9  # in the window the path is where the character is, step after step
    assert max(gaps[window:]) > 1e-3  # then the clip's path goes on from there, and the character drifts off it
    env.close()


def test_the_last_step_of_a_switched_episode_is_measured_in_its_own_frame():
    """An episode that ends in the physics step (here: its time limit) restarts there; its last step's errors and
    last observation still belong to its switched reference, not to the new episode's."""
    env = DeepMimicVectorEnv(1, max_episode_steps=40, motion_file=CLIPS, clip_id_obs=True, ref_obs=True,
                             switch_interval=(0.5, 0.5), early_termination=False)
    env.reset(seed=0)
    core = env.core
    for _ in range(31):  # switches at steps 15 and 30
        env.step(np.zeros(env.action_space.shape))
    core.ref_off[0, 0] += 5.0  # the switched path 5 m off the clip's own
    core.follow_left[0] = 0.0
    for _ in range(9):
        _, _, term, trunc, info = env.step(np.zeros(env.action_space.shape))
    assert trunc[0] and not core.ref_moved[0]  # the new episode's frame is the clip's own
    assert info["final_info"]["error_body_pos"][0] > 4.0  # measured against the switched path, 5 m off
    k = core.task_obs_dim - 5  # ref_obs: the reference root seen from the character
    assert np.linalg.norm(info["final_obs"][0, k:k + 3]) > 4.0
    env.close()


def test_the_pose_termination_waits_out_a_switchs_grace():
    """Training's pose termination (0.5 m here) does not end an episode in the SWITCH_POSE_GRACE_SECONDS after a
    switch, however far the path is; the step after the grace it does."""
    from trpo_mimic.mimic.switching import SWITCH_FOLLOW_SECONDS, SWITCH_POSE_GRACE_SECONDS
    env = DeepMimicVectorEnv(1, max_episode_steps=400, motion_file=CLIPS, clip_id_obs=True, ref_obs=True,
                             switch_interval=(0.5, 0.5), early_termination=False, pose_termination=0.5,
                             action_mode="residual", pd_feedforward=True)
    env.reset(seed=0)
    core = env.core
    for _ in range(15):  # the switch at step 15
        _, _, term, _, _ = env.step(np.zeros(env.action_space.shape))
    assert not term[0] and core.grace_left[0] > 0
    core.switch_left[0] = np.inf  # no second switch
    grace = round(SWITCH_POSE_GRACE_SECONDS / core.control_dt)
    follow = round(SWITCH_FOLLOW_SECONDS / core.control_dt)
    ended = None
    for k in range(1, grace + 5):
        if k > follow:
            core.ref_off[0, 0] += 1.0  # after the follow window: the path 1 m further away each step
        _, _, term, _, info = env.step(np.zeros(env.action_space.shape))
        if term[0]:
            ended = k
            break
    assert ended == grace  # the grace's last step counts down to 0 before the step is judged
    assert info["final_info"]["error_body_pos"][0] > 0.5
    env.close()


# ---------------------------------------------------------------- switch_blend: the old clip fading into the new
def _blend_env(blend=0.5):
    env = DeepMimicVectorEnv(1, max_episode_steps=200, motion_file=CLIPS, clip_id_obs=True, early_termination=False,
                             action_mode="residual", pd_feedforward=True, switch_blend=blend)
    env.reset(seed=0, options={"clip": 0, "time": 0.3})  # walk
    return env


def test_blend_weights_are_smoothstep_from_the_switch_to_its_end():
    from trpo_mimic.mimic.switching import blend_weight
    w = blend_weight(np.array([1.0, 1.25, 1.5, 1.75, 2.0, 3.0, 0.0]), np.full(7, 1.0), np.full(7, 1.5))
    np.testing.assert_allclose(w, [0.0, 0.5, 1.0, 1.0, 1.0, 1.0, 0.0])  # x = 0, 0.5, 1 (and clipped)
    np.testing.assert_allclose(blend_weight(np.array([1.125]), np.array([1.0]), np.array([1.5])), [0.15625])  # x 1/4


def test_a_blended_switch_starts_on_the_old_reference_keeps_step_and_ends_on_the_new():
    env = _blend_env(0.5)
    core, zero = env.core, np.zeros(env.action_space.shape)
    for _ in range(5):
        env.step(zero)
    t_old, lay = core.t.copy(), core.layout
    rates = (lay.joint_angvel, lay.root_angvel, lay.root_linvel, lay.com_vel)
    q_before, v_before = core.reference(t_old, core.clip_id.copy())
    targets_before, hinge_rates_before = (core.clips[0].hinge_targets_batch(t_old),
                                          core.clips[0].hinge_velocities_batch(t_old))
    t_new = core.switch(0, 2)  # walk -> run
    ids = core.clip_id.copy()
    # one cycle of each in step: 1.27 s of the walk per 0.80 s of the run; the blend spans B (1 + 1 / rate) / 2 of
    # run time, its pace going from the walk's (1 / rate of the run's own) to the run's
    rate = core.clips[0].duration / core.clips[2].duration
    assert core.blend_rate[0] == pytest.approx(rate) and rate == pytest.approx(1.5833, abs=1e-3)
    span = 0.5 * 0.5 * (1.0 + 1.0 / rate)
    assert core.blend_end[0] - core.blend_start[0] == pytest.approx(span)
    # at the switch the reference is the walk's, as it was, rates and all (the walk still at its own pace)
    q_at, v_at = core.reference(np.array([t_new]), ids)
    np.testing.assert_allclose(v_at, v_before, atol=1e-9)
    np.testing.assert_allclose(np.abs(np.einsum("njk,njk->nj", q_at, q_before)), 1.0, atol=1e-9)
    targets = core.clips[2].hinge_targets_batch(np.array([t_new]))
    core._blend_hinges("hinge_targets_batch", targets, np.array([t_new]))
    np.testing.assert_allclose(targets, targets_before, atol=1e-9)  # the PD targets too
    hinge_rates = core.clips[2].hinge_velocities_batch(np.array([t_new]))
    core._blend_hinges("hinge_velocities_batch", hinge_rates, np.array([t_new]))
    np.testing.assert_allclose(hinge_rates, hinge_rates_before, atol=1e-9)
    assert np.abs(core.reference_qpos(0)[7:] - core.clips[2].qpos_at(t_new)[7:]).max() > 0.05  # not the run's yet
    # the run's clip time runs at the walk's pace then (1 / rate of its own): one step later
    env.step(zero)
    assert core.t[0] == pytest.approx(t_new + core.control_dt / rate)
    # halfway (smoothstep 0.5), both at the pace between: the run at 0.5 / rate + 0.5 of its own, the walk at
    # that times rate; the packed reference is the mean of the walk's (going on in step) and the run's
    mid = t_new + span / 2
    new_speed = 0.5 / rate + 0.5
    _, v_mid = core.reference(np.array([mid]), ids)
    _, v_walk = core.clips[0].reference_packed_batch(np.array([t_old[0] + span / 2 * rate]))  # unmoved before
    frame = core.ref_frame()._replace(end=np.full(1, -np.inf))  # the same frame without its blend: the run alone
    _, v_run = core.reference(np.array([mid]), ids, frame=frame)
    for part in rates:
        v_walk[:, part] *= new_speed * rate
        v_run[:, part] *= new_speed
    root = core.layout.root_pos  # the parts before the root position: velocities and offsets from the root
    np.testing.assert_allclose(v_mid[0, :root.start], 0.5 * (v_walk[0, :root.start] + v_run[0, :root.start]),
                               atol=1e-9)
    # from the blend's end on: the run alone, angles and all
    end = core.blend_end[0]
    q_end, v_end = core.reference(np.array([end + 0.1]), ids)
    q_r, v_r = core.reference(np.array([end + 0.1]), ids, frame=frame)
    np.testing.assert_allclose(v_end, v_r, atol=1e-12)
    np.testing.assert_allclose(q_end, q_r, atol=1e-12)
    env.close()


def test_a_blend_follows_the_character_and_a_new_episode_forgets_it():
    env = _blend_env(1.5)
    core, zero = env.core, np.zeros(env.action_space.shape)
    for _ in range(5):
        env.step(zero)
    core.switch(0, 2)
    rate = core.blend_rate[0]
    assert core.follow_left[0] == pytest.approx(1.5 * rate)  # the longest the blend can last
    for _ in range(20):
        env.step(zero)
        ref = core.reference(core.t.copy(), core.clip_id.copy())[1][0, core.layout.root_pos]
        np.testing.assert_allclose(ref[:2], core.physics.state.xpos[0, core.index.root_body, :2], atol=1e-9)
    env.reset(seed=1)
    assert core.blend_end[0] == -np.inf
    env.close()


def test_a_negative_blend_is_refused():
    with pytest.raises(ValueError, match="switch_blend"):
        _blend_env(-0.1)
