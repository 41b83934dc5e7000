"""The physics of N DeepMimic characters behind one small interface.

:class:`MujocoPhysics` owns N ``MjData`` of one ``MjModel`` and steps them with worker
threads (``mujoco.mj_step`` releases the GIL). After a step it leaves the state that the
batched maths reads in stacked arrays (:class:`PhysicsState`, one row per character), with
two flags per character: the simulation went unstable, a fall-contact geom touches something.
Everything above it (controls, observations, rewards, terminations, resets) works on those
arrays, so another backend (e.g. MuJoCo Warp on a GPU) can supply the same arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import mujoco
import numpy as np

from ..stepping_pool import SteppingPool

MAX_QVEL_NORM = 1e3
"""A qvel norm above this (rad/s or m/s) counts as a diverging simulation."""
_WARNINGS = (mujoco.mjtWarning.mjWARN_BADQPOS, mujoco.mjtWarning.mjWARN_BADQVEL,
             mujoco.mjtWarning.mjWARN_BADQACC, mujoco.mjtWarning.mjWARN_BADCTRL)


@dataclass
class PhysicsState:
    """Stacked simulation state of N characters (world frame; bodies and sites in model order)."""

    xpos: np.ndarray  # (N, nbody, 3) body positions
    xquat: np.ndarray  # (N, nbody, 4) body rotations
    cvel: np.ndarray  # (N, nbody, 6) com-based velocities (angular, linear)
    root_mat: np.ndarray  # (N, 9) the root's rotation matrix
    com: np.ndarray  # (N, 3) the character's centre of mass
    com_vel: np.ndarray  # (N, 3) its velocity
    site: np.ndarray  # (N, nsite, 3) site positions
    qpos: np.ndarray  # (N, nq)
    qvel: np.ndarray  # (N, nv)

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The fields in declaration order (the order of ``MujocoPhysics``'s views of each MjData)."""
        return (self.xpos, self.xquat, self.cvel, self.root_mat, self.com, self.com_vel, self.site, self.qpos,
                self.qvel)

    @staticmethod
    def zeros(model: mujoco.MjModel, n: int) -> "PhysicsState":
        m = model
        return PhysicsState(np.zeros((n, m.nbody, 3)), np.zeros((n, m.nbody, 4)), np.zeros((n, m.nbody, 6)),
                            np.zeros((n, 9)), np.zeros((n, 3)), np.zeros((n, 3)), np.zeros((n, m.nsite, 3)),
                            np.zeros((n, m.nq)), np.zeros((n, m.nv)))


def refresh_rows(physics, rows) -> PhysicsState:
    """A backend's ``refresh``: read the given characters (e.g. just restarted) with its ``read`` into its
    ``state`` as well, so that ``state`` holds every character's current state. Returns the rows read (a copy)."""
    rows = np.asarray(list(rows), dtype=np.intp)
    out = physics.read(rows)
    for dst, src in zip(physics.state.arrays(), out.arrays()):
        dst[rows] = src
    return out


