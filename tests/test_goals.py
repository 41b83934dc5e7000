"""Goals of the AMP task scenes (issue 41): rewards and observations against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trpo_mimic.mimic.goals import HeadingGoal, Kinematics, TargetGoal

DT = 1 / 30


def kin(root=(0.0, 0.0), heading=0.0, com=None):
    com = root if com is None else com
    return Kinematics(np.array([root], float), np.array([heading]), np.array([com], float))


def test_heading_reward_is_the_speed_along_the_heading():
    g = HeadingGoal(1, DT, (1.0, 4.0))
    g.reset(0, np.random.default_rng(0), kin())
    g.target[0], g.speed[0] = math.pi / 2, 3.0  # north at 3 m/s
    r, terms = g.reward(kin(com=(0.0, 0.1)))  # 0.1 m north in 1/30 s: 3 m/s
    assert r[0] == pytest.approx(1.0) and terms[0, 0] == r[0]
    g.speed[0] = 2.0
    assert g.reward(kin(com=(0.0, 0.1)))[0][0] == pytest.approx(math.exp(-0.25))  # 1 m/s too fast
    assert g.reward(kin(com=(0.05, -1e-6)))[0][0] == 0.0  # east (a hair south): no speed along north
    assert g.reward(kin(com=(0.0, -0.1)))[0][0] == 0.0  # backwards


def test_heading_observation_is_in_the_characters_frame():
    g = HeadingGoal(1, DT, (1.0, 4.0))
    g.reset(0, np.random.default_rng(0), kin())
    g.target[0], g.speed[0] = math.pi / 2, 2.5
    np.testing.assert_allclose(g.observe(kin(heading=0.0))[0], [0.0, 1.0, 2.5], atol=1e-12)  # to the left
    np.testing.assert_allclose(g.observe(kin(heading=math.pi))[0], [0.0, -1.0, 2.5], atol=1e-12)  # to the right


def test_heading_changes_come_from_each_environments_generator():
    def run(seed):
        g = HeadingGoal(2, DT, (1.0, 4.0))
        rngs = [np.random.default_rng(seed), np.random.default_rng(seed + 1)]
        k = Kinematics(np.zeros((2, 2)), np.zeros(2), np.zeros((2, 2)))
        for i in range(2):
            g.reset(i, rngs[i], k)
        out = []
        for _ in range(300):
            g.advance(np.arange(2), rngs, k)
            out.append(np.concatenate([g.target, g.speed]))
        return np.array(out)
    a, b = run(3), run(3)
    assert np.array_equal(a, b)
    assert len(np.unique(a[:, 0])) > 10  # the heading drifts: a change every 0.2-0.5 s over 10 s
    assert np.all((a[:, 2:] >= 1.0) & (a[:, 2:] <= 4.0))


def test_a_commanded_heading_holds():
    g = HeadingGoal(1, DT, (1.0, 4.0))
    rng = np.random.default_rng(0)
    g.reset(0, rng, kin())
    g.command(0, heading=1.0, speed=2.0)
    for _ in range(100):
        g.advance(np.arange(1), [rng], kin())
    assert g.target[0] == 1.0 and g.speed[0] == 2.0


def test_target_reward_by_hand():
    g = TargetGoal(1, DT)
    g.reset(0, np.random.default_rng(0), kin())
    g.target[0] = (3.0, 4.0)  # 5 m away
    toward = np.array([3.0, 4.0]) / 5 / 30  # 1 m/s toward it
    r, terms = g.reward(kin(com=tuple(toward)))
    d = np.linalg.norm(np.array([3.0, 4.0]) - toward)
    assert r[0] == pytest.approx(0.6 * math.exp(-0.5 * d * d) + 0.4)
    half = toward / 2  # 0.5 m/s: r_v = exp(-4 (0.5)^2) = exp(-1)
    assert g.reward(kin(com=tuple(half)))[1][0, 1] == pytest.approx(math.exp(-1.0))
    assert g.reward(kin(com=tuple(-toward)))[1][0, 1] == 0.0  # moving away
    g.target[0] = (0.3, 0.0)
    g.prev_com[0] = (0.0, 0.0)
    assert g.reward(kin(com=(0.0, 0.0)))[1][0, 1] == 1.0  # within 0.5 m: r_v = 1 standing still


def test_target_observation_and_failure():
    g = TargetGoal(1, DT)
    g.reset(0, np.random.default_rng(0), kin())
    g.target[0] = (0.0, 2.0)
    np.testing.assert_allclose(g.observe(kin(heading=math.pi / 2))[0], [1.0, 0.0, 2.0], atol=1e-12)  # ahead
    np.testing.assert_allclose(g.observe(kin(heading=0.0))[0], [0.0, 1.0, 2.0], atol=1e-12)  # to the left
    assert not g.failed(kin())[0]
    g.target[0] = (15.1, 0.0)
    assert g.failed(kin())[0]


def test_new_targets_lie_within_10_m_of_the_root():
    g = TargetGoal(1, DT)
    rng = np.random.default_rng(4)
    k = kin(root=(5.0, -2.0))
    for _ in range(50):
        g.reset(0, rng, k)
        assert np.linalg.norm(g.target[0] - (5.0, -2.0)) <= 10.0 and 5.0 <= g.change_left[0] <= 10.0


def test_bad_speeds_are_refused():
    with pytest.raises(ValueError, match="speeds"):
        HeadingGoal(1, DT, (0.0, 2.0))


def strike_kin(hand, hand_vel, root=(0.0, 0.0), com=None, torso=None):
    k = kin(root=root, com=com)
    k.hand, k.hand_vel = np.array([hand], float), np.array([hand_vel], float)
    k.torso = np.array([torso if torso is not None else [[root[0], root[1], 0.9]] * 3], float)
    return k


def test_a_strike_hits_only_close_and_fast_toward_the_target():
    from trpo_mimic.mimic.goals import StrikeGoal
    g = StrikeGoal(1, DT)
    g.reset(0, np.random.default_rng(0), kin())
    g.target[0] = (1.0, 0.0, 1.3)
    r, terms = g.reward(strike_kin((0.85, 0.0, 1.3), (1.0, 0.0, 0.0)))  # 0.15 m away but 1 m/s: no hit
    assert not g.hit[0]
    near = 0.2 * math.exp(-2 * 0.15 ** 2) + 0.8 * (1.0 / 1.5) ** 2
    assert r[0] == pytest.approx(0.3 + 0.3 * near) and terms[0, 0] == pytest.approx(near)
    r, _ = g.reward(strike_kin((0.85, 0.0, 1.3), (2.0, 0.0, 0.0)))  # 2 m/s toward it: a hit
    assert g.hit[0] and r[0] == 1.0
    g.advance(np.arange(1), [None], kin())
    assert g.observe(kin())[0, 3] == pytest.approx(DT / 2)  # time since the hit, over 2 s
    assert g.reward(strike_kin((0.0, 0.0, 1.0), (0.0, 0.0, 0.0)))[0][0] == 1.0  # the hit holds


def test_far_from_a_strike_target_the_reward_is_the_approach():
    from trpo_mimic.mimic.goals import StrikeGoal
    g = StrikeGoal(1, DT)
    g.reset(0, np.random.default_rng(0), kin())
    g.target[0] = (3.4, 0.0, 1.3)  # root 3.4 m away: d - 1.4 = 2
    r, terms = g.reward(strike_kin((0.2, 0.0, 1.0), (0.0, 0.0, 0.0), com=(1 / 30, 0.0)))  # com at 1 m/s toward
    far = 0.7 * math.exp(-0.5 * 4.0) + 0.3 * 1.0
    assert r[0] == pytest.approx(0.3 * far) and terms[0, 1] == pytest.approx(far)
    assert not g.failed(strike_kin((0.2, 0.0, 1.0), (0, 0, 0)))[0]
    k = strike_kin((0.2, 0.0, 1.0), (0, 0, 0), torso=[[0, 0, 0.9], [3.3, 0.0, 1.25], [0, 0, 1.5]])
    assert g.failed(k)[0]  # the chest ran into the target


def test_strike_targets_are_placed_near_or_far_at_the_right_height():
    from trpo_mimic.mimic.goals import StrikeGoal
    g = StrikeGoal(1, DT)
    rng = np.random.default_rng(5)
    dists = []
    for _ in range(400):
        g.reset(0, rng, kin(heading=0.3))
        assert 1.2 <= g.target[0, 2] <= 1.4
        dists.append(np.linalg.norm(g.target[0, :2]))
    dists = np.array(dists)
    assert np.all((dists >= 0.6) & (dists <= 10.0))
    assert 0.5 < np.mean(dists <= 1.1) < 0.7  # 0.6 near, plus the far ones that land within 1.1 m


def test_strike_training_starts_a_tenth_of_its_episodes_already_hit():
    """The release's training starts 10% of strike episodes with the target hit; evaluation never (and draws no
    more random numbers than before, so its episodes are unchanged)."""
    from trpo_mimic.mimic.goals import StrikeGoal
    train, evaluate = StrikeGoal(1, DT, StrikeGoal.START_HIT), StrikeGoal(1, DT)
    rng = np.random.default_rng(3)
    hits = 0
    for _ in range(2000):
        train.reset(0, rng, kin())
        hits += bool(train.hit[0])
        assert train.since_hit[0] == 0.0
    assert 0.08 < hits / 2000 < 0.12
    a, b = np.random.default_rng(9), np.random.default_rng(9)
    evaluate.reset(0, a, kin())
    assert not evaluate.hit[0] and a.uniform() == pytest.approx(_after_placement(b))


def _after_placement(rng):
    rng.uniform(), rng.uniform(), rng.uniform(), rng.uniform()  # near/far, angle, distance, height
    return rng.uniform()


def test_the_strike_scene_starts_hit_in_training_only():
    import gymnasium as gym
    for mode, share in (("train", 0.1), ("eval", 0.0)):
        env = gym.make("DeepMimicStrike-v0", mode=mode)
        assert env.unwrapped.core.scene.goal.start_hit == share
        env.close()
