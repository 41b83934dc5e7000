"""The MJCF writer (mimic/charmjcf.py) against a second construction of the same model with
``mujoco.MjSpec``: every field of the compiled models is equal, for the humanoid (with and without its
controller), the dog and a test character that takes every branch of the writer (each shape, a rotated
body and geom, a fixed joint, an unlimited axis, TorqueLim 0 and absent, Kp 0, several colours).

The oracle builds the model element by element from the written conventions (module docstring of
charmjcf), sharing only the rest-pose geometry (chargeom) and the XML's 12-digit numbers with the writer.
Why the writer is not MjSpec itself: the MJCF text is a product (build-character's file, the shipped
assets/humanoid3d.xml, SimCharacter's source), and ``MjSpec.to_xml`` writes 6 significant digits, so its
file would not compile to the model built in memory (measured: the dog's ctrlrange off by 2.7e-6).
"""

from __future__ import annotations

import copy
import json

import mujoco
import numpy as np
import pytest

from deepmimic_util import motions_dir
from trpo_mimic.mimic.charfile import load_character
from trpo_mimic.mimic.chargeom import Geom, body_frames, default_root_height, default_sole_sites, euler_quat
from trpo_mimic.mimic.charmjcf import UNLIMITED_CTRL, build_model
from trpo_mimic.mimic.quat import yup_to_zup_vec

E = mujoco
SHAPE = {"sphere": E.mjtGeom.mjGEOM_SPHERE, "capsule": E.mjtGeom.mjGEOM_CAPSULE,
         "cylinder": E.mjtGeom.mjGEOM_CYLINDER, "box": E.mjtGeom.mjGEOM_BOX}
AXES = {"spherical": ((1, 0, 0), (0, 0, 1), (0, -1, 0)), "revolute": ((0, -1, 0),)}


def r12(xs) -> list[float]:
    """Numbers as the XML holds them: 12 significant digits, dust below 1e-12 zero."""
    return [0.0 if abs(x) < 1e-12 else float(f"{float(x):.12g}") for x in np.ravel(xs)]


def _assets_and_defaults(s: mujoco.MjSpec, colours: list) -> None:
    s.add_texture(name="grid", type=E.mjtTexture.mjTEXTURE_2D, builtin=E.mjtBuiltin.mjBUILTIN_CHECKER,
                  width=256, height=256, rgb1=[0.82, 0.84, 0.86], rgb2=[0.62, 0.65, 0.68])
    grid = s.add_material(name="grid", texrepeat=[1, 1], texuniform=True)
    grid.textures[E.mjtTextureRole.mjTEXROLE_RGB] = "grid"
    for k, col in enumerate(colours):
        s.add_material(name="body" if k == 0 else f"body{k}", rgba=r12(col))
    s.add_texture(name="sky", type=E.mjtTexture.mjTEXTURE_SKYBOX, builtin=E.mjtBuiltin.mjBUILTIN_GRADIENT,
                  rgb1=[0.55, 0.7, 0.9], rgb2=[0.95, 0.95, 1], width=256, height=256)
    d = s.default
    d.joint.type, d.joint.armature, d.joint.limited = E.mjtJoint.mjJNT_HINGE, 0.01, E.mjtLimited.mjLIMITED_FALSE
    d.geom.material, d.geom.contype, d.geom.conaffinity, d.geom.condim = "body", 2, 1, 3
    d.geom.friction = [0.9, 0.005, 0.0001]
    d.site.size, d.site.rgba, d.site.group = [0.02, *d.site.size[1:]], [1, 0.2, 0.2, 1], 3
    d.actuator.ctrllimited = d.actuator.forcelimited = E.mjtLimited.mjLIMITED_TRUE
    d.actuator.set_to_position(kp=1.0)


