"""The one layout of the packed kinematic state that the reward compares.

A character's state (simulated or reference) is packed, per environment, into one vector::

    [ qvel[root_qvel + 3:]  (root angular velocity, then every hinge rate),
      end effectors - root position  (E x 3),
      root position (3), root linear velocity (3), com velocity (3), com position (3) ]

and its rotations into ``quats``: the root's world rotation, then each actuated joint's
local rotation (w, x, y, z). Every error of the reward is then a weighted sum of squares of
``sim - ref`` (one matrix product). Code reads the parts by name through :class:`StateLayout`,
never by index arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class KinematicState:
    """The quantities the reward compares, for the simulation or the reference, by name.

    ``quats`` holds the root's world rotation then the joints' local rotations
    (w, x, y, z), ``qvel`` is MuJoCo's qvel (root angular velocity at 3:6, hinge
    rates after), positions and velocities are in the world frame. Fields may carry a
    leading axis N (one row per time or environment).
    """

    quats: np.ndarray  # (J, 4)
    qvel: np.ndarray  # (nv,)
    root_pos: np.ndarray  # (3,)
    com: np.ndarray  # (3,)
    ee_pos: np.ndarray  # (E, 3)
    root_linvel: np.ndarray  # (3,)
    com_vel: np.ndarray  # (3,)


@dataclass(frozen=True)
class StateLayout:
    """Where each part of the packed state lies (see module docstring)."""

    n_qvel: int  # root angular velocity (3) + hinge rates
    n_ee: int  # end effectors

    @staticmethod
    def of(model, index) -> "StateLayout":
        """The layout of a character (``model``: its MjModel, ``index``: its CharacterIndex)."""
        return StateLayout(n_qvel=model.nv - index.root_qvel - 3, n_ee=len(index.ee_sites))

    @property
    def qvel(self) -> slice:
        return slice(0, self.n_qvel)

    @property
    def ee(self) -> slice:
        return slice(self.n_qvel, self.n_qvel + 3 * self.n_ee)

    def _vec(self, k: int) -> slice:
        start = self.n_qvel + 3 * self.n_ee + 3 * k
        return slice(start, start + 3)

    @property
    def root_pos(self) -> slice:
        return self._vec(0)

    @property
    def root_linvel(self) -> slice:
        return self._vec(1)

    @property
    def com_vel(self) -> slice:
        return self._vec(2)

    @property
    def com(self) -> slice:
        return self._vec(3)

    @property
    def size(self) -> int:
        return self.n_qvel + 3 * self.n_ee + 12

    @property
    def vectors(self) -> slice:
        """Every 3-vector (end effectors, root, velocities, com): what a change of frame rotates."""
        return slice(self.n_qvel, self.size)

    @property
    def positions_in_vectors(self) -> tuple[int, int]:
        """Rows of the root position and the com among :attr:`vectors` (what a change of frame also moves)."""
        return self.n_ee, self.n_ee + 3

    def pack(self, qvel_tail: np.ndarray, ee_rel: np.ndarray, root_pos: np.ndarray, root_linvel: np.ndarray,
             com_vel: np.ndarray, com: np.ndarray) -> np.ndarray:
        """(..., size) from the parts (leading dimensions alike; ``ee_rel`` is (..., E, 3))."""
        lead = root_pos.shape[:-1]
        return np.concatenate([qvel_tail, ee_rel.reshape(*lead, 3 * self.n_ee), root_pos, root_linvel,
                               com_vel, com], axis=-1)
