"""What every algorithm offers the training loop, and the batch it updates on.

An algorithm object is built once per run from the run's Config and the agent (`from_config`), owns
its optimiser(s) and settings, and has the same small surface whatever it does inside:

- ``update(batch) -> dict[str, float]``: one update on one rollout's batch; the statistics are keyed
  by what they are for this algorithm (``TRPO/surrogate``, ``PPO/clip_loss``, ...) and logged as they are;
- ``summary(stats) -> str``: the algorithm's part of the console line;
- ``state_dict()`` / ``load_state_dict(payload)``: its entries of a checkpoint (``critic_optimizer``:
  the optimiser state, under the key every checkpoint has used, so old checkpoints still load);
- ``close()``: release what it started (a thread).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch


@dataclass
class PolicyBatch:
    """Flat samples for one update (observations already normalised).

    `obs` is a tensor, or stored frame stacks rebuilt on indexing (`rollout.frames.FlatStackedFrames`);
    `values` are the critic's values at collection time (PPO's value clipping and explained variance)."""

    obs: Any
    actions: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    values: torch.Tensor | None = None


class Algorithm(Protocol):
    name: str

    def update(self, batch: PolicyBatch) -> dict[str, float]: ...

    def summary(self, stats: dict[str, float]) -> str: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, payload: dict[str, Any]) -> None: ...

    def close(self) -> None: ...
