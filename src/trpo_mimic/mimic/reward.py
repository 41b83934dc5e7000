"""The DeepMimic imitation reward as pure functions of simulated and reference quantities.

Default style: the **released code** (pose 0.5, velocity 0.05, end effector 0.15,
root 0.2, centre-of-mass velocity 0.1, with per-joint weights), not the paper's
(pose 0.65, velocity 0.1, end effector 0.15, com position 0.1).  Why: the released
code is what produced the reported results, and its root term (position, rotation and
velocities of the root) keeps the character on the clip's global path, which the
paper's com term only does loosely.  ``RewardWeights.paper()`` gives the paper form.

Errors, as ``DeepMimicCore/scenes/SceneImitate.cpp`` (``CalcRewardImitate``) computes them
(each term is ``exp(-scale * error)``, so it lies in [0, 1]):

* pose: ``sum_j w_j angle(q_ref_j^-1 q_j)^2`` over the root's world rotation and the 12
  joints' local rotations (``w`` = per-joint weights normalised to sum 1);
* velocity: ``sum_j w_j ||w_ref_j - w_j||^2`` over the root's world angular velocity and
  each joint's angular velocity relative to its parent, in the joint's frame
  (:func:`.layout.angular_velocities`);
* end effector: ``sum_e ||e_e - e_ref_e||^2`` (ankles, wrists), where ``e`` is the effector's
  horizontal offset from the root with its height above the ground as vertical part, each in
  its own character's heading frame (so a heading error alone costs nothing here);
* root: ``||dp||^2 + 0.1 angle^2 + 0.01 ||dv||^2 + 0.001 ||dw||^2`` of the root (position,
  rotation, linear and angular velocity, world frame);
* com velocity: ``0.1 ||v_com_ref - v_com||^2`` (with the scale 10: ``exp(-1.0 |dv|^2)``);
  com (paper form only): ``||c_ref - c||^2``.

The total is ``sum_k weight_k r_k / sum_k weight_k``, so it also lies in [0, 1].

Before 2026-12-02 (issue 17) the end effectors were compared in the world frame with heights
relative to the root, the com velocity error lacked the factor 0.1, and joint velocities were
the rates of the MJCF's Euler hinges; figures measured before then used those terms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np

from .layout import StateLayout

COM_VEL_FACTOR = 0.1
"""DeepMimic's ``com_err = 0.1 * |dv_com|^2``."""
BODY_ERRORS = ("error_body_pos", "error_body_pos_local")
"""Info keys of the mean body-position error (m): global, and relative to the root position."""

TERMS = ("pose", "velocity", "end_effector", "root", "com_vel", "com")
"""Term names; the environment reports each as ``info['reward_<name>']``."""



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
    """Scale of the com velocity term; its error carries DeepMimic's factor ``COM_VEL_FACTOR``."""
    com_scale: float = 10.0
    joint_weights: dict = field(default_factory=dict)
    """Per-joint weights of the pose and velocity errors (normalised to sum 1) that replace the character's
    own (its ``DiffWeight``s: the humanoid's root 1, chest and hips 0.5, ...) for the joints named here."""

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


def heading(root_mat: np.ndarray) -> np.ndarray:
    """Heading (rad, about +z) of the root's x axis, from its rotation matrices (N, 9) (row-major)."""
    return np.arctan2(root_mat[:, 3], root_mat[:, 0])


class ImitationReward:
    """The reward of N environments at once, on the packed state of :mod:`.layout`.

    ``ang2`` (N, J) holds the squared rotation angles of the ``quats`` rows and ``diff``
    (N, layout.size) is ``sim - ref`` of the packed states with the end effectors in each
    character's heading frame (:meth:`difference`); every error is then a fixed weighted sum
    of squares, i.e. one matrix product (the tests hold it against a term-by-term oracle).
    """

    def __init__(self, layout: StateLayout, pose_w: np.ndarray, weights: RewardWeights = RewardWeights()):
        if len(pose_w) != layout.n_joints:
            raise ValueError(f"{len(pose_w)} joint weights for {layout.n_joints} joints")
        self.layout = layout
        wa = np.zeros((len(pose_w), len(TERMS)))
        wd = np.zeros((layout.size, len(TERMS)))
        wa[:, 0] = pose_w
        wa[0, 3] = 0.1  # root rotation
        wd[layout.joint_angvel, 1] = np.repeat(pose_w[1:], 3)
        wd[layout.root_angvel, 1] = pose_w[0]
        wd[layout.ee, 2] = 1.0
        wd[layout.root_angvel, 3] = 0.001
        wd[layout.root_pos, 3] = 1.0
        wd[layout.root_linvel, 3] = 0.01
        wd[layout.com_vel, 4] = COM_VEL_FACTOR
        wd[layout.com, 5] = 1.0
        self.wa, self.wd = wa, wd
        self.scales = -np.array([weights.pose_scale, weights.velocity_scale, weights.end_effector_scale,
                                 weights.root_scale, weights.com_vel_scale, weights.com_scale])
        self.term_w = np.array([weights.pose, weights.velocity, weights.end_effector, weights.root,
                                weights.com_vel, weights.com]) / weights.total_weight()

    def difference(self, sim: np.ndarray, ref: np.ndarray, heading_sim: np.ndarray,
                   heading_ref: np.ndarray) -> np.ndarray:
        """``sim - ref`` (N, size) of packed states, the reference's end effectors first turned by the
        heading difference: ``|R(-h_s) e_s - R(-h_r) e_r| = |e_s - R(h_s - h_r) e_r|``."""
        diff = sim - ref
        lay, n = self.layout, len(sim)
        dh = heading_sim - heading_ref
        c, s = np.cos(dh)[:, None], np.sin(dh)[:, None]
        er = ref[:, lay.ee].reshape(n, -1, 3)
        d = diff[:, lay.ee].reshape(n, -1, 3)
        es = sim[:, lay.ee].reshape(n, -1, 3)
        d[..., 0] = es[..., 0] - (c * er[..., 0] - s * er[..., 1])
        d[..., 1] = es[..., 1] - (s * er[..., 0] + c * er[..., 1])
        diff[:, lay.ee] = d.reshape(n, -1)
        return diff

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

    def body_errors(self, diff: np.ndarray) -> np.ndarray:
        """(N, 2): mean body-position error (m) over the bodies, global and relative to the root
        position (``BODY_ERRORS``), from ``diff`` (:meth:`difference`)."""
        lay, n = self.layout, len(diff)
        local = diff[:, lay.bodies].reshape(n, -1, 3)
        glob = local + diff[:, None, lay.root_pos]
        return np.stack([np.sqrt((glob * glob).sum(-1)).mean(-1), np.sqrt((local * local).sum(-1)).mean(-1)], axis=1)
