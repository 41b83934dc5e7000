"""Test oracle: the imitation reward written out term by term, one state at a time.

Independent of the batched maths of ``envs/deepmimic/core.py`` and ``reward.ImitationReward`` (no
packed layout, no quaternion matrix, no matrix of weights): the tests hold the environments' rewards
and the batched reward against it, and it against values worked out by hand.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from trpo_mimic.envs.deepmimic.layout import KinematicState, StateLayout
from trpo_mimic.envs.deepmimic.reward import (TERMS, ImitationReward, RewardWeights, pose_weight_vector,
                                              velocity_weight_vector)


def rotation_angles(q: np.ndarray, q_ref: np.ndarray) -> np.ndarray:
    """Angle (rad, in [0, pi]) of the rotation between each pair of unit quaternions."""
    dot = np.abs(np.einsum("ij,ij->i", q, q_ref))
    return 2.0 * np.arccos(np.minimum(dot, 1.0))


def imitation_reward(sim: KinematicState, ref: KinematicState, pose_w: np.ndarray, vel_w: np.ndarray,
                     weights: RewardWeights = RewardWeights()) -> tuple[float, dict[str, float]]:
    """Total imitation reward and each term (see reward.py's docstring for the formulas)."""
    ang2 = rotation_angles(sim.quats, ref.quats) ** 2
    dv = sim.qvel[3:] - ref.qvel[3:]
    dee = ((sim.ee_pos - sim.root_pos) - (ref.ee_pos - ref.root_pos)).ravel()
    dp, dlv, dav = sim.root_pos - ref.root_pos, sim.root_linvel - ref.root_linvel, dv[:3]
    dcv, dc = sim.com_vel - ref.com_vel, sim.com - ref.com
    errors = {
        "pose": float(pose_w @ ang2),
        "velocity": float(vel_w @ (dv * dv)),
        "end_effector": float(dee @ dee),
        "root": float(dp @ dp + 0.1 * ang2[0] + 0.01 * (dlv @ dlv) + 0.001 * (dav @ dav)),
        "com_vel": float(dcv @ dcv),
        "com": float(dc @ dc),
    }
    terms = {k: math.exp(-getattr(weights, f"{k}_scale") * errors[k]) for k in TERMS}
    total = sum(getattr(weights, k) * terms[k] for k in TERMS) / weights.total_weight()
    if not math.isfinite(total):
        return 0.0, {k: 0.0 for k in TERMS}
    return total, terms


def batched_reward(sim: KinematicState, ref: KinematicState, pose_w: np.ndarray, vel_w: np.ndarray,
                   weights: RewardWeights = RewardWeights()) -> tuple[float, dict[str, float]]:
    """The production reward (``reward.ImitationReward`` on packed states) of the same pair."""
    lay = StateLayout(n_qvel=len(sim.qvel) - 3, n_ee=len(sim.ee_pos))

    def pack(s: KinematicState) -> np.ndarray:
        return lay.pack(s.qvel[3:], s.ee_pos - s.root_pos, s.root_pos, s.root_linvel, s.com_vel, s.com)

    total, terms = ImitationReward(lay, pose_w, vel_w, weights)(
        rotation_angles(sim.quats, ref.quats)[None] ** 2, (pack(sim) - pack(ref))[None])
    return float(total[0]), dict(zip(TERMS, terms[0].tolist()))


def sim_state(env) -> KinematicState:
    """What the reward compares, read from ``env.data`` (world frame)."""
    d, idx = env.data, env.index
    quats = np.zeros((1 + len(idx.pose_bodies), 4))
    quats[0] = d.xquat[idx.root_body]
    for k, (b, p) in enumerate(zip(idx.pose_bodies, idx.pose_parents)):
        conj = np.zeros(4)
        mujoco.mju_negQuat(conj, d.xquat[p])
        mujoco.mju_mulQuat(quats[1 + k], conj, d.xquat[b])
    rv = idx.root_qvel
    return KinematicState(quats=quats, qvel=d.qvel[rv:].copy(), root_pos=d.xpos[idx.root_body].copy(),
                          com=d.subtree_com[idx.root_body].copy(), ee_pos=d.site_xpos[idx.ee_sites].copy(),
                          root_linvel=d.qvel[rv:rv + 3].copy(), com_vel=d.subtree_linvel[idx.root_body].copy())


def oracle_reward(env) -> tuple[float, dict[str, float]]:
    """(total, terms) of the env's current state against its clip's reference at the env's time."""
    idx = env.index
    pose_w = pose_weight_vector(idx.pose_names, env.reward_weights.joint_weights)
    vel_w = velocity_weight_vector(pose_w, idx.hinge_pose_joint)
    return imitation_reward(sim_state(env), env.clip.reference(env.time), pose_w, vel_w, env.reward_weights)
