"""The per-id part of the native MuJoCo v5 vector env (``mujoco_vector.MujocoLocomotionVectorEnv``).

The vector env is one class; what differs between ids is a small task object (``TASKS``): the
``MjData`` fields it reads (copied per sub-env after each step into ``(num_envs, ...)`` arrays),
whether it needs ``mj_rnePostConstraint`` after the step (the contact forces ``cfrc_ext`` of
Ant/Humanoid, as Gymnasium's ``do_simulation`` calls it; the other tasks do not read its outputs and
it does not change the state, so it is not called for them), the quantity taken before the step
(x or xy position) and the batched observation, reward, termination and info.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .vector_util import MUJOCO_V5_IDS

Info = dict[str, np.ndarray]


def _norm2(v: np.ndarray) -> np.ndarray:
    return np.sqrt(np.square(v).sum(axis=1))


class Task:
    """The per-id part: fields read from MjData, the pre-step quantity, observation/reward/termination."""

    fields: tuple[str, ...] = ("qpos", "qvel")
    post_constraint = False  # call mj_rnePostConstraint after the step (cfrc_ext)

    def __init__(self, env: Any) -> None:
        self.dt = float(env.dt)

    def before(self, s: Info) -> np.ndarray | None:
        """What the reward needs from before the step (e.g. the x position), from the gathered fields."""
        return None

    def step(self, s: Info, before: np.ndarray | None,
             a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, Info]:
        """(observations, rewards, terminations, info) for all sub-envs after a step."""
        raise NotImplementedError


class PlanarTask(Task):
    """Hopper, Walker2d, HalfCheetah: forward reward from qpos[0], optional health check."""

    def __init__(self, env: Any, health: str | None, clip_qvel: bool) -> None:
        super().__init__(env)
        self.health, self.clip_qvel = health, clip_qvel
        self.skip_x = bool(env._exclude_current_positions_from_observation)
        self.forward_w, self.ctrl_w = float(env._forward_reward_weight), float(env._ctrl_cost_weight)
        if health is not None:
            self.healthy_reward = float(env._healthy_reward)
            self.terminate_unhealthy = bool(env._terminate_when_unhealthy)
            self.z_range, self.angle_range = env._healthy_z_range, env._healthy_angle_range
            self.state_range = getattr(env, "_healthy_state_range", None)
            self.init_z = float(env.init_qpos[1])

    def before(self, s):
        return s["qpos"][:, 0].copy()

    def _healthy(self, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
        z, angle = qpos[:, 1], qpos[:, 2]
        ok = ((self.z_range[0] < z) & (z < self.z_range[1])
              & (self.angle_range[0] < angle) & (angle < self.angle_range[1]))
        if self.health == "hopper":
            lo, hi = self.state_range
            state = np.concatenate((qpos[:, 2:], qvel), axis=1)
            ok &= ((lo < state) & (state < hi)).all(axis=1)
        return ok

    def step(self, s, before, a):
        qpos, qvel = s["qpos"], s["qvel"]
        n = len(qpos)
        x_after = qpos[:, 0].copy()
        x_velocity = (x_after - before) / self.dt
        pos = qpos[:, 1:] if self.skip_x else qpos
        vel = np.clip(qvel, -10.0, 10.0) if self.clip_qvel else qvel
        obs = np.concatenate((pos, vel), axis=1)
        forward = self.forward_w * x_velocity
        ctrl_cost = self.ctrl_w * np.square(a).sum(axis=1)  # in the actions' dtype, as Gymnasium
        info: Info = {"x_position": x_after}
        if self.health is not None:
            healthy = self._healthy(qpos, qvel)
            survive = healthy * self.healthy_reward
            reward = (forward + survive) - ctrl_cost
            terminated = ~healthy if self.terminate_unhealthy else np.zeros(n, dtype=bool)
            info["z_distance_from_origin"] = qpos[:, 1] - self.init_z
        else:
            reward = forward - ctrl_cost
            terminated = np.zeros(n, dtype=bool)
        info.update(x_velocity=x_velocity, reward_forward=forward, reward_ctrl=-ctrl_cost)
        if self.health is not None:
            info["reward_survive"] = survive
        return obs, reward, terminated, info


class XYTask(Task):
    """Swimmer, Ant, Humanoid: forward reward from the xy displacement of a point over the step."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.skip_xy = bool(env._exclude_current_positions_from_observation)
        self.forward_w, self.ctrl_w = float(env._forward_reward_weight), float(env._ctrl_cost_weight)

    def xy(self, s: Info) -> np.ndarray:
        return s["qpos"][:, 0:2]

    def before(self, s):
        return self.xy(s).copy()

    def position(self, s: Info) -> np.ndarray:
        return s["qpos"][:, 2:] if self.skip_xy else s["qpos"]

    def reward(self, s: Info, x_velocity: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray, Info]:
        forward = self.forward_w * x_velocity
        ctrl_cost = self.ctrl_w * np.square(a).sum(axis=1)
        return forward - ctrl_cost, np.zeros(len(a), dtype=bool), {"reward_forward": forward, "reward_ctrl": -ctrl_cost}

    def observe(self, s: Info) -> np.ndarray:
        return np.concatenate((self.position(s), s["qvel"]), axis=1)

    def step(self, s, before, a):
        qpos = s["qpos"]
        xy_velocity = (self.xy(s) - before) / self.dt
        reward, terminated, terms = self.reward(s, xy_velocity[:, 0], a)
        info: Info = {"x_position": qpos[:, 0].copy(), "y_position": qpos[:, 1].copy(),
                      "distance_from_origin": np.linalg.norm(qpos[:, 0:2], axis=1),
                      "x_velocity": xy_velocity[:, 0], "y_velocity": xy_velocity[:, 1], **terms}
        return self.observe(s), reward, terminated, info


