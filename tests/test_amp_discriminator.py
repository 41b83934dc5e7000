"""The adversarial-motion-prior discriminator (issue 41): its loss term by term, the style reward, the replay
buffer, the normaliser's floor and freeze, learning to tell two sets apart, and an exact resume."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from trpo_mimic.rewards.amp import AMP, AMPSettings, ReplayBuffer, flushed_subnormals, style_reward

DIM = 4


def gaussian(mean):
    return lambda n, rng: rng.normal(mean, 0.5, size=(n, DIM))


def test_the_style_reward_by_hand():
    d = np.array([1.0, 0.0, -1.0, 3.0, 2.0, -3.0])
    np.testing.assert_allclose(style_reward(d), [1.0, 0.75, 0.0, 0.0, 0.75, 0.0])


def test_the_reward_mixes_style_and_task_as_the_release():
    amp = AMP(DIM, gaussian(1.0), AMPSettings(hidden=(8,), task_lerp=0.5))
    obs = np.zeros((3, DIM))
    r, r_s = amp.reward(obs, np.array([0.2, 0.4, 1.0]))
    np.testing.assert_allclose(r, r_s + 0.5 * np.array([0.2, 0.4, 1.0]))  # (1 - 0.5) 2 r_S + 0.5 r_task
    alone = AMP(DIM, gaussian(1.0), AMPSettings(hidden=(8,)))
    r, r_s = alone.reward(obs, np.ones(3))
    np.testing.assert_allclose(r, 2 * r_s)  # imitation alone: 2 r_S, the task reward unused


def test_the_loss_term_by_term_on_a_hand_made_network():
    s = AMPSettings(hidden=(2,), grad_penalty=10.0, logit_reg=0.05, weight_decay=5e-4)
    amp = AMP(2, gaussian(0.0), s)
    lin1, lin2 = amp.net[0], amp.net[2]
    with torch.no_grad():
        lin1.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
        lin1.bias.zero_()
        lin2.weight.copy_(torch.tensor([[1.0, -1.0]]))
        lin2.bias.copy_(torch.tensor([0.5]))
    # a fresh normaliser: mean 0, std 1 (the floor 0.02 does not bind)
    xe = torch.tensor([[1.0, 1.0]])  # relu(1, 2) -> 1 - 2 + 0.5 = -0.5; dD/dx = (1, -2)
    xa = torch.tensor([[-1.0, 0.5]])  # relu(-1, 1) = (0, 1) -> -1 + 0.5 = -0.5
    total, parts = amp.loss(xe, xa)
    lsq = 0.5 * (0.5 * (-0.5 - 1) ** 2 + 0.5 * (-0.5 + 1) ** 2)  # 0.625
    gp = 1.0 + 4.0
    logit = 0.5 * (1.0 + 1.0)
    decay = 0.5 * (1.0 + 4.0 + 1.0 + 1.0)
    assert parts["AMP/DiscLoss"] == pytest.approx(lsq)
    assert parts["AMP/GradPenalty"] == pytest.approx(gp)
    assert float(total) == pytest.approx(lsq + 10 * 0.5 * gp + 0.05 * logit + 5e-4 * decay)
    assert parts["AMP/AccExpert"] == 0.0 and parts["AMP/AccAgent"] == 1.0


def test_the_buffer_fills_in_order_then_overwrites_random_slots():
    buf, rng = ReplayBuffer(5, 1), np.random.default_rng(0)
    buf.add(np.arange(3.0)[:, None], rng)
    assert buf.size == 3 and buf.data[:3, 0].tolist() == [0, 1, 2]
    buf.add(np.arange(3.0, 10.0)[:, None], rng)  # 3 and 4 fill the last slots, 5-9 overwrite random ones
    expected = np.arange(5.0)
    expected[np.random.default_rng(0).integers(0, 5, size=5)] = np.arange(5.0, 10.0)
    assert buf.size == 5 and buf.data[:, 0].tolist() == expected.tolist()
    assert buf.data[:, 0].tolist() != [5, 6, 7, 8, 9]  # not first in, first out


def test_the_normaliser_floors_the_spread_and_freezes():
    amp = AMP(DIM, lambda n, rng: np.ones((n, DIM)), AMPSettings(hidden=(8,), batch_size=16, norm_samples=64))
    amp.update(np.ones((32, DIM)))  # 64 samples, all ones: std 0 -> floored at 0.02
    assert torch.allclose(amp.norm.inv_std32, torch.full((DIM,), 50.0))
    count = float(amp.norm.count)
    amp.update(np.zeros((32, DIM)))
    assert float(amp.norm.count) == count == 64  # frozen after norm_samples
    assert torch.allclose(amp.norm(torch.full((1, DIM), 2.0)), torch.full((1, DIM), 50.0))  # no clip


def test_it_learns_to_tell_the_expert_from_the_agent():
    amp = AMP(DIM, gaussian(1.0), AMPSettings(hidden=(32, 32), lr=1e-3, batch_size=64), seed=0)
    rng = np.random.default_rng(1)
    for _ in range(30):
        m = amp.update(rng.normal(-1.0, 0.5, size=(128, DIM)))
    assert m["AMP/AccExpert"] > 0.9 and m["AMP/AccAgent"] > 0.9
    assert amp.style(rng.normal(1.0, 0.5, (200, DIM))).mean() > amp.style(rng.normal(-1.0, 0.5, (200, DIM))).mean() + 0.5
    assert math.ceil(2 * 128 / 64) == 4  # steps per update


def test_a_saved_discriminator_resumes_exactly(tmp_path):
    settings = AMPSettings(hidden=(16,), batch_size=32, buffer_size=100)
    rng = np.random.default_rng(2)
    batches = [rng.normal(-1, 0.5, (64, DIM)) for _ in range(4)]
    a = AMP(DIM, gaussian(1.0), settings, seed=3)
    for b in batches[:2]:
        a.update(b)
    torch.save(a.state_dict(), tmp_path / "amp.pt")
    b = AMP(DIM, gaussian(1.0), settings, seed=99)
    b.load_state_dict(torch.load(tmp_path / "amp.pt", weights_only=True))
    for x in batches[2:]:
        ma, mb = a.update(x), b.update(x)
        assert ma == mb
    probe = rng.normal(0, 1, (10, DIM))
    assert np.array_equal(a.style(probe), b.style(probe))


def test_bad_settings_and_mismatched_checkpoints_are_refused():
    with pytest.raises(ValueError, match="task_lerp"):
        AMPSettings(task_lerp=1.5)
    with pytest.raises(ValueError, match="lr"):
        AMPSettings(lr=0.0)
    a, b = AMP(DIM, gaussian(0.0), AMPSettings(hidden=(8,))), AMP(DIM + 1, gaussian(0.0), AMPSettings(hidden=(8,)))
    with pytest.raises(ValueError, match="observes 4 values"):
        b.load_state_dict(a.state_dict())


def test_the_training_extension_scores_a_rollout_after_updating_and_saves_the_discriminator():
    from types import SimpleNamespace

    from trpo_mimic.rewards.amp import AMPReward
    rng = np.random.default_rng(0)
    steps, n = 8, 4
    amp = AMP(DIM, gaussian(1.0), AMPSettings(hidden=(16,), batch_size=16, task_lerp=0.5), seed=0)
    ext = AMPReward(amp)
    obs = rng.normal(-1.0, 0.5, (steps, n, DIM))
    task = rng.uniform(size=(steps, n))
    out = ext.rewards(SimpleNamespace(extras={"amp_obs": obs}), task)
    assert out.shape == (steps, n) and amp.buffer.size == steps * n  # the discriminator saw the batch first
    np.testing.assert_allclose(out, amp.style(obs.reshape(-1, DIM)).reshape(steps, n) + 0.5 * task)
    scalars = ext.update(None, None)
    assert {"AMP/DiscLoss", "AMP/StyleReward", "AMP/TaskReward", "AMP/AccExpert"} <= set(scalars)
    other = AMPReward(AMP(DIM, gaussian(1.0), AMPSettings(hidden=(16,), batch_size=16, task_lerp=0.5), seed=5))
    other.load_state_dict(ext.state_dict())
    assert np.array_equal(other.amp.style(obs[0]), amp.style(obs[0]))
    with pytest.raises(ValueError, match="not trained with --amp"):
        other.load_state_dict({})


def test_subnormals_are_flushed_inside_the_discriminator_and_kept_after():
    tiny = torch.tensor([1e-40])  # subnormal in float32 (the smallest normal is 1.18e-38)
    assert float(tiny * 1.0) > 0
    with flushed_subnormals() as supported:
        assert supported  # x86 and ARM CPUs can flush
        assert float(tiny * 1.0) == 0.0
    assert float(tiny * 1.0) > 0
    with pytest.raises(RuntimeError):
        with flushed_subnormals():
            raise RuntimeError("inside")
    assert float(tiny * 1.0) > 0  # restored after an error too
