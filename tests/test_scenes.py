"""DeepMimic's AMP scenes on the batched core (issue 41): the discriminator sees simulation and clips alike, the
goal is in the observation and the task reward is the env's reward, no clip is tracked."""

from __future__ import annotations

import numpy as np
import pytest

from trpo_mimic.mimic.amp_obs import AMPObservation, ExpertTransitions, TRANSITION_DT
from trpo_mimic.mimic.vector import DeepMimicVectorEnv

CLIPS = ["humanoid3d_walk.txt", "humanoid3d_jog.txt", "humanoid3d_run.txt"]


def test_the_simulation_and_the_clip_give_the_same_amp_observation():
    env = DeepMimicVectorEnv(3, motion_file=["humanoid3d_run.txt"], scene="amp")
    core = env.core
    times = [0.2, 0.45, 0.7]
    env.reset(seed=0, options={"time": None})
    core.reset([0, 1, 2], times=times)  # the characters exactly in the clip's states
    s = core.physics.read([0, 1, 2])
    sim = core.score(s, core.reference(core.t.copy(), core.clip_id.copy())).sim
    ref = core.clips[0].reference_packed_batch(np.array(times))
    obs = AMPObservation(core.layout)
    a, b = obs(sim, sim), obs(ref, ref)
    p = obs.pose_dim
    np.testing.assert_allclose(a[:, :p], b[:, :p], atol=0.02)  # pose: root height, rotations, end effectors
    v = slice(2 * p, 2 * p + obs.vel_dim)
    np.testing.assert_allclose(a[:, v], b[:, v], atol=0.05 * np.abs(b[:, v]).max())  # velocities (interpolated)
    assert obs.dim == 266
    env.close()


def test_expert_transitions_are_two_frames_of_a_clip_drawn_by_weight():
    env = DeepMimicVectorEnv(1, motion_file=CLIPS, scene="amp")
    core = env.core
    obs = AMPObservation(core.layout)
    expert = ExpertTransitions(core.clips, np.array([1.0, 0.0, 0.0]), obs)  # the walk only
    x = expert(64, np.random.default_rng(0))
    assert x.shape == (64, 266) and np.isfinite(x).all()
    assert np.ptp(x[:, 0]) > 0.01  # transitions from many times of the clip (the root height changes)
    walk = core.clips[0]
    t = np.array([0.5])
    one = obs(walk.reference_packed_batch(t), walk.reference_packed_batch(t - TRANSITION_DT))
    # heading invariance: the transition's observation does not change when the clip's second cycle is turned
    cyc = walk.duration
    two = obs(walk.reference_packed_batch(t + cyc), walk.reference_packed_batch(t + cyc - TRANSITION_DT))
    np.testing.assert_allclose(one, two, atol=1e-6)
    env.close()


@pytest.mark.parametrize("scene,goal_dim", [("amp", 0), ("heading", 3), ("target", 3), ("strike", 4)])
def test_a_scene_observes_its_goal_not_a_phase_and_pays_its_task_reward(scene, goal_dim):
    plain = DeepMimicVectorEnv(2, motion_file=CLIPS)
    env = DeepMimicVectorEnv(2, max_episode_steps=50, motion_file=CLIPS, scene=scene)
    assert env.single_observation_space.shape[0] == plain.single_observation_space.shape[0] + goal_dim
    obs, _ = env.reset(seed=1)
    assert np.all(obs[:, 0] == 0.0)
    goal = env.core.scene.goal
    kin = env.core.scene.kinematics(env.core.physics.state)
    if goal_dim:
        np.testing.assert_allclose(obs[:, -goal_dim:], goal.observe(kin))
    for _ in range(5):
        obs, reward, term, trunc, info = env.step(np.zeros(env.action_space.shape))
    np.testing.assert_array_equal(reward, info["reward_task"])
    assert info["amp_obs"].shape == (2, 266) and np.all(np.isnan(info["error_body_pos"]))
    if scene == "amp":
        assert np.all(reward == 0.0)
    plain.close()
    env.close()


def test_a_scene_does_not_end_at_a_clips_end():
    env = DeepMimicVectorEnv(1, max_episode_steps=200, motion_file=["humanoid3d_punch.txt"], scene="amp",
                             early_termination=False)
    env.reset(seed=0, options={"time": None})
    env.core.reset([0], times=[env.core.clips[0].duration - 0.1])
    ended = 0
    for _ in range(30):  # 1 s: past the clip's end
        _, _, term, trunc, _ = env.step(np.zeros(env.action_space.shape))
        ended += int(term[0] or trunc[0])
    assert ended == 0
    env.close()


@pytest.mark.parametrize("kw,word", [({"action_mode": "residual"}, "residual"), ({"ref_obs": True}, "ref_obs"),
                                     ({"clip_id_obs": True}, "clip_id_obs"),
                                     ({"heading_speeds": (1.0, 2.0)}, "heading scene")])
def test_what_does_not_apply_to_a_scene_is_refused(kw, word):
    with pytest.raises(ValueError, match=word):
        DeepMimicVectorEnv(1, motion_file=CLIPS, scene="target", **kw)


def test_heading_speeds_default_to_the_sets_speeds():
    env = DeepMimicVectorEnv(1, motion_file=CLIPS, scene="heading")
    lo, hi = env.core.scene.goal.speeds
    assert 0.8 < lo < 1.2 and 3.0 < hi < 3.8  # the walk's and the run's
    env.close()
