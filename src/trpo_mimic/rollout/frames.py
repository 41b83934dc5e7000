"""Rollout storage for stacked image frames that keeps each frame once.

A frame-stacked observation (K, H, W) shares K-1 frames with the previous step's observation of the
same environment. Storing whole stacks keeps every frame K times; `StackedFrames` keeps a pool of
frames and a (T, N, K) table of indices into it. A step whose first K-1 frames equal the previous
step's last K-1 frames (compared by content, so reconstruction is exact whatever the wrapper does)
adds one frame; any other observation (the first of a rollout, the first after a reset) adds its
distinct frames (a reset stack, padded with copies of the first frame, adds one).

Indexing a flat sample range (`obs[i]`, a slice, an index array or tensor) rebuilds those stacks as
a uint8 tensor, so an update can take its minibatches and chunks without ever holding the whole
batch of stacks.
"""
from __future__ import annotations

import numpy as np
import torch


class StackedFrames:
    """Time-major (T, N, K, H, W) uint8 observations stored as unique frames + an index table."""

    def __init__(self, steps: int, num_envs: int, stack: int, frame_shape: tuple[int, ...],
                 dtype: np.dtype = np.uint8) -> None:
        self.steps, self.num_envs, self.stack = steps, num_envs, stack
        self.frame_shape = tuple(frame_shape)
        self.dtype = np.dtype(dtype)
        self.frames = np.empty((steps * num_envs + num_envs * stack, *self.frame_shape), dtype=self.dtype)
        self.count = 0
        self.index = np.zeros((steps, num_envs, stack), dtype=np.int64)
        self._prev: np.ndarray | None = None  # (N, K) indices of the previous step's stacks
        self.device = torch.device("cpu")

    @classmethod
    def suits(cls, obs: np.ndarray) -> bool:
        """A batch (N, K, H, W) of uint8 image stacks with K > 1."""
        return obs.dtype == np.uint8 and obs.ndim == 4 and obs.shape[1] > 1

    def _append(self, frames: np.ndarray) -> np.ndarray:
        k = frames.shape[0]
        if self.count + k > self.frames.shape[0]:
            grown = np.empty((max(2 * self.frames.shape[0], self.count + k), *self.frame_shape), self.dtype)
            grown[:self.count] = self.frames[:self.count]
            self.frames = grown
        self.frames[self.count:self.count + k] = frames
        idx = np.arange(self.count, self.count + k)
        self.count += k
        return idx

    def put(self, t: int, obs: np.ndarray) -> None:
        """Store step t's observations (N, K, H, W)."""
        if obs.shape != (self.num_envs, self.stack, *self.frame_shape):
            raise ValueError(f"observation batch of shape {obs.shape}, expected "
                             f"{(self.num_envs, self.stack, *self.frame_shape)}")
        row = self.index[t]
        for n in range(self.num_envs):
            prev = None if self._prev is None else self._prev[n]
            if prev is not None and np.array_equal(obs[n, :-1], self.frames[prev[1:]]):
                row[n, :-1] = prev[1:]
                row[n, -1] = self._append(obs[n, -1:])[0]
            else:  # a whole stack; a reset pads it with copies of one frame, kept once
                for k in range(self.stack):
                    if k and np.array_equal(obs[n, k], obs[n, k - 1]):
                        row[n, k] = row[n, k - 1]
                    else:
                        row[n, k] = self._append(obs[n, k:k + 1])[0]
        self._prev = row

    # ---- the (T, N, K, H, W) array view -------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return (self.steps, self.num_envs, self.stack, *self.frame_shape)

    @property
    def nbytes(self) -> int:
        """Bytes held: the frames stored so far and the index table."""
        return int(self.count * int(np.prod(self.frame_shape)) * self.dtype.itemsize + self.index.nbytes)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self.frames[self.index]
        return out if dtype is None else out.astype(dtype)

    def flat(self, device: torch.device | str = "cpu") -> "FlatStackedFrames":
        """The samples as a flat (T*N, K, H, W) batch that rebuilds stacks on indexing."""
        return FlatStackedFrames(self, torch.device(device))


class FlatStackedFrames:
    """A flat, index-on-demand view of `StackedFrames`: `x[key]` is a (B, K, H, W) uint8 tensor."""

    def __init__(self, store: StackedFrames, device: torch.device) -> None:
        self.store = store
        self.device = device
        self._index = store.index.reshape(-1, store.stack)
        self.dtype = torch.uint8

    @property
    def shape(self) -> torch.Size:
        return torch.Size((self._index.shape[0], self.store.stack, *self.store.frame_shape))

    def __len__(self) -> int:
        return self._index.shape[0]

    def __getitem__(self, key) -> torch.Tensor:
        if isinstance(key, torch.Tensor):
            key = key.cpu().numpy()
        idx = self._index[key]
        if idx.ndim == 1:  # a single sample
            idx = idx[None]
            return torch.from_numpy(self.store.frames[idx][0]).to(self.device)
        return torch.from_numpy(self.store.frames[idx]).to(self.device)


def is_stored_frames(obs: object) -> bool:
    """Whether observations are stored frame stacks (rebuilt on indexing) rather than a tensor or an array."""
    return isinstance(obs, (StackedFrames, FlatStackedFrames))


def update_chunk(obs: object, chunk: int = 0) -> int:
    """Samples per network call in an update: `chunk` if given, else 1024 for stored frame stacks (never
    rebuilt as one whole batch) and 0 (the whole batch at once) for a tensor."""
    return chunk or (1024 if is_stored_frames(obs) else 0)
