"""The DeepMimic imitation reward as pure functions of simulated and reference quantities.

Default style: the **released code** (pose 0.5, velocity 0.05, end effector 0.15,
root 0.2, centre-of-mass velocity 0.1, with per-joint weights), not the paper's
(pose 0.65, velocity 0.1, end effector 0.15, com position 0.1).  Why: the released
code is what produced the reported results, and its root term (position, rotation and
velocities of the root) keeps the character on the clip's global path, which the
paper's com term only does loosely.  ``RewardWeights.paper()`` gives the paper form.

Errors (each term is ``exp(-scale * error)``, so it lies in [0, 1]):

* pose: ``sum_j w_j angle(q_ref_j^-1 q_j)^2`` over the root rotation and the 12 joints'
  local rotations (``w`` = per-joint weights normalised to sum 1);
* velocity: ``sum_h w_h (dq_ref_h - dq_h)^2`` over the root's angular velocity and every
  hinge rate (each hinge of a joint carries that joint's weight);
* end effector: ``sum_e ||(p_e - p_root) - (p_ref_e - p_ref_root)||^2`` (ankles, wrists);
* root: ``||dp||^2 + 0.1 angle^2 + 0.01 ||dv||^2 + 0.001 ||dw||^2`` of the root;
* com velocity: ``||v_com_ref - v_com||^2``;  com: ``||c_ref - c||^2``.

The total is ``sum_k weight_k r_k / sum_k weight_k``, so it also lies in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np

from .layout import StateLayout

TERMS = ("pose", "velocity", "end_effector", "root", "com_vel", "com")
"""Term names; the environment reports each as ``info['reward_<name>']``."""

JOINT_WEIGHTS = {
    "root": 1.0, "chest": 0.5, "neck": 0.3, "right_hip": 0.5, "right_knee": 0.3,
    "right_ankle": 0.2, "right_shoulder": 0.3, "right_elbow": 0.2, "left_hip": 0.5,
    "left_knee": 0.3, "left_ankle": 0.2, "left_shoulder": 0.3, "left_elbow": 0.2,
}
"""Per-joint weights of the released code (wrists 0, so absent)."""


@dataclass(frozen=True)
class RewardWeights:
    """Weights and scales of the imitation reward; defaults follow the released code."""

    pose: float = 0.5
    """Weight of the joint-rotation term."""
    velocity: float = 0.05
    """Weight of the joint-velocity term."""
    end_effector: float = 0.15
    """Weight of the end-effector (ankles, wrists) position term."""
    root: float = 0.2
    """Weight of the root position/rotation/velocity term."""
    com_vel: float = 0.1
    """Weight of the centre-of-mass velocity term."""
    com: float = 0.0
    """Weight of the centre-of-mass position term (paper form only)."""
    pose_scale: float = 2.0
    velocity_scale: float = 0.1
    end_effector_scale: float = 10.0
    root_scale: float = 5.0
    com_vel_scale: float = 10.0
    com_scale: float = 10.0
    joint_weights: dict = field(default_factory=lambda: dict(JOINT_WEIGHTS))
    """Per-joint weights of the pose and velocity errors (normalised to sum 1)."""

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float | int) and not (math.isfinite(v) and v >= 0):
                raise ValueError(f"reward weight {f.name} must be finite and >= 0, got {v}")
        if self.total_weight() <= 0:
            raise ValueError("at least one reward term weight must be positive")

    @classmethod
    def paper(cls) -> "RewardWeights":
        """The paper's form: 0.65 pose + 0.1 velocity + 0.15 end effector + 0.1 com."""
        return cls(pose=0.65, velocity=0.1, end_effector=0.15, root=0.0, com_vel=0.0, com=0.1,
                   end_effector_scale=40.0)

    def total_weight(self) -> float:
        """Sum of the term weights (the total is divided by it)."""
        return self.pose + self.velocity + self.end_effector + self.root + self.com_vel + self.com


def pose_weight_vector(joint_names, joint_weights: dict) -> np.ndarray:
    """Normalised weights for rows ``["root", *joint_names]`` of ``layout.KinematicState.quats``."""
    w = np.array([joint_weights.get(n, 0.0) for n in ("root", *joint_names)], dtype=np.float64)
    return w / w.sum()


def velocity_weight_vector(pose_w: np.ndarray, hinge_joint_row: np.ndarray) -> np.ndarray:
    """Weights for ``qvel[3:]``: the root's three angular rates, then one per hinge.

    ``hinge_joint_row[h]`` is the row in ``quats`` (minus one for the root) of hinge h.
    """
    return np.concatenate([np.full(3, pose_w[0]), pose_w[1 + np.asarray(hinge_joint_row)]])


class ImitationReward:
    """The reward of N environments at once, on the packed state of :mod:`.layout`.

    ``ang2`` (N, J) holds the squared rotation angles of the ``quats`` rows and ``diff``
    (N, layout.size) is ``sim - ref`` of the packed states; every error is then a fixed
    weighted sum of squares, i.e. one matrix product (the tests hold it against a term-by-term oracle).
    """

    def __init__(self, layout: StateLayout, pose_w: np.ndarray, vel_w: np.ndarray,
                 weights: RewardWeights = RewardWeights()):
        if len(vel_w) != layout.n_qvel:
            raise ValueError(f"{len(vel_w)} velocity weights for {layout.n_qvel} rates")
        wa = np.zeros((len(pose_w), len(TERMS)))
        wd = np.zeros((layout.size, len(TERMS)))
        wa[:, 0] = pose_w
        wa[0, 3] = 0.1  # root rotation
        wd[layout.qvel, 1] = vel_w
        wd[layout.ee, 2] = 1.0
        wd[0:3, 3] = 0.001  # root angular velocity (the first three rates)
        wd[layout.root_pos, 3] = 1.0
        wd[layout.root_linvel, 3] = 0.01
        wd[layout.com_vel, 4] = 1.0
        wd[layout.com, 5] = 1.0
        self.wa, self.wd = wa, wd
        self.scales = -np.array([weights.pose_scale, weights.velocity_scale, weights.end_effector_scale,
                                 weights.root_scale, weights.com_vel_scale, weights.com_scale])
        self.term_w = np.array([weights.pose, weights.velocity, weights.end_effector, weights.root,
                                weights.com_vel, weights.com]) / weights.total_weight()

    def __call__(self, ang2: np.ndarray, diff: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(total (N,), terms (N, 6) in TERMS order); a non-finite row scores 0 throughout."""
        err = ang2 @ self.wa + (diff * diff) @ self.wd
        terms = np.exp(self.scales * err)
        total = terms @ self.term_w
        bad = ~np.isfinite(total)
        if bad.any():
            total[bad] = 0.0
            terms[bad] = 0.0
        return total, terms
