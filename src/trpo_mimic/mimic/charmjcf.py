"""A validated DeepMimic character (:class:`~.charschema.Character`, read by :mod:`.charfile`) compiled to MJCF.

:func:`to_mjcf` writes the MJCF text and :func:`build_model` compiles it, with the
conventions of the hand-written ``assets/humanoid3d.xml`` (compiling ``humanoid3d.txt`` with
its controller gives that model; ``tests/test_character_build.py`` checks it number by number):

* Z up: a Y-up point (x, y, z) is (x, -z, y) (:func:`~.quat.yup_to_zup_vec`).
* One MJCF body per joint, named after the joint, nested depth-first with children in
  joint-ID order (this is the hand-written body, hinge and actuator order).  The root gets a
  freejoint named after it; a spherical joint is three hinges ``<joint>_x, _y, _z`` with the
  Z-up axes (1 0 0), (0 0 1), (0 -1 0) (the file's x, y, z), applied in that order
  (R = Rx Ry Rz, as :func:`~.quat.euler_xyz_from_quat` splits clip quaternions); a revolute
  joint is one hinge ``<joint>`` about (0 -1 0) (DeepMimic's revolute axis is the file's z);
  a fixed joint is a body without joints.
* ``AttachTheta`` (joints' and bodies') is DeepMimic's ``cMathUtil::RotateMat(euler)``,
  R = Rz(z) Ry(y) Rx(x): :func:`~.quat.quat_from_euler` with order ``"ZYX"`` on (z, y, x).
  A joint's ``AttachX/Y/Z`` and ``AttachTheta`` place its body in the parent's; a BodyDef's
  place its geom in the body.  The root's attach point is ignored (DeepMimic zeroes it;
  ``dog3d.txt`` holds 50 there); a root ``AttachTheta`` is refused (unsupported).
* Shapes (DeepMimic's ``Param0..2`` are full extents, as ``cSimCharacter::BuildCollisionShape``
  reads them): sphere radius ``Param0/2``; capsule radius ``Param0/2`` and ``Param1`` between
  the cap centres along the shape's y; cylinder radius ``Param0/2`` and height ``Param1``
  along y; box full sizes ``Param0..2`` along x, y, z.  Capsules and cylinders are written
  with ``fromto`` (from the +y end to the -y end, as the hand-written file does).  Geom mass
  = ``Mass``; MuJoCo derives the inertia from the shape.  A geom is named after its BodyDef.
* Sites: one at the root and one at each end effector's joint, named after the joint, and a
  *sole* site on each end effector whose shape is a box: below the box centre at the height
  of its lowest point in the rest pose (``sole_sites`` names them; by default
  ``<joint>_sole``).
* ``<custom>`` fields carry what the environment reads of the character beyond the physics
  (:class:`.character.CharacterSpec`): the joints in ID order, the clip frame layout, the end
  effectors, the sole sites, the EnableFallContact bodies, the DiffWeights and the UpdateRate.
* Limits: ``LimLow<i>``/``LimHigh<i>`` give hinge i's range.  DeepMimic's files write
  ``LimLow 1, LimHigh 0`` for "no limit" (``dog3d.txt`` on every spherical axis): such a
  hinge gets no range and a control range of +-pi (DeepMimic's ``gDefaultRotatePDBound``).
  (:mod:`.charfile` refuses any other LimLow > LimHigh.)  As in the hand-written model,
  joints are not ``limited``: ranges bound the PD targets (``ctrlrange``), not the motion.
* PD control (see the header of ``assets/humanoid3d.xml``): a ``position`` actuator per hinge
  with kp = ``Kp``, forcerange = +-``TorqueLim`` (unbounded without one), ctrlrange = the
  range, and the D part as the joint's damping = ``Kd`` (not the actuator's kv).  Joints
  with ``Kp`` 0 or ``TorqueLim`` 0 get no actuator (``TorqueLim`` 0: no damping either).
* Without a controller file the model is *passive*: no actuators, no damping (for
  kinematic playback and inspection); :attr:`Character.kp` is then None.
* Everything else (option, defaults: armature 0.01, friction, contype 2 / conaffinity 1,
  the floor, materials, skybox, the tracking ``sun`` light in the root body, offscreen size)
  is copied from the hand-written file.  One material per distinct BodyDef colour.
* The root body starts at ``root_height`` (default: the rest pose's lowest point at least
  1 cm above the floor, rounded up to whole centimetres; 0.90 m for the humanoid).

The rest-pose geometry (root height, sole sites) and the conversion of clip frames to qpos by these
conventions are in :mod:`.chargeom`.

The MJCF is written as text, not built with ``mujoco.MjSpec``: the text is the product (build-character's
file, the shipped ``assets/humanoid3d.xml``, :class:`.character.SimCharacter`'s source), and
``MjSpec.to_xml`` writes 6 significant digits, so its file would not compile to the model built in memory.
An MjSpec construction of the same conventions compiles to the identical model, field by field
(``tests/test_charmjcf.py``, the writer's oracle).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Mapping, Sequence

import mujoco
import numpy as np

from .chargeom import Geom, body_frames, default_root_height, default_sole_sites, euler_quat
from .charschema import HINGE_AXES, Character, CharacterFileError, JointDef
from .quat import yup_to_zup_vec

REVOLUTE_AXIS = (0, -1, 0)
"""A revolute joint's Z-up axis (the file's z)."""
UNLIMITED_CTRL = math.pi
"""Control range (+-) of an unlimited hinge (DeepMimic's ``gDefaultRotatePDBound``)."""


def _f(x: float) -> str:
    """A number for the XML: 12 significant digits, no '-0', no 1e-17 dust."""
    x = float(x)
    if abs(x) < 1e-12:
        return "0"
    return f"{x:.12g}"


def _v(xs: Sequence[float]) -> str:
    return " ".join(_f(x) for x in xs)


def _is_identity(q: np.ndarray) -> bool:
    return bool(abs(abs(q[0]) - 1.0) < 1e-12)


HEADER = """
  Generated by trpo-mimic (mimic/charmjcf.py) from {source}.
  Conventions as in the hand-written assets/humanoid3d.xml: Z up, a Y-up point (x, y, z) of the
  character file is (x, -z, y) here; a spherical joint is three hinges <joint>_x, _y, _z about
  (1 0 0), (0 0 1), (0 -1 0), applied in that order (R = Rx Ry Rz); a revolute joint one hinge about
  (0 -1 0); fixed joints are bodies without joints.  PD: a position actuator per hinge (kp = Kp,
  forcerange = TorqueLim, ctrlrange = the joint's range) and the D part as the joint's damping
  (= Kd), which implicitfast integrates implicitly even when the actuator saturates.
  Character geoms collide with the floor only (contype 2 / conaffinity 1).
"""


# ----------------------------------------------------------------------------- MJCF

def to_mjcf(character: Character, *, timestep: float = 1 / 240, root_height: float | None = None,
            sole_sites: Mapping[str, str] | None = None) -> str:
    """The MJCF text of ``character`` (see the module docstring for the conventions).

    ``root_height``: the root body's starting height (default :func:`default_root_height`);
    ``sole_sites``: end-effector joint -> name of its sole site (default :func:`default_sole_sites`;
    only end effectors whose shape is a box can have one).
    """
    c = character
    if not timestep > 0:
        raise ValueError(f"timestep must be positive, got {timestep}")
    root_height = default_root_height(c) if root_height is None else float(root_height)
    soles = default_sole_sites(c) if sole_sites is None else dict(sole_sites)
    _check_sole_sites(c, soles)
    writer = _BodyWriter(c, root_height, soles)
    mj = _head(c, timestep, writer.material)
    world = ET.SubElement(mj, "worldbody")
    ET.SubElement(world, "geom", name="floor", type="plane", size="0 0 0.1", material="grid", contype="1",
                  conaffinity="2")
    writer.add(world, 0)
    _custom(mj, c, soles)
    if writer.actuators:
        act = ET.SubElement(mj, "actuator")
        for a in writer.actuators:
            ET.SubElement(act, "position", a)
    ET.indent(mj, space="  ")
    label = Path(c.path).name
    source = label + (f" + {Path(c.controller_path).name}" if c.controller_path else " (no controller: passive)")
    return f"<!--{HEADER.format(source=source)}-->\n" + ET.tostring(mj, encoding="unicode") + "\n"


def _check_sole_sites(c: Character, soles: Mapping[str, str]) -> None:
    """Sole sites sit on end effectors with a box shape, and their names clash with no other site's."""
    label = Path(c.path).name
    site_names = {c.root.name} | set(c.end_effectors)
    for joint, site in soles.items():
        if joint not in c.end_effectors or c.bodies[c.joint(joint).id].shape != "box":
            raise CharacterFileError(f"{label}: sole site '{site}': joint '{joint}' is not an end effector "
                                     f"with a box shape")
        if site in site_names:
            raise CharacterFileError(f"{label}: sole site '{site}' clashes with another site's name")
        site_names.add(site)


def _head(c: Character, timestep: float, material: Mapping[tuple, str]) -> ET.Element:
    """The ``<mujoco>`` element with everything before the world body: compiler, option, visual, assets
    (one material per distinct body colour), defaults."""
    mj = ET.Element("mujoco", model=c.name)
    ET.SubElement(mj, "compiler", angle="radian", autolimits="true")
    ET.SubElement(mj, "option", timestep=repr(float(timestep)), integrator="implicitfast", iterations="20",
                  ls_iterations="10")
    ET.SubElement(mj, "size", memory="2M")
    vis = ET.SubElement(mj, "visual")
    ET.SubElement(vis, "global", offwidth="1280", offheight="960")
    ET.SubElement(vis, "quality", shadowsize="2048")
    asset = ET.SubElement(mj, "asset")
    ET.SubElement(asset, "texture", name="grid", type="2d", builtin="checker", width="256", height="256",
                  rgb1="0.82 0.84 0.86", rgb2="0.62 0.65 0.68")
    ET.SubElement(asset, "material", name="grid", texture="grid", texrepeat="1 1", texuniform="true")
    for col, name in material.items():
        ET.SubElement(asset, "material", name=name, rgba=_v(col))
    ET.SubElement(asset, "texture", name="sky", type="skybox", builtin="gradient", rgb1="0.55 0.7 0.9",
                  rgb2="0.95 0.95 1", width="256", height="256")
    default = ET.SubElement(mj, "default")
    ET.SubElement(default, "joint", type="hinge", damping="0", armature="0.01", limited="false")
    ET.SubElement(default, "geom", material="body", contype="2", conaffinity="1", condim="3",
                  friction="0.9 0.005 0.0001")
    ET.SubElement(default, "site", size="0.02", rgba="1 0.2 0.2 1", group="3")
    ET.SubElement(default, "position", ctrllimited="true", forcelimited="true")
    return mj


class _BodyWriter:
    """Writes the body tree (one body per joint, depth-first) and collects the actuators in hinge order."""

    def __init__(self, c: Character, root_height: float, soles: Mapping[str, str]):
        self.c, self.root_height, self.soles = c, root_height, soles
        colours: list[tuple] = []
        for b in c.bodies:
            if b.colour not in colours:
                colours.append(b.colour)
        self.material = {col: "body" if k == 0 else f"body{k}" for k, col in enumerate(colours)}
        _, self.rest_rot = body_frames(c)
        self.actuators: list[dict[str, str]] = []

    def add(self, parent_el: ET.Element, jid: int) -> None:
        """Joint ``jid``'s body under ``parent_el``: hinges, geom, sites, then its children's bodies."""
        c = self.c
        j = c.joints[jid]
        el = self._body(parent_el, j)
        self._hinges(el, j)
        g = Geom(c.bodies[jid])
        self._geom(el, g)
        if j.parent < 0 or j.is_end_effector:
            ET.SubElement(el, "site", name=j.name, pos="0 0 0")
        if j.name in self.soles:  # below the centre (world -z at rest), at the lowest point's height
            down = self.rest_rot[jid].T @ np.array([0.0, 0.0, -g.depth(self.rest_rot[jid])])
            ET.SubElement(el, "site", name=self.soles[j.name], pos=_v(g.pos + down))
        for child in c.children(jid):
            self.add(el, child)

    def _body(self, parent_el: ET.Element, j: JointDef) -> ET.Element:
        """The body element: the root at its starting height with the tracking light and the freejoint;
        another joint at its attach point and rotation in the parent's frame."""
        if j.parent < 0:
            el = ET.SubElement(parent_el, "body", name=j.name, pos=_v((0, 0, self.root_height)))
            ET.SubElement(el, "light", name="sun", mode="track", directional="true", pos="0 0 4", dir="0 0 -1",
                          diffuse="0.8 0.8 0.8", castshadow="true")
            ET.SubElement(el, "freejoint", name=j.name)
            return el
        el = ET.SubElement(parent_el, "body", name=j.name, pos=_v(yup_to_zup_vec(np.array(j.attach_pos))))
        q = euler_quat(j.attach_theta)
        if not _is_identity(q):
            el.set("quat", _v(q))
        return el

    def _hinges(self, el: ET.Element, j: JointDef) -> None:
        """The joint's hinges (range, PD damping) and, when it is actuated, their position actuators."""
        c = self.c
        axes = HINGE_AXES if j.type == "spherical" else (("", REVOLUTE_AXIS),) if j.type == "revolute" else ()
        damped = c.kd is not None and c.kd[j.id] > 0 and j.torque_lim != 0
        actuated = c.actuated(j.id)
        for i, ((_, axis), hinge) in enumerate(zip(axes, j.hinge_names)):
            h = ET.SubElement(el, "joint", name=hinge, axis=_v(axis))
            rng = j.axis_range(i)
            if rng is not None:
                h.set("range", _v(rng))
            if damped:
                h.set("damping", _f(c.kd[j.id]))  # type: ignore[index]
            if actuated:
                a = {"name": hinge, "joint": hinge, "kp": _f(c.kp[j.id]),  # type: ignore[index]
                     "ctrlrange": _v(rng if rng is not None else (-UNLIMITED_CTRL, UNLIMITED_CTRL))}
                if j.torque_lim is None:
                    a["forcelimited"] = "false"
                else:
                    a["forcerange"] = _v((-j.torque_lim, j.torque_lim))
                self.actuators.append(a)

    def _geom(self, el: ET.Element, g: Geom) -> None:
        """The body's collision shape: capsules and cylinders by ``fromto``, spheres and boxes by pos (and a
        box by its rotation); its mass, and its colour's material where that is not the default's."""
        b = g.body
        geom = ET.SubElement(el, "geom", name=b.name, type=b.shape)
        if b.shape in ("capsule", "cylinder"):
            geom.set("size", _f(g.size[0]))
            geom.set("fromto", _v(g.fromto()))
        else:
            geom.set("size", _v(g.size))
            if np.any(g.pos):
                geom.set("pos", _v(g.pos))
            if b.shape == "box" and not _is_identity(g.quat):
                geom.set("quat", _v(g.quat))
        geom.set("mass", _f(b.mass))
        if self.material[b.colour] != "body":
            geom.set("material", self.material[b.colour])


def _custom(mj: ET.Element, c: Character, soles: Mapping[str, str]) -> None:
    """``<custom>``: what the environment needs of the character beyond the physics, readable from the model
    alone (:class:`.character.CharacterSpec`): the clip frame layout, the reward's joint weights and end
    effectors, the sole sites, the fall-contact bodies and the controller's update rate."""
    custom = ET.SubElement(mj, "custom")
    for name, data in (("deepmimic_joints", " ".join(j.name for j in c.joints)),
                       ("deepmimic_frame", " ".join(f"{n}:{w}" for n, _, w in c.frame_fields()[3:])),
                       ("deepmimic_end_effectors", " ".join(c.end_effectors)),
                       ("deepmimic_soles", " ".join(soles[j] for j in c.end_effectors if j in soles)),
                       ("deepmimic_fall_contact", " ".join(c.fall_contact_bodies))):
        ET.SubElement(custom, "text", name=name, data=data or "-")
    ET.SubElement(custom, "numeric", name="deepmimic_diff_weights", data=_v([j.diff_weight for j in c.joints]))
    if c.update_rate is not None:
        ET.SubElement(custom, "numeric", name="deepmimic_update_rate", data=_f(c.update_rate))

def _compile(xml: str, character: Character) -> mujoco.MjModel:
    try:
        return mujoco.MjModel.from_xml_string(xml)
    except ValueError as exc:  # anything load_character let through that MuJoCo refuses
        msg = " ".join(str(exc).split())
        raise CharacterFileError(f"{Path(character.path).name}: MuJoCo refused the compiled model: {msg}") from None


def build_model(character: Character, *, timestep: float = 1 / 240, root_height: float | None = None,
                sole_sites: Mapping[str, str] | None = None) -> mujoco.MjModel:
    """The compiled :func:`to_mjcf` (same keywords): ``build_model(load_character(CHAR, CTRL))``."""
    xml = to_mjcf(character, timestep=timestep, root_height=root_height, sole_sites=sole_sites)
    return _compile(xml, character)


def write_mjcf(character: Character, out: str | Path, *, timestep: float = 1 / 240,
               root_height: float | None = None, sole_sites: Mapping[str, str] | None = None) -> mujoco.MjModel:
    """Write the MJCF of ``character`` to ``out`` once it compiles; returns the compiled model."""
    xml = to_mjcf(character, timestep=timestep, root_height=root_height, sole_sites=sole_sites)
    model = _compile(xml, character)
    Path(out).write_text(xml, encoding="utf-8")
    return model
