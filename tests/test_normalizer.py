import numpy as np
import torch

from trpo_mimic.policies import RunningNormalizer


def test_running_stats_match_numpy():
    rng = np.random.default_rng(0)
    norm = RunningNormalizer((5,))
    chunks = [rng.normal(loc=3.0, scale=[1, 2, 3, 4, 5], size=(n, 5)) for n in (1, 7, 64, 300, 2)]
    for c in chunks:
        norm.update(torch.as_tensor(c))
    allx = np.concatenate(chunks)
    np.testing.assert_allclose(norm.mean.numpy(), allx.mean(0), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(norm.var.numpy(), allx.var(0), rtol=1e-10, atol=1e-10)
    assert norm.count.item() == len(allx)
    x = torch.as_tensor(allx[:3], dtype=torch.float32)
    expected = (allx[:3] - allx.mean(0)) / np.sqrt(allx.var(0) + 1e-8)
    np.testing.assert_allclose(norm(x).numpy(), expected, rtol=1e-4, atol=1e-5)


def test_normalizer_clips_and_is_frozen_by_forward():
    norm = RunningNormalizer((2,), clip=5.0)
    norm.update(torch.zeros(10, 2))
    out = norm(torch.tensor([[1e6, -1e6]]))
    assert out.tolist() == [[5.0, -5.0]]
    before = norm.state_dict()["count"].clone()
    norm(torch.randn(4, 2))
    assert torch.equal(norm.count, before)


def test_normalizer_state_in_state_dict():
    norm = RunningNormalizer((3,))
    norm.update(torch.randn(20, 3, dtype=torch.float64) + 2)
    other = RunningNormalizer((3,))
    other.load_state_dict(norm.state_dict())
    x = torch.randn(4, 3)
    assert torch.equal(norm(x), other(x))
