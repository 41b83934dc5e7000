"""Failure-weighted reference state initialisation (``fail_weighted_rsi``): per clip and bin of start time, the
decayed counts of episodes started and failed, and the start weights drawn from them. Functions of
:class:`.core.DeepMimicCore` (bound as its methods; the counts are its arrays ``rsi_started``, ``rsi_failed``)."""
from __future__ import annotations

from typing import Any

import numpy as np

RSI_BINS = 20
"""Failure-weighted reference state initialisation: each clip's time is cut into this many bins of start times."""
RSI_DECAY = 0.998
"""... whose counts of episodes started and failed decay by this factor at each ended episode of the clip (an
episode's outcome is forgotten after about 500 more)."""


def start_weights(self: Any) -> np.ndarray:
    """(clips, RSI_BINS) probabilities of a start time's bin: uniform, or with failure-weighted starts
    (``fail_weighted_rsi`` = share s, training only) (1 - s) uniform + s in proportion to each bin's failure
    rate, (failed + 1) / (started + 2) of the episodes started there (as PHC and ProtoMotions weight motions
    by failure, here the times within a clip)."""
    share = self.options.in_force("fail_weighted_rsi")
    uniform = np.full(self.rsi_started.shape, 1.0 / RSI_BINS)
    if share == 0:
        return uniform
    rate = (self.rsi_failed + 1.0) / (self.rsi_started + 2.0)
    return (1 - share) * uniform + share * rate / rate.sum(axis=1, keepdims=True)


def tally_outcomes(self: Any) -> None:
    """Fold the episodes that ended in this step into the failure counts, in row order (the workers only
    wrote each row's own outcome), and draw the next starts' weights from them."""
    rows = np.flatnonzero(self._outcome >= 0)
    for i in rows:
        c, b = self._outcome_clip[i], self._outcome_bin[i]
        self.rsi_started[c] *= RSI_DECAY
        self.rsi_failed[c] *= RSI_DECAY
        self.rsi_started[c, b] += 1.0
        self.rsi_failed[c, b] += float(self._outcome[i])
    self._outcome[rows] = -1
    if rows.size:
        self._rsi_weights = self.start_weights()


def note_ending(self: Any, i: int, failed: bool) -> None:
    """Note how environment i's episode ended, before a restart replaces its start bin."""
    if self._outcome[i] < 0:
        self._outcome_bin[i], self._outcome_clip[i] = self.start_bin[i], self.start_clip[i]
    self._outcome[i] = int(failed)
