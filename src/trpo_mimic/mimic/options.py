"""Every option of the DeepMimic task, declared once (:class:`.options.Option`).

From this table alone come the run configuration's fields (so the CLI flags, arg-file and YAML keys), the
keywords of ``gymnasium.make("DeepMimic-v0", ...)`` and of the vector env, the fields of :class:`.core.TaskOptions`
with their defaults, casts and validation, what evaluation switches off (``training_only``), what ``evaluate`` may
override (``eval_override``), the environment's docstring and the rules table of ``docs/deepmimic.md``. A new
episode rule is one entry here and its use in the core."""
from __future__ import annotations

from typing import Any

from ..options import ARG, EVAL, EXTRAS, POSITIVE, NON_NEGATIVE, TRAIN, UNIT, Option, Range

PD_CLAMPS = ("split", "total")
"""How the PD torque meets the joint's torque limit (``pd_clamp``): ``split`` clamps the P part (the position
actuator's force range) and adds the D part (the joint's damping) unclamped; ``total`` clamps P + D together, as
DeepMimic does (see :class:`.physics.MujocoPhysics`), the default since 2026-12-02; runs saved before without the
key were trained under ``split`` (:meth:`.task.DeepMimicTask.upgrade_config`)."""
PHYSICS_BACKENDS = {"mujoco": "physics:MujocoPhysics", "warp": "warp_physics:WarpPhysics"}
"""Physics backends by name, each ``module:class`` of this package (imported only when chosen): native MuJoCo on
the CPU (:class:`.physics.MujocoPhysics`) or MuJoCo Warp (:class:`.warp_physics.WarpPhysics`, the ``gpu`` extra;
on a GPU when one is present). A new backend is one module with ``MujocoPhysics``'s surface and one entry here."""
PHYSICS = tuple(PHYSICS_BACKENDS)
REFERENCE_VIEWS = ("overlay", "side", "off")
SCENES = ("imitate", "amp", "heading", "target", "strike")
"""``imitate``: DeepMimic's clip tracking; the others are DeepMimic's AMP scenes (:mod:`.scene`)."""


def _interval(v: Any) -> str | None:
    return None if v[0] <= v[1] else f"switch_interval must be two seconds 0 < low <= high, got {v!r}"


def _speeds(v: Any) -> str | None:
    return None if v[0] <= v[1] else f"heading_speeds must be two speeds 0 < low <= high (m/s), got {v!r}"


