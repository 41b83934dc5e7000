"""Test oracle: the imitation reward written out term by term, one state at a time.

Independent of the batched maths of ``mimic/core.py`` and ``reward.ImitationReward`` (no
packed layout, no quaternion matrix, no matrix of weights): the tests hold the environments' rewards
and the batched reward against it, and it against values worked out by hand.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from trpo_mimic.mimic.layout import KinematicState, StateLayout
from trpo_mimic.mimic.reward import TERMS, ImitationReward, RewardWeights, pose_weight_vector


def rotation_angles(q: np.ndarray, q_ref: np.ndarray) -> np.ndarray:
    """Angle (rad, in [0, pi]) of the rotation between each pair of unit quaternions."""
    dot = np.abs(np.einsum("ij,ij->i", q, q_ref))
    return 2.0 * np.arccos(np.minimum(dot, 1.0))


def heading_of(q: np.ndarray) -> float:
    """Heading (rad) of the x axis of the frame rotated by unit quaternion q (w, x, y, z), about +z."""
    m = np.zeros(9)
    mujoco.mju_quat2Mat(m, np.asarray(q, dtype=np.float64))
    return math.atan2(m[3], m[0])


def heading_frame_ee(s: KinematicState) -> np.ndarray:
    """(E, 3) end effectors as DeepMimic compares them: offset from the root with the height above the
    ground as vertical part, turned into the character's heading frame."""
    h = heading_of(s.quats[0])
    c, sn = math.cos(-h), math.sin(-h)
    rel = s.ee_pos - s.root_pos
    out = np.empty_like(rel)
    out[:, 0] = c * rel[:, 0] - sn * rel[:, 1]
    out[:, 1] = sn * rel[:, 0] + c * rel[:, 1]
    out[:, 2] = s.ee_pos[:, 2]
    return out


def imitation_reward(sim: KinematicState, ref: KinematicState, pose_w: np.ndarray,
                     weights: RewardWeights = RewardWeights()) -> tuple[float, dict[str, float]]:
    """Total imitation reward and each term (see reward.py's docstring for the formulas)."""
    ang2 = rotation_angles(sim.quats, ref.quats) ** 2
    dw = sim.angvel - ref.angvel
    dee = (heading_frame_ee(sim) - heading_frame_ee(ref)).ravel()
    dp, dlv, dav = sim.root_pos - ref.root_pos, sim.root_linvel - ref.root_linvel, dw[0]
    dcv, dc = sim.com_vel - ref.com_vel, sim.com - ref.com
    errors = {
        "pose": float(pose_w @ ang2),
        "velocity": float(pose_w @ (dw * dw).sum(axis=1)),
        "end_effector": float(dee @ dee),
        "root": float(dp @ dp + 0.1 * ang2[0] + 0.01 * (dlv @ dlv) + 0.001 * (dav @ dav)),
        "com_vel": float(0.1 * (dcv @ dcv)),
        "com": float(dc @ dc),
    }
    terms = {k: math.exp(-getattr(weights, f"{k}_scale") * errors[k]) for k in TERMS}
    total = sum(getattr(weights, k) * terms[k] for k in TERMS) / weights.total_weight()
    if not math.isfinite(total):
        return 0.0, {k: 0.0 for k in TERMS}
    return total, terms


def body_errors(sim: KinematicState, ref: KinematicState) -> tuple[float, float]:
    """Mean body-position error (m): global, and with each character's root position subtracted."""
    glob = np.linalg.norm(sim.body_pos - ref.body_pos, axis=1).mean()
    local = np.linalg.norm((sim.body_pos - sim.root_pos) - (ref.body_pos - ref.root_pos), axis=1).mean()
    return float(glob), float(local)


def _layout(s: KinematicState) -> StateLayout:
    return StateLayout(n_joints=len(s.quats), n_ee=len(s.ee_pos), n_bodies=len(s.body_pos))


def _pack(lay: StateLayout, s: KinematicState) -> np.ndarray:
    return lay.pack(s.angvel, s.ee_pos, s.body_pos, s.root_pos, s.root_linvel, s.com_vel, s.com)


