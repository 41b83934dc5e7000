"""Rollout storage of stacked frames: each frame kept once, stacks rebuilt exactly, same TRPO update."""
import copy

import gymnasium as gym
import numpy as np
import pytest
import torch

from trpo_mimic.algos.trpo import PolicyBatch, TRPOSettings, update_critic, update_policy
from trpo_mimic.policies.networks import Actor, Critic
from trpo_mimic.rollout.frames import StackedFrames

K, H, W = 4, 84, 84


def framestack_stream(steps, num_envs, ends, rng):
    """Observations as FrameStackObservation(4) gives them (reset pads with the first frame), newest last."""
    obs = np.empty((steps, num_envs, K, H, W), np.uint8)
    stacks = [None] * num_envs
    for t in range(steps):
        for n in range(num_envs):
            frame = rng.integers(0, 256, (H, W), dtype=np.uint8)
            if stacks[n] is None or (t, n) in ends:  # a new episode: the stack is the reset frame four times
                stacks[n] = np.repeat(frame[None], K, axis=0)
            else:
                stacks[n] = np.concatenate([stacks[n][1:], frame[None]])
            obs[t, n] = stacks[n]
    return obs


def test_stacks_are_rebuilt_exactly_and_each_frame_is_stored_once():
    rng = np.random.default_rng(0)
    ends = {(3, 0), (5, 1), (6, 1)}  # episodes restart here (twice in a row for env 1)
    obs = framestack_stream(10, 2, ends, rng)
    store = StackedFrames(10, 2, K, (H, W))
    for t in range(10):
        store.put(t, obs[t])
    np.testing.assert_array_equal(np.asarray(store), obs)
    # every step adds one frame: a continued stack its newest, a reset stack its one repeated frame
    assert store.count == 10 * 2
    assert store.nbytes < 0.4 * obs.nbytes
    flat = store.flat()
    assert flat.shape == (20, K, H, W) and len(flat) == 20
    want = torch.from_numpy(obs.reshape(20, K, H, W))
    idx = torch.tensor([19, 0, 7, 7, 12])
    assert torch.equal(flat[idx], want[idx])
    assert torch.equal(flat[3:9], want[3:9])
    assert torch.equal(flat[:], want) and flat[:].dtype == torch.uint8
    assert torch.equal(flat[5], want[5])


def test_unrelated_stacks_are_still_exact():
    """Comparing by content: observations that do not continue each other are stored whole."""
    rng = np.random.default_rng(1)
    obs = rng.integers(0, 256, (6, 3, K, H, W), dtype=np.uint8)
    store = StackedFrames(6, 3, K, (H, W))
    for t in range(6):
        store.put(t, obs[t])
    np.testing.assert_array_equal(np.asarray(store), obs)
    assert store.count == 6 * 3 * K
    with pytest.raises(ValueError, match="shape"):
        store.put(0, obs[0, :2])


def test_trpo_and_critic_updates_on_stored_frames_equal_those_on_tensors():
    rng = np.random.default_rng(2)
    T, N = 8, 6
    obs = framestack_stream(T, N, {(4, 2)}, rng)
    store = StackedFrames(T, N, K, (H, W))
    for t in range(T):
        store.put(t, obs[t])
    space = gym.spaces.Box(0, 255, (K, H, W), np.uint8)
    torch.manual_seed(0)
    actor, critic = Actor(space, gym.spaces.Discrete(4)), Critic(space)
    actions = torch.randint(0, 4, (T * N,))
    adv, ret = torch.randn(T * N), torch.randn(T * N)
    settings = TRPOSettings(max_kl=0.01, cg_iters=5, grad_chunk=16, fvp_subsample=0.5)
    results = []
    for batch_obs in (store.flat(), torch.from_numpy(obs.reshape(T * N, K, H, W))):
        a, c = copy.deepcopy(actor), copy.deepcopy(critic)
        opt = torch.optim.Adam(c.parameters(), lr=1e-3)
        torch.manual_seed(1)
        stats = update_policy(a, PolicyBatch(batch_obs, actions, adv, ret), settings)
        vstats = update_critic(c, opt, batch_obs, ret, 2, 16, generator=torch.Generator().manual_seed(3))
        results.append((a, c, stats, vstats))
    (a1, c1, s1, v1), (a2, c2, s2, v2) = results
    assert s1["line_search_accepted"] == 1.0 and 0 < s1["kl"] <= 0.01
    assert s1["kl"] == pytest.approx(s2["kl"], rel=1e-5) and v1["value_loss"] == pytest.approx(v2["value_loss"], rel=1e-5)
    for p1, p2 in zip(list(a1.parameters()) + list(c1.parameters()), list(a2.parameters()) + list(c2.parameters())):
        torch.testing.assert_close(p1, p2, rtol=1e-5, atol=1e-6)
    assert not all(torch.equal(p, q) for p, q in zip(a1.parameters(), actor.parameters()))
