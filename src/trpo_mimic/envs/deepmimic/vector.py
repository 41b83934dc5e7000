"""A natively batched :class:`DeepMimicEnv`: N humanoids on one MjModel, stepped together.

``DeepMimicVectorEnv(num_envs, **DeepMimicEnv kwargs, max_episode_steps=300, nthread=None)``
is a ``gymnasium.vector.VectorEnv`` whose sub-environment ``i`` behaves exactly like
``DeepMimicEnv`` wrapped in ``TimeLimit(max_episode_steps)`` and reset with seed
``seed + i`` (same observations, rewards, reward terms, terminations and truncations,
to floating-point rounding of the vectorised maths; the physics is bit-identical).

Per step: the actions of all sub-envs are mapped to PD targets at once; ``nthread``
threads (the caller's included) step the N ``MjData`` with ``mujoco.mj_step`` (which
releases the GIL), copy the state each needs into stacked arrays, decide whether it
ended and, if so, reset it through the single environment's own code (so the Python of
a reset overlaps the other thread's physics); observations and rewards are then
computed once for all N with numpy on the stacked arrays.

Autoreset is gymnasium's ``SAME_STEP`` mode (``metadata["autoreset_mode"]``): when
sub-env ``i`` ends, ``obs[i]`` is already the first observation of its next episode,
``info["final_obs"][i]`` is its last observation (a float array (N, obs_dim), rows of
sub-envs that did not end are zero), ``info["_final_obs"]`` the mask of ended
sub-envs, and ``info["final_info"]`` the ending step's info in the vector convention
(arrays plus ``"_key"`` masks).  As in ``SyncVectorEnv``, the top-level info of an
ended sub-env is its *reset* info.

Step info keys (arrays over sub-envs, each with a ``"_key"`` mask): ``reward_pose``,
``reward_velocity``, ``reward_end_effector``, ``reward_root``, ``reward_com_vel``,
``reward_com``, ``time``, ``sim_unstable``; ``phase`` and ``reward`` where a sub-env
was reset (and ``phase`` in ``final_info`` where the simulation went unstable).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import mujoco
import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from ..vector_util import add_info_row, sub_env_seeds
from .env import INFO_KEYS, MAX_QVEL_NORM, DeepMimicEnv
from .quat import QMUL as _QMUL, quat_yaw

DEFAULT_MAX_EPISODE_STEPS = 300
_WARNINGS = (mujoco.mjtWarning.mjWARN_BADQPOS, mujoco.mjtWarning.mjWARN_BADQVEL,
             mujoco.mjtWarning.mjWARN_BADQACC, mujoco.mjtWarning.mjWARN_BADCTRL)


class DeepMimicVectorEnv(VectorEnv):
    """N DeepMimic humanoids sharing one MjModel, stepped by worker threads (see module doc)."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, num_envs: int, motion_file: str | None = None, motion_dir: str | None = None,
                 clip_name: str | None = None, obs_mode: str = "deepmimic", sim_hz: int | None = None,
                 frame_skip: int | None = None, reward_weights=None, early_termination: bool = True,
                 max_episode_steps: int | None = DEFAULT_MAX_EPISODE_STEPS, nthread: int | None = None,
                 cycle_heading: bool = True, action_mode: str = "absolute", residual_scale: float = 0.25,
                 max_root_drift: float | None = None, pd_feedforward: bool = False, ref_obs: bool = False):
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        # One single env supplies the clip, model, indices and constants, and runs resets.
        env = DeepMimicEnv(motion_file=motion_file, motion_dir=motion_dir, clip_name=clip_name,
                           obs_mode=obs_mode, sim_hz=sim_hz, frame_skip=frame_skip,
                           reward_weights=reward_weights, early_termination=early_termination,
                           cycle_heading=cycle_heading, action_mode=action_mode, residual_scale=residual_scale,
                           max_root_drift=max_root_drift, pd_feedforward=pd_feedforward, ref_obs=ref_obs)
        if len(env.clips) > 1:
            raise ValueError("DeepMimicVectorEnv steps one clip; for several clips use a sync or async vector env")
        self._env = env
        self.num_envs = n = int(num_envs)
        self.clip, self.model = env.clip, env.model
        self.obs_mode, self.frame_skip, self.control_dt = env.obs_mode, env.frame_skip, env.control_dt
        self.sim_hz, self.early_termination = env.sim_hz, early_termination
        self.reward_weights = env.reward_weights
        self.max_episode_steps = max_episode_steps
        self.single_action_space = env.action_space
        self.single_observation_space = env.observation_space
        self.action_space = batch_space(env.action_space, n)
        self.observation_space = batch_space(env.observation_space, n)
        self.render_mode = None

        m = self.model
        self.datas = [mujoco.MjData(m) for _ in range(n)]
        self._warn = [[d.warning[int(k)] for k in _WARNINGS] for d in self.datas]
        self._ctrl_v = [d.ctrl for d in self.datas]
        self._rngs: list[np.random.Generator | None] = [None] * n
        self._t = np.zeros(n)
        self._elapsed = np.zeros(n, dtype=np.int64)
        self._bad = np.zeros(n, dtype=np.int64)
        self._needs_reset = True
        self._obs_buf = np.zeros((n, env._obs_dim))

        # Stacked state, filled by the workers after each step.
        self._root, self._rv, self._rq = env._root, env._rv, env._rq
        self._sel = env._body_sel
        b = np.arange(m.nbody)[self._sel]
        self._b0, self._nb = int(b[0]), len(b)
        contiguous = isinstance(self._sel, slice)
        # body rows gathered: all bodies (cheap: nbody is small)
        self._xpos = np.zeros((n, m.nbody, 3))
        self._xquat = np.zeros((n, m.nbody, 4))
        self._cvel = np.zeros((n, m.nbody, 6))
        self._rootmat = np.zeros((n, 9))
        self._scom = np.zeros((n, 3))
        self._slinvel = np.zeros((n, 3))
        self._site = np.zeros((n, m.nsite, 3))
        self._qpos = np.zeros((n, m.nq))
        self._qvel = np.zeros((n, m.nv))
        self._views = [(d.xpos, d.xquat, d.cvel, d.xmat[self._root], d.subtree_com[self._root],
                        d.subtree_linvel[self._root], d.site_xpos, d.qpos, d.qvel) for d in self.datas]
        self._body_idx = None if contiguous else np.asarray(self._sel)
        self._fall_geom = env._fall_geom
        self._ctrl = np.zeros((n, m.nu))
        self._t_step = np.zeros(n)
        self._el_step = np.zeros(n, dtype=np.int64)
        self._unstable = np.zeros(n, dtype=bool)
        self._term = np.zeros(n, dtype=bool)
        self._trunc = np.zeros(n, dtype=bool)
        self._unstable_obs = np.zeros((n, env._obs_dim))
        self._reset_obs = np.zeros((n, env._obs_dim))
        self._reset_infos: list[dict | None] = [None] * n
        self._clip_end = self.clip.duration if self.clip.loop == "none" else None
        self._lock = threading.Lock()  # the single env is shared by the workers' resets

        nthread = (os.cpu_count() or 1) if nthread is None else int(nthread)
        self.nthread = max(1, min(nthread, n))
        self._pool = ThreadPoolExecutor(self.nthread - 1, thread_name_prefix="deepmimic") \
            if self.nthread > 1 else None

    # ------------------------------------------------------------------ internals
    def _bind(self, i: int) -> DeepMimicEnv:
        """Point the single env at sub-env i's data and random generator."""
        env, d = self._env, self.datas[i]
        env.data = d
        env._warnings = self._warn[i]
        env._bad_count = int(self._bad[i])
        env._t = float(self._t[i])
        if self._rngs[i] is not None:
            env._np_random = self._rngs[i]
        return env

    def _reset_one(self, i: int, seed: int | None, t0: float | None):
        env = self._bind(i)
        if seed is not None or self._rngs[i] is None:
            self._rngs[i], _ = seeding.np_random(seed)
            env._np_random = self._rngs[i]
        obs, info = env.reset(options=None if t0 is None else {"time": t0})
        self._t[i], self._bad[i], self._elapsed[i] = env._t, env._bad_count, 0
        return obs, info

    def _physics(self, it) -> None:
        """Worker body: step the sub-envs handed out by the shared iterator ``it``, copy the
        state the vectorised maths needs, decide the ending and reset ended sub-envs (the
        Python of a reset overlaps another thread's mj_step, which releases the GIL)."""
        m, nstep, datas, ctrl, ctrl_v = self.model, self.frame_skip, self.datas, self._ctrl, self._ctrl_v
        views, warn, fall = self._views, self._warn, self._fall_geom
        xpos, xquat, cvel, rmat, scom, slin, site, qpos, qvel = (
            self._xpos, self._xquat, self._cvel, self._rootmat, self._scom, self._slinvel, self._site,
            self._qpos, self._qvel)
        step, kin, cpos, cvl, stv = (mujoco.mj_step, mujoco.mj_kinematics, mujoco.mj_comPos,
                                     mujoco.mj_comVel, mujoco.mj_subtreeVel)
        unstable, term, trunc, t_step, el_step = (self._unstable, self._term, self._trunc, self._t_step,
                                                  self._el_step)
        early, limit, clip_end = self.early_termination, self.max_episode_steps, self._clip_end
        max_sq = MAX_QVEL_NORM ** 2
        for i in it:
            d = datas[i]
            ctrl_v[i][:] = ctrl[i]
            step(m, d, nstep)
            kin(m, d)
            cpos(m, d)
            cvl(m, d)
            stv(m, d)
            v = views[i]
            xpos[i], xquat[i], cvel[i], rmat[i], scom[i], slin[i], site[i], qpos[i], qvel[i] = v
            w = warn[i]
            bad = w[0].number + w[1].number + w[2].number + w[3].number
            qv = v[8]
            if bad != self._bad[i] or not (float(qv @ qv) < max_sq):
                unstable[i], te, tr = True, True, False
                with self._lock:
                    self._bad[i] = bad
                    o = self._bind(i)._observation()
                    self._unstable_obs[i] = o if np.all(np.isfinite(o)) else 0.0
            else:
                unstable[i] = False
                te = early and d.ncon > 0 and bool(fall[d.contact.geom].any())
                tr = clip_end is not None and t_step[i] >= clip_end
            if limit is not None and el_step[i] >= limit:
                tr = True
            term[i], trunc[i] = te, tr
            if te or tr:
                with self._lock:
                    self._reset_obs[i], self._reset_infos[i] = self._reset_one(i, None, None)

    def _step_physics(self) -> None:
        it = iter(range(self.num_envs))
        if self._pool is None:
            self._physics(it)
            return
        futs = [self._pool.submit(self._physics, it) for _ in range(self.nthread - 1)]
        self._physics(it)
        for f in futs:
            f.result()

    def _observations(self, t: np.ndarray, ref: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Observations at times t; ``ref`` is ``clip.reference_packed_batch(t)`` (shared with the rewards)."""
        env, n = self._env, self.num_envs
        if self.obs_mode == "compact":
            return np.concatenate([self._qpos[:, self._rq + 7:], self._qvel[:, self._rv + 6:]], axis=1)
        root, nb = self._root, self._nb
        if self._body_idx is None:
            sl = slice(self._b0, self._b0 + nb)
            xpos, xquat, cvel = self._xpos[:, sl], self._xquat[:, sl], self._cvel[:, sl]
        else:
            bi = self._body_idx
            xpos, xquat, cvel = self._xpos[:, bi], self._xquat[:, bi], self._cvel[:, bi]
        rm = self._rootmat
        hx, hy = rm[:, 0], rm[:, 3]
        norm = np.hypot(hx, hy)
        ok = norm > 1e-9
        safe = np.where(ok, norm, 1.0)
        c = np.where(ok, hx / safe, 1.0)
        s = np.where(ok, hy / safe, 0.0)
        rot = np.zeros((n, 3, 3))
        rot[:, 0, 0] = rot[:, 1, 1] = c
        rot[:, 0, 1], rot[:, 1, 0], rot[:, 2, 2] = -s, s, 1.0
        ch = np.sqrt(np.maximum(0.0, 0.5 * (1.0 + c)))
        sh = np.copysign(np.sqrt(np.maximum(0.0, 0.5 * (1.0 - c))), s)
        lmat = np.zeros((n, 4, 4))
        lmat[:, 0, 0] = lmat[:, 1, 1] = lmat[:, 2, 2] = lmat[:, 3, 3] = ch
        lmat[:, 3, 0] = lmat[:, 2, 1] = sh
        lmat[:, 1, 2] = lmat[:, 0, 3] = -sh
        root_pos = self._xpos[:, root]
        obs = np.empty((n, env._obs_dim))
        obs[:, 0] = self.clip.phase_batch(t)
        obs[:, 1] = root_pos[:, 2]
        np.matmul(xpos - root_pos[:, None], rot, out=obs[:, 2:2 + 3 * nb].reshape(n, nb, 3))
        q = obs[:, 2 + 3 * nb:2 + 7 * nb].reshape(n, nb, 4)
        np.matmul(xquat, lmat, out=q)
        np.negative(q, out=q, where=q[:, :, :1] < 0)
        vel = np.empty((n, 2 * nb, 3))
        w = cvel[:, :, :3]
        vel[:, nb:] = w
        r = xpos - self._scom[:, None]
        wx, wy, wz = w[..., 0], w[..., 1], w[..., 2]
        rx, ry, rz = r[..., 0], r[..., 1], r[..., 2]
        lin = vel[:, :nb]
        lin[..., 0] = wy * rz - wz * ry
        lin[..., 1] = wz * rx - wx * rz
        lin[..., 2] = wx * ry - wy * rx
        lin += cvel[:, :, 3:]
        np.matmul(vel, rot, out=obs[:, 2 + 7 * nb:2 + 13 * nb].reshape(n, 2 * nb, 3))
        if env.ref_obs:
            ref_q, ref_vec = ref
            k, r = env.root_diff_index, env._ref_obs_at
            np.matmul((ref_vec[:, k:k + 3] - root_pos)[:, None], rot, out=obs[:, None, r:r + 3])
            dyaw = quat_yaw(ref_q[:, 0]) - np.arctan2(s, c)
            obs[:, r + 3], obs[:, r + 4] = np.cos(dyaw), np.sin(dyaw)
        return obs

    def _rewards(self, t: np.ndarray, ref: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(total (N,), terms (N, 6)) against the reference at each sub-env's time."""
        env, n = self._env, self.num_envs
        fr = env._fast_reward
        xq = self._xquat
        par = xq[:, env._rot_parents]
        par[..., 1:] *= -1.0
        q = (par[..., :, None] * xq[:, env._rot_children][..., None, :]).reshape(n, -1, 16) @ _QMUL
        ref_q, ref_vec = ref
        dot = np.abs(np.einsum("nij,nij->ni", q, ref_q))
        ang = 2.0 * np.arccos(np.minimum(dot, 1.0))
        rv, root = self._rv, self._root
        qv = self._qvel
        root_pos = self._xpos[:, root]
        ee = self._site[:, env._ee_sites] - root_pos[:, None]
        sv = np.concatenate([qv[:, rv + 3:], ee.reshape(n, -1), root_pos, qv[:, rv:rv + 3],
                             self._slinvel, self._scom], axis=1)
        diff = sv - ref_vec
        k = env.root_diff_index
        self._drift_sq = diff[:, k] ** 2 + diff[:, k + 1] ** 2  # horizontal root distance to the reference, squared
        err = (ang * ang) @ fr.wa + (diff * diff) @ fr.wd
        terms = np.exp(fr.scales * err)
        total = terms @ fr.term_w
        bad = ~np.isfinite(total)
        if bad.any():
            total[bad] = 0.0
            terms[bad] = 0.0
        return total, terms

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None):
        """Reset every sub-env (or those in ``options["reset_mask"]``); seed i is ``seed + i``.

        ``options["time"]``: a start time for all, or one per sub-env (None = random).
        """
        n = self.num_envs
        seeds = sub_env_seeds(seed, n)
        options = options or {}
        mask = options.get("reset_mask")
        mask = np.ones(n, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        if self._needs_reset and not mask.all():
            raise ValueError("the first reset must reset every sub-env")
        times = options.get("time")
        if times is None or np.ndim(times) == 0:
            times = [times] * n
        obs = self._obs_buf
        infos: dict[str, Any] = {}
        for i in np.flatnonzero(mask):
            obs[i], info = self._reset_one(int(i), seeds[i], times[i])
            self._add_info_row(infos, info, int(i))
        self._obs_buf = obs
        self._needs_reset = False
        return obs.copy(), infos

    def _add_info_row(self, infos: dict, info: dict, i: int) -> None:
        add_info_row(infos, info, i, self.num_envs)

    def step(self, actions):
        """Step all sub-envs; ended ones are reset in the same call (SAME_STEP autoreset)."""
        if self._needs_reset:
            raise RuntimeError("call reset() before step()")
        env, n = self._env, self.num_envs
        a = np.asarray(actions, dtype=np.float64).reshape(n, -1)
        if env.action_mode == "residual":
            t1 = self._t + self.control_dt
            np.add(env.clip.hinge_targets_batch(t1), env.residual_scale * env._act_half * a, out=self._ctrl)
            if env.pd_feedforward:
                self._ctrl += env._ff_gain * env.clip.hinge_velocities_batch(t1)
        else:
            np.add(env._act_center, env._act_half * a, out=self._ctrl)
        self._t += self.control_dt
        self._elapsed += 1
        t_step = self._t_step
        t_step[:] = self._t
        self._el_step[:] = self._elapsed
        self._step_physics()  # also resets ended sub-envs (self._t etc. then hold the new episode)
        unstable, terminated, truncated = self._unstable.copy(), self._term.copy(), self._trunc.copy()
        with np.errstate(invalid="ignore", over="ignore"):
            ref = self.clip.reference_packed_batch(t_step)
            obs = self._observations(t_step, ref)
            reward, terms = self._rewards(t_step, ref)
        if env.max_root_drift is not None:  # drifted too far from the reference root: terminated
            far = (self._drift_sq > env.max_root_drift ** 2) & ~unstable & ~terminated
            for i in np.flatnonzero(far & ~truncated):  # not yet reset by the physics step
                i = int(i)
                with self._lock:
                    self._reset_obs[i], self._reset_infos[i] = self._reset_one(i, None, None)
            terminated |= far
        if unstable.any():
            obs[unstable] = self._unstable_obs[unstable]
            reward[unstable] = 0.0
            terms[unstable] = 0.0
        ones = np.ones(n, dtype=bool)
        info: dict[str, Any] = {}
        for k, col in zip(INFO_KEYS, terms.T):
            info[k], info["_" + k] = col.copy(), ones
        info["time"], info["_time"] = t_step.copy(), ones
        info["sim_unstable"], info["_sim_unstable"] = unstable, ones.copy()
        ended = terminated | truncated
        if ended.any():
            final_info = {k: v.copy() for k, v in info.items() if not k.startswith("_")}
            for k in list(final_info):
                final_info["_" + k] = ended.copy()
            if unstable.any():
                final_info["phase"] = self.clip.phase_batch(t_step)
                final_info["_phase"] = unstable.copy()
            final_obs = np.zeros_like(obs)
            final_obs[ended] = obs[ended]
            for i in np.flatnonzero(ended):
                i = int(i)
                obs[i] = self._reset_obs[i]
                rinfo, self._reset_infos[i] = self._reset_infos[i], None
                for k, v in rinfo.items():
                    if k not in info:
                        info[k] = np.zeros(n, dtype=bool if isinstance(v, bool) else np.float64)
                        info["_" + k] = np.zeros(n, dtype=bool)
                    info[k][i] = v
                    info["_" + k][i] = True
            info["final_obs"], info["_final_obs"] = final_obs, ended
            info["final_info"], info["_final_info"] = final_info, ended.copy()
        self._obs_buf = obs.copy()
        return obs, reward, terminated, truncated, info

    def close_extras(self, **kwargs: Any) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._env.close()
