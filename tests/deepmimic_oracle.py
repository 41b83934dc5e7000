"""Test oracle: the imitation reward of one DeepMimic env, written out term by term from MuJoCo's data.

Independent of the batched maths of ``envs/deepmimic/core.py`` (no packed layout, no quaternion
matrix): the tests compare the environments' rewards with it.
"""

from __future__ import annotations

import mujoco
import numpy as np

from trpo_mimic.envs.deepmimic.reward import (KinematicState, imitation_reward, pose_weight_vector,
                                              velocity_weight_vector)


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
