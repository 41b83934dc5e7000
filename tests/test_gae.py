import numpy as np

from trpo_mimic.rollout.gae import compute_gae


def test_gae_hand_worked_example():
    # one env, 5 steps: terminated at t=1, truncated (time limit) at t=3 with V(final obs)=10
    gamma, lam = 0.9, 0.8
    rewards = np.array([[1.0], [2.0], [3.0], [4.0], [5.0]])
    values = np.array([[0.5], [1.0], [1.5], [2.0], [2.5]])
    terminated = np.array([[False], [True], [False], [False], [False]])
    truncated = np.array([[False], [False], [False], [True], [False]])
    final_values = np.array([[0.0], [0.0], [0.0], [10.0], [0.0]])
    last_values = np.array([3.0])
    adv, ret = compute_gae(rewards, values, terminated, truncated, last_values, final_values, gamma, lam)
    # t=4: 5 + .9*3 - 2.5 = 5.2
    # t=3: truncated, bootstrap with V(final)=10, chain cut: 4 + 9 - 2 = 11
    # t=2: delta 3 + .9*2 - 1.5 = 3.3; A = 3.3 + .72 * 11 = 11.22
    # t=1: terminated, no bootstrap: 2 - 1 = 1
    # t=0: delta 1 + .9*1 - .5 = 1.4; A = 1.4 + .72 * 1 = 2.12
    expected = np.array([2.12, 1.0, 11.22, 11.0, 5.2])
    np.testing.assert_allclose(adv[:, 0], expected, atol=1e-5)
    np.testing.assert_allclose(ret[:, 0], expected + values[:, 0], atol=1e-5)


def test_gae_truncation_and_termination_differ():
    rewards = np.ones((1, 2))
    values = np.zeros((1, 2))
    adv, _ = compute_gae(rewards, values, np.array([[True, False]]), np.array([[False, True]]),
                         np.zeros(2), np.array([[5.0, 5.0]]), 0.5, 0.9)
    np.testing.assert_allclose(adv[0], [1.0, 1.0 + 0.5 * 5.0])