OPTIONS = (
    Option("motion_file", str, None, "DeepMimic motion clip(s): a path, builtin:NAME, several paths (one sampled per "
           "episode) or a motion-set JSON with a weight per clip.", kind=ARG, nargs="+", eval_override=True),
    Option("character_file", str, None, "DeepMimic character file (e.g. dog3d.txt; a bare name is searched for like "
           "a clip), compiled to MuJoCo in memory; default: the humanoid.", kind=ARG),
    Option("controller_file", str, None, "Its PD controller file (default: the one <stem>_*ctrl*.txt beside it).",
           kind=ARG),
    Option("clip_id_obs", bool, False, "DeepMimic with several clips: append a one-hot clip identifier to the "
           "observation, so one policy can hold several skills.", config_default=False),
    Option("motion_dir", str, None, "Directory searched for DeepMimic shortcut clips.", kind=ARG, eval_override=True),
    Option("obs_mode", str, "deepmimic", "DeepMimic observation mode (deepmimic or compact).",
           choices=("deepmimic", "compact")),
    Option("action_mode", str, "absolute", "DeepMimic action: absolute (PD target on the joint range, the default) "
           "or residual (reference pose + correction).", choices=("absolute", "residual")),
    Option("residual_scale", float, 0.25, "DeepMimic residual actions: fraction of each joint's half range "
           "(default 0.25).", range=POSITIVE),
    Option("pd_feedforward", bool, False, "DeepMimic residual actions: the PD controllers also track the clip's "
           "joint rates (kd (dq_ref - dq) instead of -kd dq).", needs=("action_mode", "residual")),
    Option("pd_clamp", str, "total", "DeepMimic: how the PD torque meets the joint's torque limit: total (P + D "
           "clamped together, as DeepMimic; the default) or split (the P part clamped, the damping on top). A run's "
           "config records it; one saved without it (before 2026-12-02) was trained, and evaluates, under split.",
           choices=PD_CLAMPS),
    Option("physics", str, "mujoco", "DeepMimic: the physics backend: mujoco (native MuJoCo, CPU threads; the "
           "default) or warp (MuJoCo Warp, all characters stepped at once on a GPU when one is present, else on "
           "Warp's CPU device; needs the gpu extra: pip install 'trpo-mimic[gpu]').", kind=ARG, choices=PHYSICS),
    Option("ref_obs", bool, False, "DeepMimic: append where the reference root is, seen from the character (its "
           "position in the heading frame and the heading error), so drift from the clip is observable.",
           needs=("obs_mode", "deepmimic")),
    Option("max_root_drift", float, None, "DeepMimic: end an episode (terminated) when the root is farther than "
           "this many metres from the reference root, horizontally (default: never). Training only: evaluation ends "
           "an episode only when the character falls.", range=POSITIVE, training_only=True),
    Option("early_termination", bool, True, "DeepMimic: end an episode when a fall-contact body touches the ground "
           "(DeepMimic's enable_char_contact_fall; default on). --no-early_termination: contact never ends it (roll, "
           "getups)."),
    Option("fall_contact_bodies", str, None, "DeepMimic: the bodies whose ground contact ends an episode, by name "
           "(root chest neck right_hip right_knee right_ankle right_shoulder right_elbow right_wrist and the left_ "
           "ones; default: all but the feet, i.e. the ankles).", nargs="+"),
    Option("root_rot_fail", bool, False, "DeepMimic: end an episode when the root's rotation is more than pi/2 from "
           "the reference's (DeepMimic's enable_root_rot_fail; default off)."),
    Option("pose_termination", float, None, "DeepMimic: end a training episode when the mean body-position error "
           "from the reference passes this many metres (default: never; newer trackers use 1.0). Training only.",
           range=POSITIVE, training_only=True),
    Option("fail_weighted_rsi", float, 0.0, "DeepMimic: failure-weighted start times, the share of a training "
           "episode's starts drawn in proportion to the failure rate of episodes started in the same twentieth of "
           "the clip (as PHC and ProtoMotions weight their motions by failure); the rest uniform (default 0: all "
           "uniform). Training only.", range=Range(0, 1, high_open=True), training_only=True),
    Option("reset_noise", float, 0.0, "DeepMimic: each training episode's start state gets noise uniform in "
           "[-c, c] on every hinge's angle (rad) and velocity (rad/s) (Gymnasium's MuJoCo reset_noise_scale "
           "convention), so the policy also learns from states near the clip's (default 0: none). Training only.",
           range=NON_NEGATIVE, training_only=True),
    Option("ground_snap", float, 0.0, "DeepMimic: a start state (reference state initialisation) whose lowest "
           "point hovers less than this many metres above the floor is lowered onto it, so that a clip whose feet "
           "float where they push (the jump's take-off: 3-4 cm) starts the character on the ground (default 0: as "
           "the clip is; a start in the floor is always lifted out). In training and evaluation (evaluate may set it).",
           range=NON_NEGATIVE, eval_override=True),
    Option("switch_interval", float, None, "DeepMimic with several clips: LOW HIGH seconds: each episode switches to "
           "another clip (drawn by weight) after a time drawn uniformly in [LOW, HIGH], again and again, continuing "
           "from the new clip's nearest pose, so that a --clip_id_obs policy learns the transitions (default: "
           "never). In training and evaluation.", nargs=2, range=POSITIVE, check=_interval),
    Option("switch_blend", float, 0.0, "DeepMimic clip switches: for about this many seconds after a switch the "
           "reference fades from the old clip (going on along its own path, in step with the new) into the new one, "
           "pose, velocities and PD targets alike, so that a change of gait asks for a transition a character can "
           "make (default 0: the new clip at once). In training and evaluation.", range=NON_NEGATIVE),
    Option("sync_root", bool, True, "DeepMimic: at each new cycle of a looping clip, move the reward's reference "
           "root onto the character's (DeepMimic's sync_char_root_pos; default on). The body-position error and the "
           "terminations keep the clip's own path."),
    Option("scene", str, "imitate", "DeepMimic scene: imitate (track one clip at a time with DeepMimic's reward) or "
           "one of DeepMimic's AMP scenes on a motion set, which track no clip (no phase in the observation, no pose "
           "termination, episodes end on a fall or at the time limit): amp (imitation by adversarial motion priors "
           "alone: the env's reward is 0, --amp pays the style), heading (move along a heading at a speed, both "
           "changing), target (walk to a target location) or strike (hit a target with the right hand). The goal "
           "enters the observation in the character's heading frame; the env's reward is the goal's task reward.",
           choices=SCENES),
    Option("heading_speeds", float, None, "DeepMimic heading scene: LOW HIGH, the speeds asked (m/s), drawn uniformly "
           "(default: the slowest and the fastest clip of the motion set).", nargs=2, range=POSITIVE, check=_speeds),
    # training extensions (read by the task's training, no environment keyword)
    Option("amp", bool, False, "DeepMimic: train with adversarial motion priors (Peng et al. 2021, as DeepMimic's "
           "release): a discriminator learns the motion set's transitions and its style reward replaces the env's "
           "reward or is mixed with a scene's task reward (--amp_task_lerp). Its state is saved in every checkpoint.",
           kind=TRAIN, group="algorithm", config_default=False),
    Option("amp_task_lerp", float, None, "--amp: the task reward's share: reward = (1 - share) 2 r_style + share "
           "r_task (default: 0.5 in a goal scene, as the release; 0 otherwise: the style alone).", kind=TRAIN,
           group="algorithm", range=UNIT),
    Option("amp_lr", float, 1e-4, "--amp: the discriminator's Adam learning rate (the release: SGD at 1e-5 over "
           "100-300M samples).", kind=TRAIN, group="algorithm", range=POSITIVE),
    Option("amp_hidden", int, None, "--amp: the discriminator's hidden layer sizes (ReLU; default 1024 512, as the "
           "release).", kind=TRAIN, group="algorithm", nargs="+", range=POSITIVE),
    Option("amp_buffer_size", int, 100_000, "--amp: transitions of the policy kept for the discriminator (the "
           "release: 1e5; saved in checkpoints: 266 values each, about 1 KB).", kind=TRAIN, group="algorithm",
           range=POSITIVE),
    # evaluation extras (read by the task's evaluation, no environment keyword)
    Option("push", float, 0.0, "DeepMimic evaluation: push the chest with this force (N), 0.2 s at a time, in a "
           "random horizontal direction, every 1.5-2.5 s (the first at 0.5-2 s); 0: no pushes.", kind=EVAL,
           group="evaluation", config_default=0.0, range=NON_NEGATIVE, must="a non-negative force in newtons"),
    Option("push_sweep", bool, False, "DeepMimic evaluation: find the largest push (N) the policy survives in at "
           "least 9 of 10 episodes (doubling from 50 N, then bisecting to within 5 percent).", kind=EVAL,
           group="evaluation", config_default=False),
    Option("clip_sequence", str, None, "DeepMimic evaluation with several clips: each episode imitates these clips in "
           "turn (names, e.g. walk run walk), --switch_seconds each; reports per clip and the falls at the switches.",
           kind=EVAL, group="evaluation", nargs="+", eval_override=True),
    Option("switch_seconds", float, 3.0, "Seconds of each clip of --clip_sequence.", kind=EVAL, group="evaluation",
           config_default=3.0, range=POSITIVE, eval_override=True),
    Option("commands", str, None, "DeepMimic evaluation of a goal scene: a file of scripted goals, each line 'TIME "
           "GOAL VALUES' (e.g. '0 heading 0 1.5', '4 heading 1.57 3', '0 target 3 4', '0 strike 1 0 1.3'); from each "
           "command on the goal holds.", kind=EVAL, group="evaluation", eval_override=True),
    Option("reference", str, "overlay", "DeepMimic videos: the reference drawn as a translucent ghost over the "
           "character (overlay), 1 m beside it (side), or not at all (off); frames with a ghost also show the step's "
           "reward and body-position error.", kind=EVAL, group="evaluation", config_default="overlay",
           choices=REFERENCE_VIEWS, eval_override=True),
)
OPTION = {o.name: o for o in OPTIONS}
CORE_OPTIONS = tuple(o for o in OPTIONS if o.kind == "env")
"""The fields of :class:`.core.TaskOptions` (how the task is posed); the others are the environment's files and
backend (``arg``) or evaluation's extras (``eval``)."""

