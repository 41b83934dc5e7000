"""The N DeepMimic characters stepped by MuJoCo Warp (``physics="warp"``), behind the interface of
:class:`.physics.MujocoPhysics`.

One ``mujoco_warp`` Model holds the character; its Data holds the N characters as N worlds, on the
GPU when Warp finds one, else on Warp's CPU device (slower than native MuJoCo; for tests and machines
without a GPU). A control step writes the N PD targets, runs ``frame_skip`` substeps for all worlds
at once (under ``pd_clamp="total"`` a Warp kernel sets each substep's actuator control from the
clamped P + D first, the law of :class:`.physics.MujocoPhysics`), recomputes positions and velocities
of the integrated state, and reads the stacked arrays into ``state`` (float64, on the host): the
batched maths above is the same code as for native MuJoCo.

A restart (reference state initialisation) is placed by native MuJoCo on a host ``MjData`` (its
contacts lift a foot out of the floor, as in the native path), then its qpos, qvel and control are
written into that world. Where a world's state is not finite or its speed passes ``MAX_QVEL_NORM``,
the character is unstable (MuJoCo Warp raises no warnings per world); where Warp's contact or
constraint buffers overflowed, the step raises an error naming the buffer to enlarge
(``physics_options``), since contacts were dropped.

Warp's kernels are compiled on first use and cached (``~/.cache/warp``): the first run on a machine
costs about 1.5 to 2.5 minutes of compilation on this project's 2-core CPU machine; later runs load
them in a few seconds.
"""

from __future__ import annotations

import functools
from typing import Callable

import mujoco
import numpy as np

from .physics import (MAX_QVEL_NORM, PhysicsState, _TotalClampPD, place, refresh_rows, root_height_address,
                      state_views)

GPU_EXTRA_HINT = "install the gpu extra: pip install 'trpo-mimic[gpu]' (mujoco-warp and warp-lang)"


def import_warp():
    """``(warp, mujoco_warp)``, initialised quietly; a one-line error naming the extra if missing."""
    try:
        import warp as wp
        wp.config.log_level = max(wp.config.log_level, wp.LOG_WARNING)
        import mujoco_warp as mjw
    except ImportError as e:
        raise RuntimeError(f"physics='warp' needs MuJoCo Warp, which is not installed ({e.name} missing): "
                           f"{GPU_EXTRA_HINT}") from None
    wp.init()
    return wp, mjw


@functools.cache
def _total_clamp_kernel(wp):
    """ctrl = q + (clamp(kp (target - q) - kd dq, lo, hi) + kd dq) / kp, per world and actuator (made once)."""
    @wp.kernel
    def total_clamp(qpos: wp.array2d(dtype=wp.float32), qvel: wp.array2d(dtype=wp.float32),
                    target: wp.array2d(dtype=wp.float32), qadr: wp.array(dtype=wp.int32),
                    dofadr: wp.array(dtype=wp.int32), kp: wp.array(dtype=wp.float32),
                    kd: wp.array(dtype=wp.float32), lo: wp.array(dtype=wp.float32),
                    hi: wp.array(dtype=wp.float32), ctrl: wp.array2d(dtype=wp.float32)):
        w, a = wp.tid()
        q = qpos[w, qadr[a]]
        damp = kd[a] * qvel[w, dofadr[a]]
        tau = wp.clamp(kp[a] * (target[w, a] - q) - damp, lo[a], hi[a])
        ctrl[w, a] = q + (tau + damp) / kp[a]

    return total_clamp