def spec_model(c) -> mujoco.MjModel:
    """The character built with MjSpec (the writer's defaults: timestep, root height, soles)."""
    soles, (_, rest_rot) = default_sole_sites(c), body_frames(c)
    s = mujoco.MjSpec()
    s.modelname, s.compiler.degree, s.compiler.autolimits, s.memory = c.name, False, True, 2 << 20
    s.option.timestep, s.option.integrator = 1 / 240, E.mjtIntegrator.mjINT_IMPLICITFAST
    s.option.iterations, s.option.ls_iterations = 20, 10
    s.visual.global_.offwidth, s.visual.global_.offheight, s.visual.quality.shadowsize = 1280, 960, 2048
    colours = list(dict.fromkeys(b.colour for b in c.bodies))
    _assets_and_defaults(s, colours)
    s.worldbody.add_geom(name="floor", type=E.mjtGeom.mjGEOM_PLANE, size=[0, 0, 0.1], material="grid",
                         contype=1, conaffinity=2)
    bodies, actuators = {-1: s.worldbody}, []
    for jid in c.tree_order():
        j, g = c.joints[jid], Geom(c.bodies[jid])
        if j.parent < 0:
            el = s.worldbody.add_body(name=j.name, pos=[0, 0, default_root_height(c)])
            el.add_light(name="sun", mode=E.mjtCamLight.mjCAMLIGHT_TRACK, type=E.mjtLightType.mjLIGHT_DIRECTIONAL,
                         pos=[0, 0, 4], dir=[0, 0, -1], diffuse=[0.8, 0.8, 0.8], castshadow=True)
            el.add_freejoint(name=j.name)
        else:
            el = bodies[j.parent].add_body(name=j.name, pos=r12(yup_to_zup_vec(np.array(j.attach_pos))),
                                           quat=r12(euler_quat(j.attach_theta)))
        bodies[jid] = el
        for i, (hinge, axis) in enumerate(zip(j.hinge_names, AXES.get(j.type, ()))):
            rng = j.axis_range(i)
            h = el.add_joint(name=hinge, axis=axis, range=r12(rng) if rng else [0, 0])
            if c.kd is not None and c.kd[jid] > 0 and j.torque_lim != 0:
                h.damping = [c.kd[jid], *h.damping[1:]]
            if c.actuated(jid):
                actuators.append((hinge, c.kp[jid], rng or (-UNLIMITED_CTRL, UNLIMITED_CTRL), j.torque_lim))
        geom = el.add_geom(name=g.body.name, type=SHAPE[g.body.shape], mass=g.body.mass,
                           material="body" if g.body.colour == colours[0] else f"body{colours.index(g.body.colour)}")
        if g.body.shape in ("capsule", "cylinder"):
            geom.size, geom.fromto = [r12(g.size)[0], 0, 0], r12(g.fromto())
        else:
            geom.size = r12(list(g.size) + [0] * (3 - len(g.size)))
            geom.pos, geom.quat = r12(g.pos), r12(g.quat) if g.body.shape == "box" else [1, 0, 0, 0]
        if j.parent < 0 or j.is_end_effector:
            el.add_site(name=j.name)
        if j.name in soles:
            down = rest_rot[jid].T @ np.array([0.0, 0.0, -g.depth(rest_rot[jid])])
            el.add_site(name=soles[j.name], pos=r12(g.pos + down))
    for name, words in (("joints", [j.name for j in c.joints]),
                        ("frame", [f"{n}:{w}" for n, _, w in c.frame_fields()[3:]]),
                        ("end_effectors", c.end_effectors), ("soles", [soles[j] for j in c.end_effectors if j in soles]),
                        ("fall_contact", c.fall_contact_bodies)):
        s.add_text(name=f"deepmimic_{name}", data=" ".join(words) or "-")
    s.add_numeric(name="deepmimic_diff_weights", data=r12([j.diff_weight for j in c.joints]), size=len(c.joints))
    if c.update_rate is not None:
        s.add_numeric(name="deepmimic_update_rate", data=[c.update_rate], size=1)
    for hinge, kp, ctrl, lim in actuators:
        a = s.add_actuator(name=hinge, target=hinge, trntype=E.mjtTrn.mjTRN_JOINT)
        a.set_to_position(kp=kp)
        a.ctrlrange = r12(ctrl)
        if lim is None:
            a.forcelimited = E.mjtLimited.mjLIMITED_FALSE
        else:
            a.forcerange = [-lim, lim]
    return s.compile()


