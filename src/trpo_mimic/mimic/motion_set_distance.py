"""How close a character's motion is to a motion set, a figure no discriminator can flatter (issue 41; the
recommendation of ``docs/amp.md`` in the shared material, section 8).

A frame's pose is its bodies' positions relative to the root, in the root's heading frame (the character's place
and heading do not matter). A *window* is two consecutive frames 1/30 s apart, so that the motion is compared,
not only the pose (standing still in a pose of the set does not score). The distance of two windows is the mean,
over both frames and every body, of the distance between the body's positions (metres: DeepMimic's pose error,
``docs/amp.md`` Eq. 10, over a window). For each window of a simulation: the distance to its nearest window of
the set, and which clip that is. Reported: the mean and the 95th percentile of those distances, and the
*coverage*, the share of the set's clips that are some window's nearest. The set's own figure, to read them
against: each clip's windows against the other clips' (leave one clip out).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .quat import quat_yaw

WINDOW_DT = 1.0 / 30.0
CHUNK = 256


def relative_poses(body_pos: np.ndarray, root_pos: np.ndarray, root_quat: np.ndarray) -> np.ndarray:
    """Body positions (N, B, 3) relative to the root, in its heading frame (a yaw about +z)."""
    yaw = quat_yaw(root_quat)
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    d = body_pos - root_pos[:, None]
    out = np.empty_like(d)
    out[..., 0] = c * d[..., 0] + s * d[..., 1]
    out[..., 1] = -s * d[..., 0] + c * d[..., 1]
    out[..., 2] = d[..., 2]
    return out


def windows(poses: np.ndarray) -> np.ndarray:
    """(N - 1, 2 B, 3): each frame of a sequence (N, B, 3) with the one before it."""
    return np.concatenate([poses[1:], poses[:-1]], axis=1)


def nearest(query: np.ndarray, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each window of ``query`` (Q, K, 3): (its distance to the nearest window of ``base`` (M, K, 3), that
    window's index). Exact: the mean over K of Euclidean distances, for every pair, in chunks."""
    q, b = np.asarray(query, np.float64), np.asarray(base, np.float64)
    k = q.shape[1]
    bb = np.einsum("mkd,mkd->km", b, b)  # (K, M)
    dist, idx = np.empty(len(q)), np.empty(len(q), dtype=np.intp)
    for s in range(0, len(q), CHUNK):
        qc = q[s:s + CHUNK]
        total = np.zeros((len(qc), len(b)))
        for j in range(k):
            d2 = (qc[:, j] ** 2).sum(axis=1)[:, None] + bb[j][None] - 2.0 * qc[:, j] @ b[:, j].T
            total += np.sqrt(np.maximum(d2, 0.0))
        best = np.argmin(total, axis=1)
        idx[s:s + len(qc)] = best
        dist[s:s + len(qc)] = total[np.arange(len(qc)), best] / k
    return dist, idx


@dataclass
class SetDistance:
    """Nearest-window distances of some motion to a motion set."""

    distances: np.ndarray  # (W,) metres
    clips: np.ndarray  # (W,) the clip of each nearest window
    num_clips: int

    @property
    def mean(self) -> float:
        return float(self.distances.mean())

    @property
    def p95(self) -> float:
        return float(np.percentile(self.distances, 95))

    @property
    def coverage(self) -> float:
        return len(np.unique(self.clips)) / self.num_clips


def clip_poses(clip, layout, t: np.ndarray) -> np.ndarray:
    """A clip's poses (N, B, 3) at times t, as :func:`relative_poses` of a simulation's bodies: the reference's
    packed body positions are already relative to the root (world axes), so only the heading turn is left."""
    quats, vec = clip.reference_packed_batch(np.asarray(t, dtype=np.float64))
    n = len(vec)
    return relative_poses(vec[:, layout.bodies].reshape(n, -1, 3), np.zeros((n, 3)), quats[:, 0])


class MotionSet:
    """The windows of a motion set's clips, sampled every WINDOW_DT over each clip's span."""

    def __init__(self, clips: Sequence, layout):
        self.names = [c.name for c in clips]
        self.clip_windows = []
        for c in clips:
            t = np.arange(0.0, c.duration + 1e-9, WINDOW_DT)
            self.clip_windows.append(windows(clip_poses(c, layout, t)))
        self.all = np.concatenate(self.clip_windows)
        self.owner = np.concatenate([np.full(len(w), k) for k, w in enumerate(self.clip_windows)])

    def distance(self, sim_windows: np.ndarray) -> SetDistance:
        d, i = nearest(sim_windows, self.all)
        return SetDistance(d, self.owner[i], len(self.names))

    def leave_one_clip_out(self) -> SetDistance:
        """Each clip's windows against the other clips' (the set's own spread: the figure to read a policy's
        against). Needs two clips or more."""
        if len(self.clip_windows) < 2:
            raise ValueError("leave one clip out needs a motion set of two clips or more")
        ds, cs = [], []
        for k, w in enumerate(self.clip_windows):
            others = self.owner != k
            d, i = nearest(w, self.all[others])
            ds.append(d)
            cs.append(self.owner[others][i])
        return SetDistance(np.concatenate(ds), np.concatenate(cs), len(self.names))
