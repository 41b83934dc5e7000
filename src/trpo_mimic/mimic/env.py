"""DeepMimic-style humanoid imitation environment on MuJoCo.

The policy acts at 30 Hz; each action is a PD target per hinge (28), normalised to
[-1, 1] and mapped onto the joint's range, and MuJoCo position actuators track it.
Episodes start at a uniformly random time of the clip with the reference pose and
velocity copied into the simulation (reference state initialisation), end with
``terminated=True`` when a fall-contact body (by default every body but the feet)
touches the ground, on the optional root-rotation failure and pose termination, or
when the simulation goes unstable, and are truncated by the ``TimeLimit`` set at
registration (or at the end of a clip that plays once).

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

(steps/s there are from before the hot loop was optimised.  This env is the N = 1 case of
``core.DeepMimicCore``; ``vector.DeepMimicVectorEnv`` steps N humanoids with the same code,
physics in worker threads; see ``benchmarks/deepmimic/PROFILE.md``.)  120 Hz blows up under random actions (the light feet with
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

from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces

from .options import REFERENCE_VIEWS, options_doc
from .core import CONTROL_HZ, INFO_KEYS, make_core, step_info

__all__ = ["DeepMimicEnv", "CONTROL_HZ", "INFO_KEYS", "REFERENCE_VIEWS"]


class DeepMimicEnv(gym.Env):
    """Imitate a motion clip with the project's MuJoCo humanoid (see module docstring)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": CONTROL_HZ}

    def __init__(self, motion_file=None, render_mode: str | None = None, width: int = 640, height: int = 480,
                 render_reference: str = "overlay", **task_kwargs):
        """Build the environment.

        motion_file: clip path or ``builtin:<name>``; if None, ``clip_name`` (set by the
        shortcut ids) is searched for in ``motion_dir``, ``$TRPO_MIMIC_MOTION_DIR`` and
        the package's data.  obs_mode: ``"deepmimic"`` or ``"compact"``.  sim_hz /
        frame_skip: simulation rate or substeps per 30 Hz action (give at most one).
        reward_weights: :class:`.reward.RewardWeights` or a dict of its fields.

        mode: ``"train"`` or ``"eval"`` (evaluation ends an episode only on a fall, a root-rotation
            failure, an unstable simulation or the end of the clip: the training-only options are off).
        cycle_heading: a looping clip also turns by its per-cycle heading change.
        physics_options: keyword arguments of the physics backend's class beyond the model (for ``"warp"``:
            ``device``, ``nconmax``, ``njmax``, ``graph``; see :class:`.warp_physics.WarpPhysics`).
        A clip that plays once (``"Loop": "none"``) ends its episode at the clip's end (truncated).
        The task's options (the episode rules among them; ``configs/skills/<skill>.txt`` sets those per clip) are
        keywords too, each declared once in :data:`trpo_mimic.mimic.options.OPTIONS` and listed at the end.
        Several clips: ``motion_file`` may be a list of clips, or a motion-set JSON
        ``{"Motions": [{"File": path, "Weight": w}, ...]}`` (paths relative to the JSON);
        each episode samples a clip by weight (``options["clip"]`` picks one), ``info["clip"]``
        says which, and ``clip_id_obs`` appends a one-hot clip identifier to the observation.

        render_reference: what ``render`` draws of the reference: ``"overlay"`` (a translucent orange
        ghost of the clip's pose at the same time, on the clip's own path, over the character), ``"side"``
        (the ghost 1 m to the character's left) or ``"off"``; frames with a ghost also carry the
        clip time, the step's reward and the body-position error.

        Step info: the reward terms ``reward_<term>``, the mean body-position errors in metres
        ``error_body_pos`` (global) and ``error_body_pos_local`` (relative to the root position),
        ``time``, ``sim_unstable`` (and ``clip`` with several clips).

        """
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if render_reference not in REFERENCE_VIEWS:
            raise ValueError(f"render_reference must be one of {', '.join(REFERENCE_VIEWS)}, got {render_reference!r}")
        self.core = core = make_core(1, motion_file=motion_file, nthread=1, **task_kwargs)
        self.options, self.clips, self.model, self.index = core.options, core.clips, core.model, core.index
        self.reward_weights, self.frame_skip, self.control_dt = core.reward_weights, core.frame_skip, core.control_dt
        self.sim_hz = CONTROL_HZ * self.frame_skip
        self.render_mode = render_mode
        self._width, self._height = width, height
        self._renderer = None
        self.render_reference = render_reference
        self._last_step: tuple[float, float] | None = None  # (reward, body-position error) of the last step
        self.action_space = spaces.Box(-1.0, 1.0, shape=(self.model.nu,), dtype=np.float32)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(core.obs_dim,), dtype=np.float64)
        self.observation_parts = tuple(core.obs_parts)  # ((name, size), ...) in order: see warm_start.remap

    __init__.__doc__ += options_doc()

    @property
    def data(self) -> mujoco.MjData:
        """The simulation's MjData (with ``physics="warp"``, a copy on the host: see ``WarpPhysics.host_data``)."""
        return self.core.physics.host_data(0)

    @property
    def time(self) -> float:
        """The episode's clip time (s)."""
        return float(self.core.t[0])

    @property
    def clip_index(self) -> int:
        """Which of ``clips`` this episode imitates."""
        return int(self.core.clip_id[0])

    @property
    def clip(self):
        """The clip this episode imitates."""
        return self.clips[self.clip_index]

    def observation(self) -> np.ndarray:
        """The observation of the simulation's current state (after the caller changed ``data``, say)."""
        core = self.core
        t, ids = core.t[:1], core.clip_id[:1]
        obs = core.observe(core.state([0]), t, ids, core.reference(t, ids, [0]))
        if core.scene is not None:  # no phase; the goal as it is now
            core.scene.fill_observation(obs, core.scene.kinematics(core.physics.state), np.array([0]))
        return obs[0]

    def reference_qpos(self) -> np.ndarray:
        """The reference pose (nq,) now, where the rewards and errors measure it."""
        return self.core.reference_qpos(0)

    def switch_clip(self, clip: int | str) -> float:
        """Imitate another of ``clips`` (index or name) from now on, continuing the episode: the new clip starts at
        its pose nearest the current reference's, moved onto the current reference's root and heading
        (:meth:`.core.DeepMimicCore.switch`). Returns the new clip time."""
        return self.core.switch(0, self.clip_index_of(clip))

    def clip_index_of(self, clip: int | str) -> int:
        """The index in ``clips`` of a clip given by index, file name (``humanoid3d_run.txt``), stem, or the
        unique stem ending in ``_<name>`` (``run``)."""
        names = [c.name for c in self.clips]
        if isinstance(clip, int) or (isinstance(clip, str) and clip.isdigit()):
            if not 0 <= int(clip) < len(names):
                raise ValueError(f"clip {clip} out of range: this environment has {len(names)} clips")
            return int(clip)
        stems = [n.rsplit(".", 1)[0] if n.endswith(".txt") else n for n in names]
        for candidates in ([i for i, n in enumerate(names) if n == clip], [i for i, s in enumerate(stems) if s == clip],
                           [i for i, s in enumerate(stems) if s.endswith("_" + clip)]):
            if len(candidates) == 1:
                return candidates[0]
        raise ValueError(f"no single clip named {clip!r} among this environment's clips ({', '.join(names)})")

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reference state initialisation at a uniformly random time (``options['time']`` to fix it,
        ``options['clip']`` to pick the clip)."""
        super().reset(seed=seed)
        options = options or {}
        self.core.rngs[0] = self.np_random
        obs, info = self.core.reset([0], times=[options.get("time")], clips=[options.get("clip")])
        self._last_step = None
        return obs[0], _row(info, 0)

    def step(self, action):
        """Apply a PD target per hinge for one 30 Hz step."""
        r = self.core.step(np.asarray(action, dtype=np.float64)[None])
        info: dict[str, Any] = _row(step_info(r.terms, r.errors), 0)
        info["time"] = float(r.time[0])
        if len(self.clips) > 1:
            info["clip"] = int(r.clip[0])
        info["sim_unstable"] = bool(r.unstable[0])
        for k, v in r.extra.items():  # a scene's: the task reward and its terms, the AMP observation
            info[k] = v[0] if v.ndim > 1 else float(v[0])
        self._last_step = (float(r.reward[0]), float(info["error_body_pos"]))
        if r.unstable[0]:
            info["phase"] = float(self.core.phase(r.time, r.clip)[0])
        return r.obs[0], float(r.reward[0]), bool(r.terminated[0]), bool(r.truncated[0]), info

    def render(self):
        """RGB frame (height, width, 3) from a camera tracking the root, with the reference drawn as
        ``render_reference`` says."""
        if self.render_mode != "rgb_array":
            return None
        from .render import FrameDrawer
        if self._renderer is None:
            self._renderer = FrameDrawer(self.model, self.index.root_body, self._width, self._height)
        scene = self.core.scene
        if scene is not None:  # no clip tracked: the goal drawn, the task reward in the caption
            kin = scene.kinematics(self.core.physics.state)
            text = f"t {self.time:5.2f} s" + (f"   task reward {self._last_step[0]:.3f}" if self._last_step else "")
            return self._renderer.draw(self.data, caption=text, markers=scene.goal.markers(0, kin))
        if self.render_reference == "off":
            return self._renderer.draw(self.data)
        text = f"t {self.time:5.2f} s"
        if self._last_step is not None:
            text += f"   reward {self._last_step[0]:.3f}   body error {self._last_step[1]:.3f} m"
        return self._renderer.draw(self.data, ghost_qpos=self.reference_qpos(),
                                   side=self.render_reference == "side", caption=text)

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        self.core.close()


def _row(info: dict, i: int) -> dict[str, Any]:
    """Row i of a dict of arrays, as Python scalars."""
    return {k: v[i].item() for k, v in info.items()}