MODES = ("train", "eval")
TABLE_BEGIN, TABLE_END = "<!-- options: begin -->", "<!-- options: end -->"
"""The lines around :func:`options_markdown` in ``docs/deepmimic.md`` (``tests/test_task_options.py`` keeps it
the same as this file's table)."""


def skills_setting(opt: Option) -> str:
    """The skill files (``configs/skills/<skill>.txt``) that set the option, by name."""
    import shlex

    from ..presets import PRESET_DIR
    names = []
    for path in sorted((PRESET_DIR / "skills").glob("*.txt")):
        words = [w.split("=", 1)[0] for line in path.read_text().splitlines()
                 for w in shlex.split(line.split("#", 1)[0])]
        if f"--{opt.name}" in words or f"--no-{opt.name}" in words:
            names.append(path.stem)
    return ", ".join(names)


def options_markdown() -> str:
    """The documentation's table of the environment's options (flags and ``gymnasium.make`` keywords)."""
    from ..options import options_table
    return options_table([o for o in OPTIONS if o.kind not in EXTRAS], skills_setting)


def options_doc(indent: str = "        ") -> str:
    """The environment keywords of :data:`OPTIONS` for a docstring: name, default, help."""
    import textwrap
    lines = [f"{indent}Task options (:data:`trpo_mimic.mimic.options.OPTIONS`; ``--<name>`` on the command line):"]
    for o in OPTIONS:
        if o.kind in EXTRAS:
            continue
        text = f"{o.name} (default {o.default!r}{', training only' if o.training_only else ''}): {o.help}"
        lines += textwrap.wrap(text, 110, initial_indent=indent, subsequent_indent=indent + "    ")
    return "\n".join(lines) + "\n"


