"""DeepMimic-style humanoid imitation environment on MuJoCo.

The policy acts at 30 Hz; each action is a PD target per hinge (28), normalised to
[-1, 1] and mapped onto the joint's range, and MuJoCo position actuators track it.
Episodes start at a uniformly random time of the clip with the reference pose and
velocity copied into the simulation (reference state initialisation), end with
``terminated=True`` when a body other than the feet touches the ground or the
simulation goes unstable, and are truncated by the ``TimeLimit`` set at registration
(or at the end of a clip that plays once).

Simulation rate (``sim_hz``, default 240 Hz = 8 substeps per action).  Measured on
this project's MJCF (2-core CPU, MuJoCo 4.0, implicitfast) with
``benchmarks/deepmimic_env_speed.py --stability --episodes 5``: 20 episodes per rate
(5 per clip: walk, run, jump, backflip), up to 3 s each, from random reference states,
once with the reference pose as PD target and once with uniform random actions:

=======  ================  ================  ==============  ===================  ===========
rate     unstable (ref     unstable          max |qvel|      mean pose reward,    env steps/s
         targets)          (random actions)  seen            ref targets          (random)
=======  ================  ================  ==============  ===================  ===========
120 Hz   0 / 20            14 / 20           8e7 (diverged)  0.715                 1994
240 Hz   0 / 20            0 / 20            38.8            0.763                 2225
300 Hz   0 / 20            0 / 20            37.6            0.773                 2008
480 Hz   0 / 20            0 / 20            32.9            0.778                 1632
=======  ================  ================  ==============  ===================  ===========

(steps/s there are from before the hot loop was optimised; now about 3000 at 240 Hz
and 2100 at 480 Hz, ~48 % of the physics limit: the rest is ~100 us of numpy per step.
``vector.DeepMimicVectorEnv`` steps N humanoids with worker threads and computes
observations and rewards for all at once; see ``benchmarks/deepmimic/PROFILE.md``.)  120 Hz blows up under random actions (the light feet with
kp = 400 pass the explicit limit of the position gain); 240 Hz is the lowest rate
with no instability and tracks the reference almost as well as 480 Hz (pose reward
0.763 vs 0.778) at about 1.4x the speed, so it is the default.

Observation ``"deepmimic"`` (197 numbers, as the 2018 release): phase, root height,
then for the 15 bodies their positions relative to the root and rotations
(quaternions, w >= 0), both in the root's heading frame, then their linear and
angular velocities in the heading frame.  ``"compact"``: ``qpos[7:] + qvel[6:]``
(56 numbers), no phase.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces

from .character import ASSET_XML, CharacterIndex
from .clip import MotionClip
from .clipfile import resolve_motion_set
from .quat import LEVI_CIVITA as _LEVI_CIVITA, QMUL as _QMUL, quat_yaw
from .reward import (TERMS, KinematicState, PackedImitationReward, RewardWeights,
                     imitation_reward, pose_weight_vector, velocity_weight_vector)

CONTROL_HZ = 30
DEFAULT_SIM_HZ = 240
MAX_QVEL_NORM = 1e3
"""A qvel norm above this (rad/s or m/s) counts as a diverging simulation."""
FOOT_BODIES = ("right_ankle", "left_ankle")
INFO_KEYS = tuple(f"reward_{k}" for k in TERMS)
REF_OBS_SIZE = 5
"""ref_obs: reference root position in the heading frame (3), cos and sin of the heading error (2)."""

class DeepMimicEnv(gym.Env):
    """Imitate a motion clip with the project's MuJoCo humanoid (see module docstring)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": CONTROL_HZ}

    def __init__(self, motion_file: str | None = None, motion_dir: str | None = None,
                 clip_name: str | None = None, obs_mode: str = "deepmimic",
                 sim_hz: int | None = None, frame_skip: int | None = None,
                 reward_weights: RewardWeights | dict | None = None,
                 early_termination: bool = True, render_mode: str | None = None,
                 width: int = 640, height: int = 480, cycle_heading: bool = True,
                 action_mode: str = "absolute", residual_scale: float = 0.25, clip_id_obs: bool = False,
                 max_root_drift: float | None = None, pd_feedforward: bool = False, ref_obs: bool = False):
        """Build the environment.

        motion_file: clip path or ``builtin:<name>``; if None, ``clip_name`` (set by the
        shortcut ids) is searched for in ``motion_dir``, ``$TRPO_MIMIC_MOTION_DIR`` and
        ``../shared/motions``.  obs_mode: ``"deepmimic"`` or ``"compact"``.  sim_hz /
        frame_skip: simulation rate or substeps per 30 Hz action (give at most one).
        reward_weights: :class:`RewardWeights` or a dict of its fields.
        early_termination: end the episode when a non-foot body touches the ground.
        max_root_drift: also end it (terminated) when the root is farther than this many metres
            from the reference root, horizontally (None: never). A character that falls behind
            the clip then loses the rest of the episode instead of drifting on with the root and
            centre-of-mass terms near 0.
        cycle_heading: a looping clip also turns by its per-cycle heading change.
        action_mode: ``"absolute"``: the PD target is the action scaled onto the joint's
        range; ``"residual"``: the PD target is the reference's hinge angle at the end of
        the step plus ``residual_scale`` x the joint's half range x the action (the policy
        learns corrections to the clip instead of the whole pose).
        pd_feedforward: residual mode only: the PD controller also tracks the reference's hinge
        rates, torque ``kp (q_ref - q) + kd (dq_ref - dq)`` instead of ``... - kd dq``, by adding
        ``(kd / kp) dq_ref`` to the position target (a zero-velocity PD lags the clip by about
        kd / kp = 0.1 s, three control steps, which a fast clip such as the run cannot afford).
        ref_obs: ``deepmimic`` observations only: append where the reference is, seen from the
        character: the reference root's position relative to the simulated root in the heading
        frame (3) and the cosine and sine of the reference's heading relative to the character's
        (2). The DeepMimic observation holds only the phase, so a character that has fallen
        behind the clip cannot see it; with these 5 numbers the drift is observable.
        Several clips: ``motion_file`` may be a list of clips, or a motion-set JSON
        ``{"Motions": [{"File": path, "Weight": w}, ...]}`` (paths relative to the JSON);
        each episode samples a clip by weight (``options["clip"]`` picks one), ``info["clip"]``
        says which, and ``clip_id_obs`` appends a one-hot clip identifier to the observation.
        """
        if action_mode not in ("absolute", "residual"):
            raise ValueError(f"action_mode must be 'absolute' or 'residual', got {action_mode!r}")
        self.action_mode, self.residual_scale = action_mode, float(residual_scale)
        if pd_feedforward and action_mode != "residual":
            raise ValueError("pd_feedforward needs action_mode='residual' (it adds to the reference's targets)")
        self.pd_feedforward = bool(pd_feedforward)
        if motion_file is None and clip_name is None:
            raise ValueError("DeepMimic-v0 needs motion_file=<clip path or builtin:walk>")
        if obs_mode not in ("deepmimic", "compact"):
            raise ValueError(f"obs_mode must be 'deepmimic' or 'compact', got {obs_mode!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if sim_hz is not None and frame_skip is not None:
            raise ValueError("give sim_hz or frame_skip, not both")
        if frame_skip is None:
            frame_skip = max(1, round((sim_hz or DEFAULT_SIM_HZ) / CONTROL_HZ))
        if frame_skip < 1:
            raise ValueError(f"frame_skip must be >= 1, got {frame_skip}")
        paths, weights = resolve_motion_set(motion_file, clip_name, motion_dir)
        self.clips = [MotionClip.load(p, cycle_heading=cycle_heading) if not p.startswith("builtin:")
                      else MotionClip.load(p) for p in paths]
        self.clip_weights = np.asarray(weights, dtype=np.float64) / float(np.sum(weights))
        self.clip_index = 0
        self.clip = self.clips[0]
        self.clip_id_obs = bool(clip_id_obs)
        self.obs_mode = obs_mode
        if ref_obs and obs_mode != "deepmimic":
            raise ValueError("ref_obs needs obs_mode='deepmimic'")
        self.ref_obs = bool(ref_obs)
        self.render_mode = render_mode
        self.early_termination = early_termination
        if max_root_drift is not None and not max_root_drift > 0:
            raise ValueError(f"max_root_drift must be > 0 metres or None, got {max_root_drift!r}")
        self.max_root_drift = None if max_root_drift is None else float(max_root_drift)
        self.frame_skip = int(frame_skip)
        self.control_dt = 1.0 / CONTROL_HZ
        self.sim_hz = CONTROL_HZ * self.frame_skip
        if isinstance(reward_weights, dict):
            reward_weights = RewardWeights(**reward_weights)
        self.reward_weights = reward_weights or RewardWeights()

        self.model = mujoco.MjModel.from_xml_path(str(ASSET_XML))
        self.model.opt.timestep = self.control_dt / self.frame_skip
        self.data = mujoco.MjData(self.model)
        m, idx = self.model, CharacterIndex.of(self.model)
        self.index = idx
        self._width, self._height = width, height
        self._renderer = None

        # Named indices, resolved once.
        self._root = idx.root_body
        self._bodies = idx.bodies
        self._pose_bodies, self._pose_parents = idx.pose_bodies, idx.pose_parents
        self._ee_sites = idx.ee_sites
        self._rq, self._rv = idx.root_qpos, idx.root_qvel
        hinge_range = m.actuator_ctrlrange.copy()
        self._act_center = hinge_range.mean(axis=1)
        self._act_half = 0.5 * (hinge_range[:, 1] - hinge_range[:, 0])
        # Position actuators: force = kp ctrl - kp q - kd dq, gainprm[0] = kp, biasprm[2] = -kd.
        self._ff_gain = -m.actuator_biasprm[:, 2] / m.actuator_gainprm[:, 0]  # kd / kp per hinge
        assert np.array_equal(idx.hinge_qpos, np.arange(self._rq + 7, m.nq)), "actuators follow qpos order"
        foot_geoms = {g for g in range(m.ngeom) if m.body(m.geom_bodyid[g]).name in FOOT_BODIES}
        self._fall_geom = np.array([m.body_rootid[m.geom_bodyid[g]] == self._root and g not in foot_geoms
                                    for g in range(m.ngeom)])
        self._char_geom = np.array([m.body_rootid[m.geom_bodyid[g]] == self._root for g in range(m.ngeom)])
        self._pose_w = pose_weight_vector(idx.pose_names, self.reward_weights.joint_weights)
        self._vel_w = velocity_weight_vector(self._pose_w, idx.hinge_pose_joint)
        self._nq_pose = 1 + len(self._pose_bodies)

        self.action_space = spaces.Box(-1.0, 1.0, shape=(m.nu,), dtype=np.float32)
        nb = len(self._bodies)
        self._obs_dim = 2 + nb * (3 + 4 + 3 + 3) if obs_mode == "deepmimic" else (m.nq - 7) + (m.nv - 6)
        self._ref_obs_at = self._obs_dim  # where the ref_obs numbers start
        self._obs_dim += REF_OBS_SIZE if self.ref_obs else 0
        n_id = len(self.clips) if self.clip_id_obs else 0
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(self._obs_dim + n_id,), dtype=np.float64)
        self._obs = np.zeros(self._obs_dim)
        self._t = 0.0
        self._quats = np.zeros((self._nq_pose, 4))
        self._fast_reward = PackedImitationReward(self._pose_w, self._vel_w, len(self._ee_sites),
                                                  self.reward_weights)
        self._rot_children = np.concatenate([[self._root], self._pose_bodies])
        self._rot_parents = np.concatenate([[0], self._pose_parents])  # world's xquat is identity
        self._simvec = np.zeros(self._fast_reward.n_diff)
        nv3, ne = m.nv - self._rv - 3, len(self._ee_sites)
        sv = self._simvec
        self._sv_qvel, self._sv_ee = sv[:nv3], sv[nv3:nv3 + 3 * ne].reshape(ne, 3)
        k = nv3 + 3 * ne
        self._sv_root, self._sv_rootvel = sv[k:k + 3], sv[k + 3:k + 6]
        self.root_diff_index = k  # the root position's place in the packed state vector
        self._ref_vec = None
        self._sv_comvel, self._sv_com = sv[k + 6:k + 9], sv[k + 9:k + 12]
        nb = len(self._bodies)
        b0 = int(self._bodies[0])
        self._body_sel = slice(b0, b0 + nb) if np.array_equal(self._bodies, np.arange(b0, b0 + nb)) \
            else self._bodies
        if obs_mode == "deepmimic":
            o = self._obs
            self._o_pos = o[2:2 + 3 * nb].reshape(nb, 3)
            self._o_quat = o[2 + 3 * nb:2 + 7 * nb].reshape(nb, 4)
            self._o_vel = o[2 + 7 * nb:2 + 13 * nb].reshape(2 * nb, 3)
        self._rot = np.eye(3)
        self._lmat = np.zeros((4, 4))
        self._vel_buf = np.zeros((2 * nb, 3))
        self._warnings = [self.data.warning[int(k)] for k in (mujoco.mjtWarning.mjWARN_BADQPOS,
                          mujoco.mjtWarning.mjWARN_BADQVEL, mujoco.mjtWarning.mjWARN_BADQACC,
                          mujoco.mjtWarning.mjWARN_BADCTRL)]
        self._bad_count = 0

    # ------------------------------------------------------------------ helpers
    def _refresh_kinematics(self) -> None:
        """Positions and velocities of the state after integration (mj_step leaves them stale)."""
        m, d = self.model, self.data
        mujoco.mj_kinematics(m, d)
        mujoco.mj_comPos(m, d)
        mujoco.mj_comVel(m, d)
        mujoco.mj_subtreeVel(m, d)

    def _sim_state(self) -> KinematicState:
        d = self.data
        xq = d.xquat
        q = self._quats
        q[0] = xq[self._root]
        par = xq[self._pose_parents] * np.array([1.0, -1.0, -1.0, -1.0])
        q[1:] = (par[:, :, None] * xq[self._pose_bodies][:, None, :]).reshape(-1, 16) @ _QMUL
        return KinematicState(quats=q, qvel=d.qvel, root_pos=d.xpos[self._root],
                              com=d.subtree_com[self._root], ee_pos=d.site_xpos[self._ee_sites],
                              root_linvel=d.qvel[self._rv:self._rv + 3],
                              com_vel=d.subtree_linvel[self._root])

    def _observation(self) -> np.ndarray:
        d, obs = self.data, self._obs
        if self.obs_mode == "compact":
            nh = self.model.nq - 7
            obs[:nh] = d.qpos[self._rq + 7:]
            obs[nh:] = d.qvel[self._rv + 6:]
            return obs.copy()
        root, sel = self._root, self._body_sel
        xmat = d.xmat[root]
        hx, hy = float(xmat[0]), float(xmat[3])
        norm = math.hypot(hx, hy)
        c, s = (hx / norm, hy / norm) if norm > 1e-9 else (1.0, 0.0)
        rot, lmat = self._rot, self._lmat  # world -> heading frame, applied as v @ rot
        rot[0, 0] = rot[1, 1] = c
        rot[0, 1], rot[1, 0] = -s, s
        ch = math.sqrt(max(0.0, 0.5 * (1.0 + c)))
        sh = math.copysign(math.sqrt(max(0.0, 0.5 * (1.0 - c))), s)
        # q @ lmat == (ch, 0, 0, -sh) * q: rotation by the inverse heading
        lmat[0, 0] = lmat[1, 1] = lmat[2, 2] = lmat[3, 3] = ch
        lmat[3, 0], lmat[2, 1], lmat[1, 2], lmat[0, 3] = sh, sh, -sh, -sh
        xpos = d.xpos[sel]
        root_pos = d.xpos[root]
        cvel = d.cvel[sel]
        vel = self._vel_buf
        nb = len(self._bodies)
        vel[nb:] = cvel[:, :3]
        # linear velocity of each body origin: v_com-point + w x (x_body - subtree com)
        np.add(cvel[:, 3:], np.einsum("ijk,nj,nk->ni", _LEVI_CIVITA, vel[nb:], xpos - d.subtree_com[root]),
               out=vel[:nb])
        obs[0] = self.clip.phase(self._t)
        obs[1] = root_pos[2]
        np.matmul(xpos - root_pos, rot, out=self._o_pos)
        q = self._o_quat
        np.matmul(d.xquat[sel], lmat, out=q)
        np.negative(q, out=q, where=q[:, :1] < 0)
        np.matmul(vel, rot, out=self._o_vel)
        if self.ref_obs:
            ref_q, ref_vec = self.clip.reference_packed(self._t)
            k, r = self.root_diff_index, self._ref_obs_at
            obs[r:r + 3] = (ref_vec[k:k + 3] - root_pos) @ rot
            dyaw = float(quat_yaw(ref_q[0])) - math.atan2(s, c)
            obs[r + 3], obs[r + 4] = math.cos(dyaw), math.sin(dyaw)
        return obs.copy()

    def _with_clip_id(self, obs: np.ndarray) -> np.ndarray:
        """Append the one-hot identifier of the episode's clip (when clip_id_obs)."""
        if not self.clip_id_obs:
            return obs
        one_hot = np.zeros(len(self.clips))
        one_hot[self.clip_index] = 1.0
        return np.concatenate([obs, one_hot])

    def _fast_step_reward(self) -> tuple[float, np.ndarray]:
        """Reward of the current state against the reference at ``self._t`` (packed maths)."""
        d = self.data
        xq = d.xquat
        par = xq[self._rot_parents]
        par[:, 1:] *= -1.0
        q = (par[:, :, None] * xq[self._rot_children][:, None, :]).reshape(-1, 16) @ _QMUL
        ref_q, ref_vec = self.clip.reference_packed(self._t)
        self._ref_vec = ref_vec
        dot = np.abs(np.einsum("ij,ij->i", q, ref_q))
        ang = 2.0 * np.arccos(np.minimum(dot, 1.0))
        sv, root = self._simvec, self._root
        qv = d.qvel
        rv = self._rv
        self._sv_qvel[:] = qv[rv + 3:]
        root_pos = d.xpos[root]
        np.subtract(d.site_xpos[self._ee_sites], root_pos, out=self._sv_ee)
        self._sv_root[:] = root_pos
        self._sv_rootvel[:] = qv[rv:rv + 3]
        self._sv_comvel[:] = d.subtree_linvel[root]
        self._sv_com[:] = d.subtree_com[root]
        return self._fast_reward(ang * ang, sv - ref_vec)

    def _bad_warnings(self) -> int:
        """How often MuJoCo has flagged bad qpos/qvel/qacc (it auto-resets the data then) or ctrl."""
        w = self._warnings
        return w[0].number + w[1].number + w[2].number + w[3].number

    def _touches_ground(self) -> bool:
        d = self.data
        if d.ncon == 0:
            return False
        g = d.contact.geom
        return bool(np.any(self._fall_geom[g]))

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reference state initialisation at a uniformly random time (``options['time']`` to fix it)."""
        super().reset(seed=seed)
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        if len(self.clips) > 1:
            k = None if options is None else options.get("clip")
            if k is None:
                k = int(self.np_random.choice(len(self.clips), p=self.clip_weights))
            self.clip_index, self.clip = int(k), self.clips[int(k)]
        t0 = None if options is None else options.get("time")
        if t0 is None:
            t0 = float(self.np_random.uniform(0.0, self.clip.duration))
        self._t = float(t0)
        qpos = self.clip.qpos_at(self._t)
        d.qpos[:] = qpos
        d.qvel[:] = self.clip.qvel_at(self._t)
        d.ctrl[:] = qpos[self.index.hinge_qpos]
        mujoco.mj_forward(m, d)
        # Clips may push a foot slightly into the floor; lift the root out of it.
        if d.ncon:
            dist = d.contact.dist[:d.ncon]
            if dist.min() < 0:
                d.qpos[self._rq + 2] -= float(dist.min())
                mujoco.mj_forward(m, d)
        mujoco.mj_subtreeVel(m, d)
        self._bad_count = self._bad_warnings()
        reward, terms = imitation_reward(self._sim_state(), self.clip.reference(self._t), self._pose_w,
                                         self._vel_w, self.reward_weights)
        if terms["pose"] < 0.99:  # the sim would not start on the reference: a bug, not an event
            raise RuntimeError(f"reference state initialisation failed: pose term {terms['pose']:.4f} at t={t0}")
        info = {f"reward_{k}": v for k, v in terms.items()}
        info.update(reward=reward, time=self._t, phase=self.clip.phase(self._t), sim_unstable=False)
        if len(self.clips) > 1:
            info["clip"] = self.clip_index
        return self._with_clip_id(self._observation()), info

    def step(self, action):
        """Apply a PD target per hinge for one 30 Hz step."""
        m, d = self.model, self.data
        if self.action_mode == "residual":
            t1 = self._t + self.control_dt
            d.ctrl[:] = (self.clip.hinge_targets(t1)
                         + self.residual_scale * self._act_half * np.asarray(action, dtype=np.float64))
            if self.pd_feedforward:
                d.ctrl += self._ff_gain * self.clip.hinge_velocities(t1)
        else:
            d.ctrl[:] = self._act_center + self._act_half * np.asarray(action, dtype=np.float64)
        mujoco.mj_step(m, d, nstep=self.frame_skip)
        self._t += self.control_dt
        self._refresh_kinematics()
        qv = d.qvel
        bad = self._bad_warnings()
        unstable = bad != self._bad_count or not (float(qv @ qv) < MAX_QVEL_NORM ** 2)
        if unstable:  # MuJoCo auto-resets the data when qpos/qvel/qacc go bad; end the episode
            self._bad_count = bad
            info = dict.fromkeys(INFO_KEYS, 0.0)
            info.update(time=self._t, phase=self.clip.phase(self._t), sim_unstable=True)
            obs = self._observation()
            if not np.all(np.isfinite(obs)):
                obs = np.zeros_like(obs)
            return obs, 0.0, True, False, info
        reward, terms = self._fast_step_reward()
        terminated = self.early_termination and self._touches_ground()
        if self.max_root_drift is not None and not terminated:
            k = self.root_diff_index
            dx, dy = self._sv_root[:2] - self._ref_vec[k:k + 2]
            terminated = bool(dx * dx + dy * dy > self.max_root_drift ** 2)
        truncated = self.clip.loop == "none" and self._t >= self.clip.duration
        info = dict(zip(INFO_KEYS, terms.tolist()))
        info["time"] = self._t
        if len(self.clips) > 1:
            info["clip"] = self.clip_index
        info["sim_unstable"] = False
        return self._with_clip_id(self._observation()), reward, terminated, truncated, info

    def render(self):
        """RGB frame (height, width, 3) from a camera tracking the root."""
        if self.render_mode != "rgb_array":
            return None
        if self._renderer is None:
            self._renderer = mujoco.Renderer(self.model, self._height, self._width)
            self._camera = tracking_camera(self.model, self._root)
        self._renderer.update_scene(self.data, camera=self._camera)
        return self._renderer.render()

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


def tracking_camera(model: mujoco.MjModel, body: int, distance: float = 3.5,
                    azimuth: float = 90.0, elevation: float = -12.0) -> mujoco.MjvCamera:
    """A side-on camera that follows ``body``."""
    cam = mujoco.MjvCamera()
    cam.type = mujoco.mjtCamera.mjCAMERA_TRACKING
    cam.trackbodyid = body
    cam.distance, cam.azimuth, cam.elevation = distance, azimuth, elevation
    return cam
