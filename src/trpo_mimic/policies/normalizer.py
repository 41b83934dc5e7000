"""Running mean / variance observation normaliser, saved inside every checkpoint."""
from __future__ import annotations

import torch
from torch import nn


def _refresh_after_load(module: "RunningNormalizer", incompatible_keys: object) -> None:
    module._refresh()


class RunningNormalizer(nn.Module):
    """Normalises inputs by running statistics (parallel Welford update), then clips.

    Statistics change only through `update` (called on rollouts during training); evaluation
    leaves them frozen. They are buffers, so they live in the state_dict.
    """

    def __init__(self, shape: tuple[int, ...], clip: float | None = 10.0, epsilon: float = 1e-8,
                 enabled: bool = True, min_std: float = 0.0, max_count: float | None = None) -> None:
        """``clip``: the bound of normalised values (None: none); ``min_std``: a floor of the standard deviation
        divided by (0: none, only ``epsilon``); ``max_count``: the statistics stop changing once they have
        seen this many samples (None: never; AMP's discriminator normaliser stops at 1e6, as DeepMimic's)."""
        super().__init__()
        self.register_buffer("mean", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("var", torch.ones(shape, dtype=torch.float64))
        self.register_buffer("count", torch.tensor(0.0, dtype=torch.float64))
        # float32 copies used on the hot path, refreshed whenever the statistics change
        self.register_buffer("mean32", torch.zeros(shape), persistent=False)
        self.register_buffer("inv_std32", torch.ones(shape), persistent=False)
        self.clip = clip
        self.epsilon = epsilon
        self.enabled = enabled
        self.min_std, self.max_count = float(min_std), max_count
        self._refresh()
        self.register_load_state_dict_post_hook(_refresh_after_load)

    @torch.no_grad()
    def _refresh(self) -> None:
        self.mean32.copy_(self.mean.float())
        if self.min_std > 0:
            self.inv_std32.copy_((1.0 / torch.clamp(torch.sqrt(self.var), min=self.min_std)).float())
        else:
            self.inv_std32.copy_(torch.rsqrt(self.var + self.epsilon).float())

    @torch.no_grad()
    def update(self, batch: torch.Tensor) -> None:
        """Merge the statistics of a batch of shape (N, *shape)."""
        if not self.enabled or (self.max_count is not None and float(self.count) >= self.max_count):
            return
        from .. import distributed as D
        batch = batch.to(self.mean.device, torch.float64).reshape(-1, *self.mean.shape)
        # count, sum and sum of squares: summed across ranks when training is distributed
        n = D.sum_(torch.tensor(float(batch.shape[0]), dtype=torch.float64, device=batch.device))
        if n == 0:
            return
        b_mean = D.sum_(batch.sum(dim=0)) / n
        b_var = torch.clamp(D.sum_((batch - b_mean).pow(2).sum(dim=0)) / n, min=0.0)
        total = self.count + n
        delta = b_mean - self.mean
        new_mean = self.mean + delta * n / total
        m2 = self.var * self.count + b_var * n + delta.pow(2) * self.count * n / total
        self.mean.copy_(new_mean)
        self.var.copy_(m2 / total)
        self.count.copy_(total)
        self._refresh()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return x.float()
        z = (x.float() - self.mean32) * self.inv_std32
        return z if self.clip is None else torch.clamp(z, -self.clip, self.clip)