def model_fields(obj, prefix: str = "") -> dict:
    """Every array and number of a compiled model, and of its option, visual and statistic structs."""
    out = {}
    for name in dir(obj):
        v = None if name.startswith("_") else getattr(obj, name, None)
        if isinstance(v, (np.ndarray, int, float, str, bytes)):
            out[prefix + name] = v
        elif name in ("opt", "vis", "stat", "global_", "quality", "headlight", "map", "scale", "rgba"):
            out.update(model_fields(v, f"{prefix}{name}."))
    return out


def differences(a: mujoco.MjModel, b: mujoco.MjModel) -> list[str]:
    fa, fb = model_fields(a), model_fields(b)
    assert len(fa) > 600 and {"body_pos", "body_inertia", "actuator_gainprm", "names", "opt.timestep"} <= set(fa)
    return [k for k in sorted(set(fa) | set(fb))
            if k not in fa or k not in fb or not np.array_equal(np.asarray(fa[k]), np.asarray(fb[k]))]


def _every_branch(tmp_path):
    m = motions_dir()
    char, ctrl = (json.loads((m / f).read_text()) for f in ("humanoid3d.txt", "humanoid3d_phase_rot_ctrl.txt"))
    c = copy.deepcopy(char)
    joints, bodies = c["Skeleton"]["Joints"], c["BodyDefs"]
    bodies[1].update(Shape="cylinder", AttachThetaX=0.3, AttachThetaZ=-0.2)
    bodies[2].update(Shape="sphere", AttachThetaY=0.5)
    bodies[5].update(AttachThetaZ=0.4, ColorR=0.1, ColorG=0.9, ColorB=0.3)
    bodies[3]["ColorA"] = 0.5
    joints[3].update(AttachThetaX=0.25, AttachThetaY=-0.1)
    joints[4]["TorqueLim"] = 0
    joints[6].pop("TorqueLim")
    joints[2]["Type"] = "fixed"
    joints[1].update(LimLow0=1, LimHigh0=0)
    ctrl["PDControllers"][5]["Kp"] = 0
    (tmp_path / "every.txt").write_text(json.dumps(c))
    (tmp_path / "every_ctrl.txt").write_text(json.dumps(ctrl))
    return load_character(tmp_path / "every.txt", tmp_path / "every_ctrl.txt")


@pytest.mark.parametrize("which", ["humanoid", "humanoid passive", "dog", "every branch"])
def test_the_writers_model_equals_an_mjspec_construction(which, tmp_path):
    m = motions_dir()
    c = {"humanoid": lambda: load_character(m / "humanoid3d.txt", m / "humanoid3d_phase_rot_ctrl.txt"),
         "humanoid passive": lambda: load_character(m / "humanoid3d.txt"),
         "dog": lambda: load_character(m / "dog3d.txt", m / "dog3d_phase_rot_ctrl.txt"),
         "every branch": lambda: _every_branch(tmp_path)}[which]()
    written = build_model(c)
    assert differences(written, spec_model(c)) == []
    if which == "every branch":  # the branches are taken: the comparison covers them
        assert {int(written.geom(b.name).type[0]) for b in c.bodies} == {int(t) for t in SHAPE.values()}
        assert written.body("neck").jntnum[0] == 0 and written.nmat == 4  # fixed joint; grid + 3 colours
        actuated = {written.actuator(i).name for i in range(written.nu)}
        assert "right_ankle_x" not in actuated and written.joint("right_ankle_x").damping[0] > 0  # Kp 0
        assert "right_knee" not in actuated and written.joint("right_knee").damping[0] == 0  # TorqueLim 0
        assert written.actuator("right_shoulder_x").forcelimited[0] == 0  # no TorqueLim
        assert written.actuator("chest_x").ctrlrange[1] == pytest.approx(UNLIMITED_CTRL)  # LimLow 1, LimHigh 0


def test_the_comparison_sees_a_tiny_difference():
    m = motions_dir()
    c = load_character(m / "humanoid3d.txt", m / "humanoid3d_phase_rot_ctrl.txt")
    moved = build_model(c, root_height=default_root_height(c) + 1e-9)
    assert "body_pos" in differences(build_model(c), moved)