class MujocoPhysics:
    """N characters on one ``MjModel`` (CPU MuJoCo), stepped by ``nthread`` threads, the caller's included.

    ``fall_geom``: a boolean per geom; a contact involving one of them sets ``fell``.

    The PD of each actuated hinge is a position actuator (kp, its force range the joint's torque limit L)
    and the joint's damping kd (integrated implicitly, so a stiff, light joint does not ring). With
    ``clamp_total=False`` the actuator clamps its P part and the damping comes on top: the torque is
    clamp(kp (target - q), +-L) - kd dq, so a joint moving fast against its limit is braked by kd dq, far
    past L (a shoulder at 14 rad/s: 560 N m of damping against a 100 N m actuator). ``clamp_total=True``
    clamps both together, clamp(kp (target - q) - kd dq, +-L), as DeepMimic does: before each substep the
    actuator's P force is set to that clamped torque plus kd dq (the damping then takes kd dq back,
    implicitly), and the targets are held to the actuators' control range. Unclamped the two laws are the
    same. Saturated, the substep's velocity change is L dt / (I + kd dt) instead of L dt / I, which keeps
    the light joints stable at 240 Hz.
    """

    def __init__(self, model: mujoco.MjModel, num_envs: int, frame_skip: int, root_body: int,
                 fall_geom: np.ndarray, nthread: int | None = None, clamp_total: bool = False):
        self.model, self.num_envs, self.frame_skip = model, int(num_envs), int(frame_skip)
        self._pd = _TotalClampPD(model) if clamp_total else None
        self.root_body, self.fall_geom = int(root_body), np.asarray(fall_geom, dtype=bool)
        n, r = self.num_envs, self.root_body
        self.datas = [mujoco.MjData(model) for _ in range(n)]
        self._warn = [[d.warning[int(k)] for k in _WARNINGS] for d in self.datas]
        self._bad = np.zeros(n, dtype=np.int64)  # warning count at the last reset or unstable step
        self._root_z = root_height_address(model, r)
        self.state = PhysicsState.zeros(model, n)
        self.unstable = np.zeros(n, dtype=bool)
        self.fell = np.zeros(n, dtype=bool)
        self._views = [state_views(d, r) for d in self.datas]
        self._pool = SteppingPool(n, nthread, "deepmimic")
        self.nthread = self._pool.nthread

    # ------------------------------------------------------------------ per character
    def _bad_warnings(self, i: int) -> int:
        w = self._warn[i]
        return w[0].number + w[1].number + w[2].number + w[3].number

    def set_state(self, i: int, qpos: np.ndarray, qvel: np.ndarray, ctrl: np.ndarray, snap: float = 0.0) -> None:
        """Put character i in (qpos, qvel) with PD targets ctrl, lifted out of the floor if a foot
        is in it (lowered onto it from under ``snap`` m: :func:`place`), with every derived quantity computed
        (thread-safe for distinct i)."""
        place(self.model, self.datas[i], qpos, qvel, ctrl, self._root_z, snap)
        self._bad[i] = self._bad_warnings(i)

    def host_data(self, i: int) -> mujoco.MjData:
        """Character i's MjData (the simulation itself: a force written into it acts)."""
        return self.datas[i]

    def read(self, rows) -> PhysicsState:
        """A fresh copy of the state of the given characters, read from their MjData."""
        rows = list(rows)
        out = PhysicsState.zeros(self.model, len(rows))
        fields = out.arrays()
        for k, i in enumerate(rows):
            for dst, src in zip(fields, self._views[i]):
                dst[k] = src
        return out

    refresh = refresh_rows

    # ------------------------------------------------------------------ stepping
    def _work(self, it, after: Callable[[int], None] | None) -> None:
        m, nstep, datas, views = self.model, self.frame_skip, self.datas, self._views
        dst = self.state.arrays()
        ctrl, fall, unstable, fell = self._ctrl, self.fall_geom, self.unstable, self.fell
        step, kin, cpos, cvl, stv = (mujoco.mj_step, mujoco.mj_kinematics, mujoco.mj_comPos,
                                     mujoco.mj_comVel, mujoco.mj_subtreeVel)
        max_sq = MAX_QVEL_NORM ** 2
        pd = self._pd.worker() if self._pd is not None else None
        for i in it:
            d = datas[i]
            if pd is None:
                d.ctrl[:] = ctrl[i]
                step(m, d, nstep)
            else:
                pd.step(m, d, ctrl[i], nstep)
            kin(m, d)  # positions and velocities of the integrated state (mj_step leaves them stale)
            cpos(m, d)
            cvl(m, d)
            stv(m, d)
            v = views[i]
            for a, b in zip(dst, v):
                a[i] = b
            bad = self._bad_warnings(i)
            qv = v[8]
            # MuJoCo resets the data itself when qpos/qvel/qacc go bad: count its warnings too
            if bad != self._bad[i] or not (float(qv @ qv) < max_sq):
                self._bad[i] = bad
                unstable[i], fell[i] = True, False
            else:
                unstable[i] = False
                fell[i] = d.ncon > 0 and bool(fall[d.contact.geom].any())
            if after is not None:
                after(i)

    def step(self, ctrl: np.ndarray, after: Callable[[int], None] | None = None) -> None:
        """Apply PD targets ``ctrl`` (N, nu) for ``frame_skip`` substeps; fill ``state``,
        ``unstable`` and ``fell``. ``after(i)`` runs in the worker right after character i is
        stepped and read (e.g. to reset it), overlapping the other threads' physics."""
        self._ctrl = ctrl
        self._pool.run(self._work, after)

    def close(self) -> None:
        self._pool.close()