class HealthyXYTask(XYTask):
    """Ant, Humanoid: XYTask with a healthy-z check, a survive reward and a contact cost on cfrc_ext."""

    post_constraint = True

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.healthy_reward = float(env._healthy_reward)
        self.terminate_unhealthy = bool(env._terminate_when_unhealthy)
        self.z_range = env._healthy_z_range
        self.contact_w = float(env._contact_cost_weight)

    def healthy(self, s: Info) -> np.ndarray:
        raise NotImplementedError

    def costs(self, s: Info, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def reward(self, s, x_velocity, a):
        forward = self.forward_w * x_velocity
        healthy = self.healthy(s)
        survive = healthy * self.healthy_reward
        ctrl_cost, contact_cost = self.costs(s, a)
        reward = (forward + survive) - (ctrl_cost + contact_cost)
        terminated = ~healthy if self.terminate_unhealthy else np.zeros(len(a), dtype=bool)
        return reward, terminated, {"reward_forward": forward, "reward_ctrl": -ctrl_cost,
                                    "reward_contact": -contact_cost, "reward_survive": survive}


class AntTask(HealthyXYTask):
    fields = ("qpos", "qvel", "xpos", "cfrc_ext")

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.body = int(env.data.body(env._main_body).id)
        self.force_range = env._contact_force_range
        self.include_cfrc = bool(env._include_cfrc_ext_in_observation)

    def xy(self, s):
        return s["xpos"][:, self.body, 0:2]

    def _forces(self, s: Info) -> np.ndarray:
        return np.clip(s["cfrc_ext"], self.force_range[0], self.force_range[1])

    def healthy(self, s):
        z = s["qpos"][:, 2]
        finite = np.isfinite(s["qpos"]).all(axis=1) & np.isfinite(s["qvel"]).all(axis=1)
        return finite & (self.z_range[0] <= z) & (z <= self.z_range[1])

    def costs(self, s, a):
        return self.ctrl_w * np.square(a).sum(axis=1), self.contact_w * np.square(self._forces(s)).sum(axis=(1, 2))

    def observe(self, s):
        parts = [self.position(s), s["qvel"]]
        if self.include_cfrc:
            parts.append(self._forces(s)[:, 1:].reshape(len(s["qpos"]), -1))
        return np.concatenate(parts, axis=1)


HUMANOID_FIELDS = ("qpos", "qvel", "cinert", "cvel", "qfrc_actuator", "cfrc_ext", "ten_length", "ten_velocity", "ctrl")


def humanoid_observation(env: Any) -> Any:
    """Humanoid(Standup)'s _get_obs for a batch, with the instance's include/exclude options."""
    skip = bool(env._exclude_current_positions_from_observation)
    flags = (("cinert", env._include_cinert_in_observation), ("cvel", env._include_cvel_in_observation),
             ("qfrc_actuator", env._include_qfrc_actuator_in_observation),
             ("cfrc_ext", env._include_cfrc_ext_in_observation))
    parts = [name for name, flag in flags if flag is True]

    def observe(s: Info) -> np.ndarray:
        n = len(s["qpos"])
        out = [s["qpos"][:, 2:] if skip else s["qpos"], s["qvel"]]
        for name in parts:
            v = s[name][:, 6:] if name == "qfrc_actuator" else s[name][:, 1:]
            out.append(v.reshape(n, -1))
        return np.concatenate(out, axis=1)
    return observe


def _tendons(s: Info) -> Info:
    return {"tendon_length": s["ten_length"].copy(), "tendon_velocity": s["ten_velocity"].copy()}


class HumanoidTask(HealthyXYTask):
    fields = HUMANOID_FIELDS + ("xipos",)

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.mass = np.array(env.model.body_mass)
        self.contact_range = env._contact_cost_range
        self.observe = humanoid_observation(env)

    def xy(self, s):
        return (np.einsum("b,nbj->nj", self.mass, s["xipos"]) / self.mass.sum())[:, 0:2]

    def healthy(self, s):
        z = s["qpos"][:, 2]
        return (self.z_range[0] < z) & (z < self.z_range[1])

    def costs(self, s, a):
        contact = np.clip(self.contact_w * np.square(s["cfrc_ext"]).sum(axis=(1, 2)), *self.contact_range)
        return self.ctrl_w * np.square(s["ctrl"]).sum(axis=1), contact

    def step(self, s, before, a):
        obs, reward, terminated, info = super().step(s, before, a)
        return obs, reward, terminated, {**info, **_tendons(s)}


class HumanoidStandupTask(Task):
    fields = HUMANOID_FIELDS
    post_constraint = True

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.timestep = float(env.model.opt.timestep)
        self.ctrl_w, self.impact_w = float(env._ctrl_cost_weight), float(env._impact_cost_weight)
        self.impact_range = env._impact_cost_range
        self.init_z = float(env.init_qpos[2])
        self.observe = humanoid_observation(env)

    def step(self, s, before, a):
        qpos = s["qpos"]
        uph = (qpos[:, 2] - 0) / self.timestep
        ctrl_cost = self.ctrl_w * np.square(s["ctrl"]).sum(axis=1)
        impact = np.clip(self.impact_w * np.square(s["cfrc_ext"]).sum(axis=(1, 2)), *self.impact_range)
        reward = uph - ctrl_cost - impact + 1
        info: Info = {"x_position": qpos[:, 0].copy(), "y_position": qpos[:, 1].copy(),
                      "z_distance_from_origin": qpos[:, 2] - self.init_z, **_tendons(s),
                      "reward_linup": uph, "reward_quadctrl": -ctrl_cost, "reward_impact": -impact}
        return self.observe(s), reward, np.zeros(len(qpos), dtype=bool), info


class InvertedPendulumTask(Task):
    def step(self, s, before, a):
        obs = np.concatenate((s["qpos"], s["qvel"]), axis=1)
        terminated = ~np.isfinite(obs).all(axis=1) | (np.abs(obs[:, 1]) > 0.2)
        survive = (~terminated).astype(np.int64)
        return obs, survive.astype(np.float64), terminated, {"reward_survive": survive}


class InvertedDoublePendulumTask(Task):
    fields = ("qpos", "qvel", "qfrc_constraint", "site_xpos")

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.healthy_reward = float(env._healthy_reward)

    def step(self, s, before, a):
        qpos, qvel = s["qpos"], s["qvel"]
        x, y = s["site_xpos"][:, 0, 0], s["site_xpos"][:, 0, 2]
        obs = np.concatenate((qpos[:, :1], np.sin(qpos[:, 1:]), np.cos(qpos[:, 1:]), np.clip(qvel, -10, 10),
                              np.clip(s["qfrc_constraint"], -10, 10)[:, :1]), axis=1)
        terminated = y <= 1
        v1, v2 = qvel[:, 1], qvel[:, 2]
        dist_penalty = 0.01 * x**2 + (y - 2) ** 2
        vel_penalty = 1e-3 * v1**2 + 5e-3 * v2**2
        alive = self.healthy_reward * (~terminated).astype(np.int64)
        reward = alive - dist_penalty - vel_penalty
        return obs, reward, terminated, {"reward_survive": alive, "distance_penalty": -dist_penalty,
                                         "velocity_penalty": -vel_penalty}


class ArmTask(Task):
    """Reacher, Pusher: rewards from distances between bodies (``get_body_com`` reads ``xpos``)."""

    fields = ("qpos", "qvel", "xpos")
    bodies: tuple[str, ...] = ()

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.ids = [int(env.data.body(b).id) for b in self.bodies]
        self.ctrl_w, self.dist_w = float(env._reward_control_weight), float(env._reward_dist_weight)

    def body(self, s: Info, k: int) -> np.ndarray:
        return s["xpos"][:, self.ids[k]]

    def ctrl(self, a: np.ndarray) -> np.ndarray:
        return -np.square(a).sum(axis=1) * self.ctrl_w


class ReacherTask(ArmTask):
    bodies = ("fingertip", "target")

    def step(self, s, before, a):
        qpos, qvel = s["qpos"], s["qvel"]
        vec = self.body(s, 0) - self.body(s, 1)
        reward_dist = -np.linalg.norm(vec, axis=1) * self.dist_w
        reward_ctrl = self.ctrl(a)
        obs = np.concatenate((np.cos(qpos[:, :2]), np.sin(qpos[:, :2]), qpos[:, 2:], qvel[:, :2], vec[:, :2]), axis=1)
        return (obs, reward_dist + reward_ctrl, np.zeros(len(qpos), dtype=bool),
                {"reward_dist": reward_dist, "reward_ctrl": reward_ctrl})


class PusherTask(ArmTask):
    bodies = ("tips_arm", "object", "goal")

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.near_w = float(env._reward_near_weight)

    def step(self, s, before, a):
        tips, obj, goal = self.body(s, 0), self.body(s, 1), self.body(s, 2)
        reward_near = -np.linalg.norm(obj - tips, axis=1) * self.near_w
        reward_dist = -np.linalg.norm(obj - goal, axis=1) * self.dist_w
        reward_ctrl = self.ctrl(a)
        obs = np.concatenate((s["qpos"][:, :7], s["qvel"][:, :7], tips, obj, goal), axis=1)
        return (obs, reward_dist + reward_ctrl + reward_near, np.zeros(len(obs), dtype=bool),
                {"reward_dist": reward_dist, "reward_ctrl": reward_ctrl, "reward_near": reward_near})


TASKS = {
    "Hopper-v5": lambda e: PlanarTask(e, "hopper", True),
    "Walker2d-v5": lambda e: PlanarTask(e, "walker", True),
    "HalfCheetah-v5": lambda e: PlanarTask(e, None, False),
    "Swimmer-v5": XYTask,
    "Ant-v5": AntTask,
    "Humanoid-v5": HumanoidTask,
    "HumanoidStandup-v5": HumanoidStandupTask,
    "InvertedPendulum-v5": InvertedPendulumTask,
    "InvertedDoublePendulum-v5": InvertedDoublePendulumTask,
    "Reacher-v5": ReacherTask,
    "Pusher-v5": PusherTask,
}
SUPPORTED = MUJOCO_V5_IDS
"""The ids with a native vector env: all of Gymnasium's MuJoCo v5 family (the keys of TASKS)."""
