"""The :class:`Bvh` skeleton and motion, and its forward kinematics.

The rest pose has every joint frame aligned with the world (the offsets alone place the
joints); a joint's rotation channels, in degrees, compose in the order listed
(``Zrotation Xrotation Yrotation`` is ``Rz Rx Ry``, the leftmost nearest the parent);
position channels are the joint's translation in its parent's frame and replace its OFFSET.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..quat import AXIS, axis_quat, quat_mul, quat_to_mat


class BvhError(ValueError):
    """A malformed BVH file or joint map; the message names the file and line."""


@dataclass
class Bvh:
    """A BVH skeleton and its motion. Joint i's parent is ``parents[i]`` (-1 for the root)."""

    joints: list[str]
    parents: list[int]
    offsets: np.ndarray  # (J, 3)
    channels: list[tuple[str, ...]]
    frames: np.ndarray  # (F, total channels)
    frame_time: float
    end_sites: list[tuple[int, np.ndarray]] = field(default_factory=list)  # (joint, offset)
    name: str = "bvh"

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def channel_starts(self) -> list[int]:
        starts, c = [], 0
        for ch in self.channels:
            starts.append(c)
            c += len(ch)
        return starts

    def index(self, joint: str) -> int:
        return self.joints.index(joint)

    def children(self, j: int) -> list[int]:
        return [i for i, p in enumerate(self.parents) if p == j]

    def rest_positions(self) -> np.ndarray:
        """(J, 3) joint positions in the rest pose (offsets summed down the hierarchy)."""
        pos = np.zeros((len(self.joints), 3))
        for j, p in enumerate(self.parents):
            pos[j] = self.offsets[j] + (pos[p] if p >= 0 else 0.0)
        return pos

    def local_rotations(self) -> np.ndarray:
        """(F, J, 4) unit quaternions (w, x, y, z) of each joint's rotation channels."""
        F = self.num_frames
        out = np.zeros((F, len(self.joints), 4))
        out[..., 0] = 1.0
        for j, (start, chans) in enumerate(zip(self.channel_starts, self.channels)):
            q = out[:, j]
            for k, ch in enumerate(chans):
                if ch.endswith("rotation"):
                    q = quat_mul(q, axis_quat(AXIS[ch[0]], np.radians(self.frames[:, start + k])))
            out[:, j] = q
        return out

    def local_translations(self) -> np.ndarray:
        """(F, J, 3) translations in the parent's frame: the offset, or the position channels."""
        F = self.num_frames
        out = np.broadcast_to(self.offsets, (F, len(self.joints), 3)).copy()
        for j, (start, chans) in enumerate(zip(self.channel_starts, self.channels)):
            for k, ch in enumerate(chans):
                if ch.endswith("position"):
                    out[:, j, AXIS[ch[0]]] = self.frames[:, start + k]
        return out

    def forward_kinematics(self) -> tuple[np.ndarray, np.ndarray]:
        """(world rotations (F, J, 4), world positions (F, J, 3)) of every joint."""
        local_q, local_t = self.local_rotations(), self.local_translations()
        rot = np.zeros_like(local_q)
        pos = np.zeros_like(local_t)
        for j, p in enumerate(self.parents):
            if p < 0:
                rot[:, j], pos[:, j] = local_q[:, j], local_t[:, j]
            else:
                rot[:, j] = quat_mul(rot[:, p], local_q[:, j])
                pos[:, j] = pos[:, p] + np.einsum("fij,fj->fi", quat_to_mat(rot[:, p]), local_t[:, j])
        return rot, pos
