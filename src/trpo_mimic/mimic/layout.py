"""The one layout of the packed kinematic state that the reward compares.

A character's state (simulated or reference) is packed, per environment, into one vector::

    [ joint angular velocities  ((J - 1) x 3: each joint's velocity relative to its parent,
                                 in the joint's own (child body's) frame),
      root angular velocity (3, world frame),
      end effectors (E x 3: horizontal offset from the root, world axes, then height above the ground),
      bodies - root position (B x 3, world axes),
      root position (3), root linear velocity (3), com velocity (3), com position (3) ]

and its rotations into ``quats``: the root's world rotation, then each actuated joint's
local rotation (w, x, y, z). These are the quantities DeepMimic's ``CalcRewardImitate``
compares (its spherical joints' velocities are relative angular velocities in the child's
frame, ``cMathUtil::CalcQuaternionVelRel``; its root velocities are in the world frame).
Every error of the reward is a weighted sum of squares of ``sim - ref`` (one matrix
product) once the end effectors are put in each character's own heading frame. Code reads
the parts by name through :class:`StateLayout`, never by index arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .quat import quat_rotate_inv, yaw_mul


@dataclass
class KinematicState:
    """The quantities the reward compares, for the simulation or the reference, by name.

    ``quats`` holds the root's world rotation then the joints' local rotations (w, x, y, z);
    ``angvel`` the root's world angular velocity then each joint's angular velocity relative
    to its parent in the joint's frame (see :func:`angular_velocities`); positions and linear
    velocities are in the world frame. Fields may carry a leading axis N (one row per time or
    environment).
    """

    quats: np.ndarray  # (J, 4)
    angvel: np.ndarray  # (J, 3)
    root_pos: np.ndarray  # (3,)
    com: np.ndarray  # (3,)
    ee_pos: np.ndarray  # (E, 3)
    body_pos: np.ndarray  # (B, 3)
    root_linvel: np.ndarray  # (3,)
    com_vel: np.ndarray  # (3,)


def angular_velocities(xquat: np.ndarray, cvel: np.ndarray, children: np.ndarray,
                       parents: np.ndarray) -> np.ndarray:
    """(..., J, 3) angular velocities from MuJoCo's body arrays (``xquat`` (..., nbody, 4),
    ``cvel`` (..., nbody, 6), angular part first, world frame): row 0 the world angular velocity
    of ``children[0]`` (the root), row j the angular velocity of ``children[j]`` relative to
    ``parents[j]``, expressed in ``children[j]``'s frame (a hinge's is its rate along its axis)."""
    w = cvel[..., :3]
    rel = w[..., children[1:], :] - w[..., parents[1:], :]
    return np.concatenate([w[..., children[:1], :], quat_rotate_inv(xquat[..., children[1:], :], rel)], axis=-2)


@dataclass(frozen=True)
class StateLayout:
    """Where each part of the packed state lies (see module docstring)."""

    n_joints: int  # rotations compared: the root and the actuated joints
    n_ee: int  # end effectors
    n_bodies: int  # bodies of the body-position error

    @staticmethod
    def of(model, index) -> "StateLayout":
        """The layout of a character (``model``: its MjModel, ``index``: its CharacterIndex)."""
        return StateLayout(n_joints=1 + len(index.pose_bodies), n_ee=len(index.ee_sites), n_bodies=len(index.bodies))

    @property
    def joint_angvel(self) -> slice:
        return slice(0, 3 * (self.n_joints - 1))

    def _rows(self, start_row: int, rows: int) -> slice:
        start = 3 * (self.n_joints - 1) + 3 * start_row
        return slice(start, start + 3 * rows)

    @property
    def root_angvel(self) -> slice:
        return self._rows(0, 1)

    @property
    def ee(self) -> slice:
        return self._rows(1, self.n_ee)

    @property
    def bodies(self) -> slice:
        return self._rows(1 + self.n_ee, self.n_bodies)

    def _vec(self, k: int) -> slice:
        return self._rows(1 + self.n_ee + self.n_bodies + k, 1)

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
        return self.com.stop

    @property
    def vectors(self) -> slice:
        """Every world-axes 3-vector (root angular velocity to com): what a change of frame rotates."""
        return slice(self.root_angvel.start, self.size)

    @property
    def positions_in_vectors(self) -> tuple[int, int]:
        """Rows of the root position and the com among :attr:`vectors` (what a change of frame also moves)."""
        k = 1 + self.n_ee + self.n_bodies
        return k, k + 3

    def transform(self, quats: np.ndarray, vec: np.ndarray, rot: np.ndarray, off: np.ndarray,
                  yq: np.ndarray) -> None:
        """Move packed rows into another horizontal frame, in place: every world-axes vector of ``vec`` (N, size)
        turned by ``rot`` (N, 3, 3) (a rotation about the vertical), the root position and com also moved by
        ``off`` (N, 3), and the root rotation ``quats[:, 0]`` (N, J, 4) turned by the yaw quaternion ``yq`` (N, 4)
        (a looping clip's next cycle; a reference moved onto the character when the clip switches)."""
        n, vs = len(vec), self.vectors
        v3 = np.matmul(vec[:, vs].reshape(n, -1, 3), np.swapaxes(rot, -1, -2))
        v3[:, list(self.positions_in_vectors)] += off[:, None]
        vec[:, vs] = v3.reshape(n, -1)
        quats[:, 0] = yaw_mul(yq, quats[:, 0])

    def pack(self, angvel: np.ndarray, ee_pos: np.ndarray, body_pos: np.ndarray, root_pos: np.ndarray,
             root_linvel: np.ndarray, com_vel: np.ndarray, com: np.ndarray) -> np.ndarray:
        """(..., size) from world-frame quantities (leading dimensions alike; ``angvel`` (..., J, 3),
        ``ee_pos`` (..., E, 3), ``body_pos`` (..., B, 3)); the relative parts are formed here."""
        lead = root_pos.shape[:-1]
        ee = ee_pos - root_pos[..., None, :]
        ee[..., 2] = ee_pos[..., 2]  # height above the (flat, z = 0) ground
        return np.concatenate([angvel.reshape(*lead, 3 * self.n_joints)[..., 3:], angvel[..., 0, :],
                               ee.reshape(*lead, 3 * self.n_ee),
                               (body_pos - root_pos[..., None, :]).reshape(*lead, 3 * self.n_bodies),
                               root_pos, root_linvel, com_vel, com], axis=-1)

    def unpack(self, quats: np.ndarray, vec: np.ndarray) -> KinematicState:
        """The :class:`KinematicState` (world frame, leading axis N) of packed rows ``vec`` (N, size)."""
        n = len(vec)
        root = vec[:, self.root_pos]
        ee = vec[:, self.ee].reshape(n, -1, 3).copy()
        ee[..., :2] += root[:, None, :2]
        angvel = np.concatenate([vec[:, self.root_angvel], vec[:, self.joint_angvel]], axis=1).reshape(n, -1, 3)
        return KinematicState(quats=quats, angvel=angvel, root_pos=root, com=vec[:, self.com], ee_pos=ee,
                              body_pos=vec[:, self.bodies].reshape(n, -1, 3) + root[:, None],
                              root_linvel=vec[:, self.root_linvel], com_vel=vec[:, self.com_vel])