class WarpPhysics:
    """N characters as the N worlds of one MuJoCo Warp Data (see the module doc).

    ``device``: a Warp device ("cpu", "cuda", "cuda:0"; default: Warp's preferred one, a GPU when
    present). ``nconmax`` and ``njmax``: Warp's contact and constraint-row buffers per world.
    ``graph``: record a control step's kernel launches once (a Warp graph: a CUDA graph on a GPU) and
    replay them each step, instead of launching the few thousand kernels of ``frame_skip`` substeps from
    Python every step (on Warp's CPU device here, 16x faster per step). Before the recording, one step on
    a scratch one-world Data loads every kernel, since a recording cannot compile.
    """

    def __init__(self, model: mujoco.MjModel, num_envs: int, frame_skip: int, root_body: int,
                 fall_geom: np.ndarray, nthread: int | None = None, clamp_total: bool = False,
                 device: str | None = None, nconmax: int = 48, njmax: int = 256, graph: bool = True):
        wp, mjw = import_warp()
        self._wp, self._mjw = wp, mjw
        self.model, self.num_envs, self.frame_skip = model, int(num_envs), int(frame_skip)
        self.root_body, self.fall_geom = int(root_body), np.asarray(fall_geom, dtype=bool)
        self.nthread = 1  # the host's part is one thread; the device does the stepping
        n, m = self.num_envs, model
        self._root_z = root_height_address(model, self.root_body)
        pd = _TotalClampPD(model) if clamp_total else None  # switches the model's limits off: before put_model
        self.device = wp.get_device(device)
        self.nconmax, self.njmax = int(nconmax), int(njmax)
        with wp.ScopedDevice(self.device):
            self.wm = mjw.put_model(m)
            self._host = mujoco.MjData(m)
            mujoco.mj_forward(m, self._host)
            self.wd = mjw.put_data(m, self._host, nworld=n, nconmax=self.nconmax, njmax=self.njmax)
            self._target = wp.zeros((n, m.nu), dtype=wp.float32)
            self._pd = None
            if pd is not None:
                f32 = lambda a: wp.array(np.clip(a, -3e38, 3e38).astype(np.float32))  # noqa: E731 (inf as float32 max)
                i32 = lambda a: wp.array(np.asarray(a, dtype=np.int32))  # noqa: E731
                self._pd = (i32(pd.qadr), i32(pd.dofadr), f32(pd.kp), f32(pd.kd), f32(pd.lo), f32(pd.hi))
                self._ctrl_lo, self._ctrl_hi = pd.ctrl_lo, pd.ctrl_hi
                self._kernel = _total_clamp_kernel(wp)
            self._graph = None
            if graph:
                scratch = mjw.put_data(m, self._host, nworld=1, nconmax=self.nconmax, njmax=self.njmax)
                self._advance(scratch, wp.zeros((1, m.nu), dtype=wp.float32))
                with wp.ScopedCapture() as capture:
                    self._advance(self.wd, self._target)
                self._graph = capture.graph
        self.state = PhysicsState.zeros(m, n)
        self._now = PhysicsState.zeros(m, n)  # what each world holds now (``state``, or a restart since)
        self.unstable = np.zeros(n, dtype=bool)
        self.fell = np.zeros(n, dtype=bool)

    @property
    def datas(self):
        raise AttributeError("physics='warp' keeps the characters' state on the Warp device: there is no MjData "
                             "per character (use physics='mujoco' to reach it)")

    # ------------------------------------------------------------------ per character
    def set_state(self, i: int, qpos: np.ndarray, qvel: np.ndarray, ctrl: np.ndarray, snap: float = 0.0) -> None:
        """Put character i in (qpos, qvel) with PD targets ctrl (placed by native MuJoCo, as the native path)."""
        h, d = self._host, self.wd
        place(self.model, h, qpos, qvel, ctrl, self._root_z, snap)
        for dst, src in zip(self._now.arrays(), state_views(h, self.root_body)):
            dst[i] = src
        d.qpos[i].assign(h.qpos.astype(np.float32))
        d.qvel[i].assign(h.qvel.astype(np.float32))
        d.ctrl[i].assign(h.ctrl.astype(np.float32))
        for arr in (d.qacc_warmstart, d.act, d.qfrc_applied, d.xfrc_applied):
            if arr.shape[1]:
                arr[i].zero_()

    def host_data(self, i: int) -> mujoco.MjData:
        """A host MjData with world i's current qpos and qvel and what follows from them (for drawing; a
        copy: a force written into it does not reach the simulation)."""
        h = self._host
        mujoco.mj_resetData(self.model, h)
        h.qpos[:], h.qvel[:] = self._now.qpos[i], self._now.qvel[i]
        mujoco.mj_forward(self.model, h)
        return h

    def read(self, rows) -> PhysicsState:
        """A fresh copy of the state of the given characters."""
        rows = np.asarray(list(rows), dtype=np.intp)
        return PhysicsState(*(a[rows].copy() for a in self._now.arrays()))

    refresh = refresh_rows

    # ------------------------------------------------------------------ stepping
    def step(self, ctrl: np.ndarray, after: Callable[[int], None] | None = None) -> None:
        """Apply PD targets ``ctrl`` (N, nu) for ``frame_skip`` substeps on every world; fill ``state``,
        ``unstable`` and ``fell``; then ``after(i)`` for each character in turn (e.g. to restart it)."""
        wp = self._wp
        with wp.ScopedDevice(self.device):
            if self._pd is None:
                self.wd.ctrl.assign(np.asarray(ctrl, dtype=np.float32))
            else:
                self._target.assign(np.clip(ctrl, self._ctrl_lo, self._ctrl_hi).astype(np.float32))
            if self._graph is not None:
                wp.capture_launch(self._graph)
            else:
                self._advance(self.wd, self._target)
            self._check_overflow()
            self._read_back()
        if after is not None:
            for i in range(self.num_envs):
                after(i)

    def _advance(self, d, target) -> None:
        """The kernel launches of one control step on Data ``d`` (its PD targets in ``target`` under the
        total clamp, in ``d.ctrl`` otherwise): ``frame_skip`` substeps, then the positions and velocities of
        the integrated state (the step leaves them stale). Launched directly, or recorded into the graph."""
        wp, mjw, m = self._wp, self._mjw, self.wm
        for _ in range(self.frame_skip):
            if self._pd is not None:
                wp.launch(self._kernel, dim=(d.nworld, self.model.nu), inputs=[d.qpos, d.qvel, target, *self._pd],
                          outputs=[d.ctrl])
            mjw.step(m, d)
        mjw.kinematics(m, d)
        mjw.com_pos(m, d)
        mjw.com_vel(m, d)
        mjw.subtree_vel(m, d)

    def _check_overflow(self) -> None:
        flags = self._mjw.OverflowType
        over = int(np.bitwise_or.reduce(self.wd.overflow.numpy()))
        if over & (flags.NARROWPHASE | flags.BROADPHASE):
            raise RuntimeError(f"MuJoCo Warp dropped contacts: more than nconmax={self.nconmax} per character; "
                               "give the env physics_options={'nconmax': ...} with more")
        if over & flags.NEFC:
            raise RuntimeError(f"MuJoCo Warp dropped constraints: more than njmax={self.njmax} rows per character; "
                               "give the env physics_options={'njmax': ...} with more")

    def _read_back(self) -> None:
        d, r, s = self.wd, self.root_body, self.state
        s.xpos[:] = d.xpos.numpy()
        s.xquat[:] = d.xquat.numpy()
        s.cvel[:] = d.cvel.numpy()
        s.root_mat[:] = d.xmat.numpy()[:, r].reshape(-1, 9)
        s.com[:] = d.subtree_com.numpy()[:, r]
        s.com_vel[:] = d.subtree_linvel.numpy()[:, r]
        s.site[:] = d.site_xpos.numpy()
        s.qpos[:] = d.qpos.numpy()
        s.qvel[:] = d.qvel.numpy()
        with np.errstate(invalid="ignore", over="ignore"):
            speed_sq = np.einsum("ij,ij->i", s.qvel, s.qvel)
            self.unstable[:] = ~(np.isfinite(s.qpos).all(axis=1) & (speed_sq < MAX_QVEL_NORM ** 2))
        fell = np.zeros(self.num_envs, dtype=bool)
        nacon = min(int(d.nacon.numpy()[0]), d.contact.geom.shape[0])
        if nacon:
            geom = d.contact.geom.numpy()[:nacon]
            world = d.contact.worldid.numpy()[:nacon]
            hit = ((geom >= 0) & self.fall_geom[np.maximum(geom, 0)]).any(axis=1)
            fell[world[hit]] = True
        self.fell[:] = fell & ~self.unstable
        for dst, src in zip(self._now.arrays(), s.arrays()):
            dst[:] = src

    def close(self) -> None:
        pass
