"""A natively batched vector env for Gymnasium's MuJoCo v5 tasks.

``MujocoLocomotionVectorEnv(env_id, num_envs, max_episode_steps=None, nthread=None, **make_kwargs)``
covers the ids in ``SUPPORTED``: every id of Gymnasium's MuJoCo v5 family. Sub-env ``i`` behaves exactly like
``gym.make(env_id, **make_kwargs)`` in a ``SyncVectorEnv`` reset with seed ``seed + i``: the same
observations, rewards, terminations, truncations and info entries (to the rounding of the
vectorised maths; the physics is bit-identical, which ``tests/test_mujoco_vector.py`` checks
against gymnasium step by step).

Why: in ``SyncVectorEnv`` each Hopper step is ~90 us of ``mj_step`` and ~60 us of Python (wrappers,
observation, reward, health check) on one core. Here ``nthread`` threads (the caller's included)
run the physics of all sub-envs (``mujoco.mj_step`` releases the GIL, so they use several cores),
and the observation, reward and health check are computed once for all sub-envs with numpy.

Each sub-env is a real Gymnasium environment instance (its own ``MjModel``/``MjData`` and random
generator): resets go through its own ``reset`` (so reset noise, goals and seeding are Gymnasium's),
and the task parameters (reward weights, healthy ranges, frame skip, observation options, ...) are
read from the instance, so ``make_kwargs`` such as ``ctrl_cost_weight=...`` are honoured.

The vector env is one class; what differs between ids is a small task object (``mujoco_tasks.TASKS``).

Autoreset is ``SAME_STEP`` with ``info["final_obs"]``/``info["final_info"]``, as ``SyncVectorEnv``.
"""
from __future__ import annotations

from typing import Any

import mujoco
import numpy as np

from ..stepping_pool import SteppingPool
from .mujoco_tasks import SUPPORTED, TASKS, Info, Task
from .vector_util import GymBatchVectorEnv, same_step_autoreset


class MujocoLocomotionVectorEnv(GymBatchVectorEnv):
    """N sub-envs of a MuJoCo v5 task, physics in threads, maths batched by a task object (see module doc)."""

    def __init__(self, env_id: str, num_envs: int, max_episode_steps: int | None = None,
                 nthread: int | None = None, **make_kwargs: Any) -> None:
        if env_id not in TASKS:
            raise ValueError(f"no native vector env for {env_id!r}: it exists for {', '.join(SUPPORTED)}")
        super().__init__(env_id, num_envs, max_episode_steps, make_kwargs)
        e = self.envs[0]
        self.task: Task = TASKS[env_id](e)
        self.frame_skip = int(e.frame_skip)
        # the task's MjData fields for all sub-envs, and per sub-env (buffer, MjData view) pairs to fill them
        self._state: Info = {f: np.zeros((num_envs, *np.shape(getattr(e.data, f)))) for f in self.task.fields}
        self._copies = [[(self._state[f], getattr(env.data, f)) for f in self.task.fields] for env in self.envs]
        self._actions: np.ndarray | None = None
        self._pool = SteppingPool(num_envs, nthread, "mujoco-vec")
        self.nthread = self._pool.nthread

    # ------------------------------------------------------------------ internals
    def _gather(self, i: int) -> None:
        for buf, view in self._copies[i]:
            buf[i] = view

    def _started(self, i: int) -> None:
        self._gather(i)

    def _physics(self, it) -> None:
        """Worker body: step the sub-envs handed out by the shared iterator (mj_step releases the GIL)."""
        envs, a, fs, step, gather = self.envs, self._actions, self.frame_skip, mujoco.mj_step, self._gather
        post = mujoco.mj_rnePostConstraint if self.task.post_constraint else None
        for i in it:
            env = envs[i]
            d = env.data
            d.ctrl[:] = a[i]
            step(env.model, d, nstep=fs)
            if post is not None:
                post(env.model, d)
            gather(i)

    # ------------------------------------------------------------------ gym API
    def step(self, actions):
        """Step all sub-envs; ended ones are reset in the same call (SAME_STEP autoreset)."""
        n, a = self.num_envs, self._actions_of(actions)
        s = self._state
        before = self.task.before(s)
        self._actions = a
        self._pool.run(self._physics)
        truncated = self._truncated()
        obs, reward, terminated, terms = self.task.step(s, before, a)
        ones = np.ones(n, dtype=bool)
        info: dict[str, Any] = {}
        for k, v in terms.items():
            info[k], info["_" + k] = v, ones
        ended = terminated | truncated
        if ended.any():
            same_step_autoreset(obs, info, ended, lambda i: self._reset_one(i, None))
        return obs, np.asarray(reward, dtype=np.float64), terminated, truncated, info

    def close_extras(self, **kwargs: Any) -> None:
        self._pool.close()
        super().close_extras(**kwargs)