def _task_options_class() -> type:
    """:class:`TaskOptions`, its fields and defaults those of :data:`CORE_OPTIONS`, plus ``mode``."""
    from dataclasses import field, make_dataclass
    fields = [(o.name, Any, field(default=o.default)) for o in CORE_OPTIONS] + [("mode", str, field(default="train"))]

    def __post_init__(self) -> None:
        from ..options import validated
        values = validated(CORE_OPTIONS, {o.name: getattr(self, o.name) for o in CORE_OPTIONS})
        for k, v in values.items():
            object.__setattr__(self, k, v)
        if self.mode not in MODES:
            raise ValueError(f"mode must be 'train' or 'eval', got {self.mode!r}")

    def in_force(self, name: str) -> Any:
        """The option's value in this mode: a training-only option is off (its default) in evaluation."""
        return OPTION[name].in_force(getattr(self, name), self.mode)

    cls = make_dataclass("TaskOptions", fields, frozen=True, namespace={
        "__post_init__": __post_init__, "in_force": in_force,
        "__doc__": "How the task is posed: one field per option of :data:`CORE_OPTIONS` (declared there, with its "
                   "default, cast and check), and ``mode`` (``\"train\"`` or ``\"eval\"``: evaluation switches the "
                   "training-only options off, :meth:`in_force`)."})
    cls.__module__ = __name__
    return cls


TaskOptions = _task_options_class()