def batched_reward(sim: KinematicState, ref: KinematicState, pose_w: np.ndarray,
                   weights: RewardWeights = RewardWeights()) -> tuple[float, dict[str, float]]:
    """The production reward (``reward.ImitationReward`` on packed states) of the same pair."""
    lay = _layout(sim)
    rew = ImitationReward(lay, pose_w, weights)
    diff = rew.difference(_pack(lay, sim)[None], _pack(lay, ref)[None], np.array([heading_of(sim.quats[0])]),
                          np.array([heading_of(ref.quats[0])]))
    total, terms = rew(rotation_angles(sim.quats, ref.quats)[None] ** 2, diff)
    return float(total[0]), dict(zip(TERMS, terms[0].tolist()))


def batched_body_errors(sim: KinematicState, ref: KinematicState) -> tuple[float, float]:
    """The production body-position errors of the same pair."""
    lay = _layout(sim)
    rew = ImitationReward(lay, np.full(len(sim.quats), 1.0 / len(sim.quats)))
    diff = rew.difference(_pack(lay, sim)[None], _pack(lay, ref)[None], np.zeros(1), np.zeros(1))
    e = rew.body_errors(diff)[0]
    return float(e[0]), float(e[1])


def sim_state(env) -> KinematicState:
    """What the reward compares, read from ``env.data`` with MuJoCo's own functions (world frame)."""
    m, d, idx = env.model, env.data, env.index
    quats = np.zeros((1 + len(idx.pose_bodies), 4))
    quats[0] = d.xquat[idx.root_body]
    angvel = np.zeros((1 + len(idx.pose_bodies), 3))
    vel = np.zeros(6)
    mujoco.mj_objectVelocity(m, d, mujoco.mjtObj.mjOBJ_XBODY, idx.root_body, vel, 0)
    angvel[0] = vel[:3]
    for k, (b, p) in enumerate(zip(idx.pose_bodies, idx.pose_parents)):
        conj = np.zeros(4)
        mujoco.mju_negQuat(conj, d.xquat[p])
        mujoco.mju_mulQuat(quats[1 + k], conj, d.xquat[b])
        wb, wp = np.zeros(6), np.zeros(6)
        mujoco.mj_objectVelocity(m, d, mujoco.mjtObj.mjOBJ_XBODY, b, wb, 0)
        mujoco.mj_objectVelocity(m, d, mujoco.mjtObj.mjOBJ_XBODY, p, wp, 0)
        angvel[1 + k] = d.xmat[b].reshape(3, 3).T @ (wb[:3] - wp[:3])  # relative, in the child's frame
    rv = idx.root_qvel
    return KinematicState(quats=quats, angvel=angvel, root_pos=d.xpos[idx.root_body].copy(),
                          com=d.subtree_com[idx.root_body].copy(), ee_pos=d.site_xpos[idx.ee_sites].copy(),
                          body_pos=d.xpos[idx.bodies].copy(), root_linvel=d.qvel[rv:rv + 3].copy(),
                          com_vel=d.subtree_linvel[idx.root_body].copy())


def oracle_reward(env) -> tuple[float, dict[str, float]]:
    """(total, terms) of the env's current state against its clip's reference at the env's time, whose root
    and com the env has moved horizontally by its ``root_offset`` (DeepMimic's root sync at each new cycle)."""
    pose_w = pose_weight_vector(env.index.pose_names, env.core.joint_weights)
    ref = env.clip.reference(env.time)
    shift = np.array([*env.core.root_offset[0], 0.0])
    ref.root_pos, ref.com = ref.root_pos + shift, ref.com + shift
    ref.ee_pos, ref.body_pos = ref.ee_pos + shift, ref.body_pos + shift  # the whole reference character moves
    return imitation_reward(sim_state(env), ref, pose_w, env.reward_weights)


def oracle_body_errors(env) -> tuple[float, float]:
    """Body-position errors (m) of the env's current state against its clip's reference."""
    return body_errors(sim_state(env), env.clip.reference(env.time))