class _TotalClampPD:
    """DeepMimic's torque law on a model whose PD is a position actuator plus joint damping (see
    :class:`MujocoPhysics`): the model's force and control limits are read here, then switched off on
    the model, since this class applies them itself, once per substep."""

    def __init__(self, model: mujoco.MjModel):
        joints = model.actuator_trnid[:, 0]
        if (model.actuator_trntype != mujoco.mjtTrn.mjTRN_JOINT).any() or \
                (model.jnt_type[joints] != mujoco.mjtJoint.mjJNT_HINGE).any():
            raise ValueError("pd_clamp='total' needs every actuator on a hinge joint")
        self.kp = model.actuator_gainprm[:, 0].copy()
        if not (self.kp > 0).all():
            raise ValueError("pd_clamp='total' needs a positive kp on every actuator")
        dofs = model.jnt_dofadr[joints]
        self.kd = model.dof_damping[dofs].copy()
        big = np.full(model.nu, np.inf)
        limited = model.actuator_forcelimited.astype(bool)
        self.lo = np.where(limited, model.actuator_forcerange[:, 0], -big)
        self.hi = np.where(limited, model.actuator_forcerange[:, 1], big)
        climited = model.actuator_ctrllimited.astype(bool)
        self.ctrl_lo = np.where(climited, model.actuator_ctrlrange[:, 0], -big)
        self.ctrl_hi = np.where(climited, model.actuator_ctrlrange[:, 1], big)
        self.qadr, self.dofadr = model.jnt_qposadr[joints], dofs  # each actuator's hinge in qpos and qvel
        self.q = _span(self.qadr)
        self.dq = _span(dofs)
        model.actuator_forcelimited[:] = 0
        model.actuator_ctrllimited[:] = 0

    def worker(self) -> "_TotalClampPD._Worker":
        return _TotalClampPD._Worker(self)

    class _Worker:
        """One thread's buffers."""

        def __init__(self, pd: "_TotalClampPD"):
            self.pd = pd
            n = len(pd.kp)
            self.target, self.tau, self.damp = np.empty(n), np.empty(n), np.empty(n)

        def step(self, m: mujoco.MjModel, d: mujoco.MjData, target: np.ndarray, nstep: int) -> None:
            pd, tgt, tau, damp = self.pd, self.target, self.tau, self.damp
            np.clip(target, pd.ctrl_lo, pd.ctrl_hi, out=tgt)
            qs, dqs, kp, kd, lo, hi = pd.q, pd.dq, pd.kp, pd.kd, pd.lo, pd.hi
            ctrl = d.ctrl
            for _ in range(nstep):
                q = d.qpos[qs]
                np.subtract(tgt, q, out=tau)
                tau *= kp
                np.multiply(kd, d.qvel[dqs], out=damp)
                tau -= damp
                np.clip(tau, lo, hi, out=tau)
                tau += damp  # the joint's damping takes it back, implicitly
                tau /= kp
                tau += q
                ctrl[:] = tau  # kp (ctrl - q) = clamp(P + D) + kd dq
                mujoco.mj_step(m, d)


def root_height_address(model: mujoco.MjModel, root_body: int) -> int:
    """The qpos address of the root's height (the free joint's z)."""
    return int(model.jnt_qposadr[model.body_jntadr[root_body]]) + 2


def place(m: mujoco.MjModel, d: mujoco.MjData, qpos: np.ndarray, qvel: np.ndarray, ctrl: np.ndarray,
          root_z: int, snap: float = 0.0) -> None:
    """Reset ``d`` to (qpos, qvel) with PD targets ctrl, lifted out of the floor if a foot is in it (by
    the deepest penetration, at qpos address ``root_z``), or, with ``snap`` > 0, lowered onto the floor when its
    lowest point hovers less than ``snap`` metres above it; every derived quantity computed."""
    mujoco.mj_resetData(m, d)
    d.qpos[:], d.qvel[:], d.ctrl[:] = qpos, qvel, ctrl
    mujoco.mj_forward(m, d)
    low = float(d.contact.dist[:d.ncon].min()) if d.ncon else np.inf
    if low >= 0 and snap > 0:
        low = clearance(m, d, snap)
    if low < 0 or 0 < low < snap:
        d.qpos[root_z] -= low
        mujoco.mj_forward(m, d)
    mujoco.mj_subtreeVel(m, d)


def clearance(m: mujoco.MjModel, d: mujoco.MjData, distmax: float) -> float:
    """The gap (m) between the character's geoms and the floor planes (``distmax`` when it is larger)."""
    world = m.geom_bodyid == 0
    floors = np.flatnonzero(world & (m.geom_type == mujoco.mjtGeom.mjGEOM_PLANE))
    return min((mujoco.mj_geomDistance(m, d, int(g), int(f), distmax, None)
                for f in floors for g in np.flatnonzero(~world)), default=distmax)


def state_views(d: mujoco.MjData, root_body: int) -> tuple[np.ndarray, ...]:
    """Views of ``d``'s arrays in :meth:`PhysicsState.arrays` order."""
    r = root_body
    return (d.xpos, d.xquat, d.cvel, d.xmat[r], d.subtree_com[r], d.subtree_linvel[r], d.site_xpos, d.qpos, d.qvel)


def _span(adr: np.ndarray):
    """A slice for consecutive addresses (a view, no copy), else the index array."""
    adr = np.asarray(adr)
    if len(adr) and np.array_equal(adr, np.arange(adr[0], adr[0] + len(adr))):
        return slice(int(adr[0]), int(adr[0]) + len(adr))
    return adr
