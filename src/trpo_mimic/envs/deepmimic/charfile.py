"""DeepMimic character files (and their PD controller files) compiled to MJCF.

A character file (``humanoid3d.txt``, ``dog3d.txt``) is JSON: ``Skeleton.Joints`` (the
kinematic tree), ``BodyDefs`` (one collision shape and mass per joint) and ``DrawShapeDefs``
(looks only; ignored here).  A controller file (``humanoid3d_phase_rot_ctrl.txt``) holds
``PDControllers`` (``Kp``, ``Kd`` per joint) and ``UpdateRate``.  Both are Y-up.

:func:`load_character` validates everything: any problem raises :class:`CharacterFileError`,
one line naming the file, the joint, body or controller entry (name and ID) and the field.
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
  Any other LimLow > LimHigh on an axis the joint uses is refused (DeepMimic would silently
  read it as "no limit"; it is almost always a swapped pair).  As in the hand-written model,
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

:func:`frames_to_qpos` converts clip frames of any character to qpos, driven by
:meth:`Character.frame_fields`; ``character.frames_to_qpos`` is its humanoid case.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import mujoco
import numpy as np

from .quat import euler_xyz_from_quat, quat_from_euler, quat_to_mat, yup_to_zup_quat, yup_to_zup_vec

JOINT_TYPES = ("none", "spherical", "revolute", "fixed")
"""Supported ``Type`` values (``none`` is the free root)."""
UNSUPPORTED_JOINT_TYPES = ("planar", "prismatic")
"""DeepMimic joint types this compiler refuses."""
SHAPES = ("sphere", "capsule", "box", "cylinder")
FRAME_WIDTH_OF_TYPE = {"spherical": 4, "revolute": 1, "fixed": 0}
"""Numbers a non-root joint takes in a clip frame."""
HINGE_AXES = (("x", (1, 0, 0)), ("y", (0, 0, 1)), ("z", (0, -1, 0)))
"""A spherical joint's hinges: suffix and Z-up axis (the file's x, y, z), parent side first."""
REVOLUTE_AXIS = (0, -1, 0)
"""A revolute joint's Z-up axis (the file's z)."""
NO_LIMIT = (1.0, 0.0)
"""(LimLow, LimHigh) that DeepMimic's files write for an unlimited axis."""
UNLIMITED_CTRL = math.pi
"""Control range (+-) of an unlimited hinge (DeepMimic's ``gDefaultRotatePDBound``)."""
DEFAULT_COLOUR = (0.4706, 0.549, 0.6863, 1.0)
"""A BodyDef without ``ColorR..A`` gets the humanoid's colour (DeepMimic's default is black)."""
SHAPE_PARAMS = {"sphere": 1, "capsule": 2, "cylinder": 2, "box": 3}
"""How many of Param0..2 each shape reads."""


class CharacterFileError(ValueError):
    """A character or controller file is malformed; one line naming file, joint/body and field."""


@dataclass(frozen=True)
class JointDef:
    """One entry of ``Skeleton.Joints`` (Y-up file values)."""

    id: int
    name: str
    type: str  # none | spherical | revolute | fixed
    parent: int  # -1 for the root
    attach_pos: tuple[float, float, float]
    attach_theta: tuple[float, float, float]
    lim_low: tuple[float, float, float]
    lim_high: tuple[float, float, float]
    torque_lim: float | None  # None: unbounded
    is_end_effector: bool
    diff_weight: float

    @property
    def frame_width(self) -> int:
        """Numbers this joint takes in a clip frame (the root's 7 are counted separately)."""
        return FRAME_WIDTH_OF_TYPE.get(self.type, 0)

    @property
    def hinge_names(self) -> tuple[str, ...]:
        """Its MJCF hinges, parent side first."""
        if self.type == "spherical":
            return tuple(f"{self.name}_{s}" for s, _ in HINGE_AXES)
        if self.type == "revolute":
            return (self.name,)
        return ()

    def axis_range(self, axis: int) -> tuple[float, float] | None:
        """(low, high) of hinge ``axis``, or None when unlimited."""
        lo, hi = self.lim_low[axis], self.lim_high[axis]
        return None if lo > hi else (lo, hi)


@dataclass(frozen=True)
class BodyDef:
    """One entry of ``BodyDefs``: the collision shape of the joint with the same ID (Y-up)."""

    id: int
    name: str
    shape: str  # sphere | capsule | box | cylinder
    mass: float
    fall_contact: bool  # EnableFallContact
    attach_pos: tuple[float, float, float]
    attach_theta: tuple[float, float, float]
    params: tuple[float, float, float]  # Param0..2, full extents (unused ones 0)
    colour: tuple[float, float, float, float]


@dataclass(frozen=True)
class Character:
    """A validated character: joints and bodies in ID order, PD gains per joint (or None)."""

    path: str
    joints: tuple[JointDef, ...]
    bodies: tuple[BodyDef, ...]
    kp: tuple[float, ...] | None = None
    kd: tuple[float, ...] | None = None
    update_rate: float | None = None
    controller_path: str | None = None

    @property
    def name(self) -> str:
        """The model name: the file's stem (``humanoid3d``)."""
        return Path(self.path).stem

    @property
    def root(self) -> JointDef:
        return self.joints[0]

    def joint(self, name: str) -> JointDef:
        for j in self.joints:
            if j.name == name:
                return j
        raise KeyError(name)

    def children(self, joint_id: int) -> tuple[int, ...]:
        """IDs of the joints whose parent is ``joint_id``, in ID order."""
        return tuple(j.id for j in self.joints if j.parent == joint_id)

    def tree_order(self) -> tuple[int, ...]:
        """Joint IDs depth-first, children in ID order: the MJCF body order."""
        out: list[int] = []
        todo = [0]
        while todo:
            j = todo.pop()
            out.append(j)
            todo.extend(reversed(self.children(j)))
        return tuple(out)

    def frame_fields(self) -> tuple[tuple[str, int, int], ...]:
        """(name, start, width) of one clip frame in DeepMimic's layout: duration 1, root_pos 3,
        root_rot 4, then each non-root joint in ID order (spherical 4, revolute 1, fixed 0)."""
        fields = [("duration", 0, 1), ("root_pos", 1, 3), ("root_rot", 4, 4)]
        start = 8
        for j in self.joints[1:]:
            if j.frame_width:
                fields.append((j.name, start, j.frame_width))
                start += j.frame_width
        return tuple(fields)

    @property
    def frame_width(self) -> int:
        """Numbers per clip frame (44 for the humanoid, 84 for the dog)."""
        _, start, width = self.frame_fields()[-1]
        return start + width

    @property
    def spherical_joints(self) -> tuple[str, ...]:
        return tuple(j.name for j in self.joints if j.type == "spherical")

    @property
    def revolute_joints(self) -> tuple[str, ...]:
        return tuple(j.name for j in self.joints if j.type == "revolute")

    @property
    def end_effectors(self) -> tuple[str, ...]:
        """Joints with ``IsEndEffector``, in ID order."""
        return tuple(j.name for j in self.joints if j.is_end_effector)

    @property
    def diff_weights(self) -> dict[str, float]:
        """Joint name -> ``DiffWeight`` (the pose reward's weight), ID order, not normalised."""
        return {j.name: j.diff_weight for j in self.joints}

    @property
    def fall_contact_bodies(self) -> tuple[str, ...]:
        """Names of the bodies with ``EnableFallContact``."""
        return tuple(b.name for b in self.bodies if b.fall_contact)

    @property
    def hinge_names(self) -> tuple[str, ...]:
        """Every MJCF hinge in model (qpos) order."""
        return tuple(h for j in self.tree_order() for h in self.joints[j].hinge_names)

    def actuated(self, joint_id: int) -> bool:
        """Whether the joint's hinges get position actuators."""
        j = self.joints[joint_id]
        return (self.kp is not None and bool(j.hinge_names) and self.kp[joint_id] > 0
                and j.torque_lim != 0)


# ----------------------------------------------------------------------------- loading

class _Where:
    """Builds the one-line messages: '<file>: <what> <field problem>'."""

    def __init__(self, file: str, what: str = ""):
        self.file, self.what = file, what

    def fail(self, problem: str) -> CharacterFileError:
        return CharacterFileError(f"{self.file}: {self.what + ': ' if self.what else ''}{problem}")


_REQUIRED = object()


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _number(entry: Mapping, key: str, where: _Where, default: Any = _REQUIRED) -> float:
    if key not in entry:
        if default is _REQUIRED:
            raise where.fail(f"missing key '{key}'")
        return default
    v = entry[key]
    if not _is_number(v):
        raise where.fail(f"{key} must be a number, got {json.dumps(v)}")
    if not math.isfinite(v):
        raise where.fail(f"{key} must be finite, got {v}")
    return float(v)


def _integer(entry: Mapping, key: str, where: _Where) -> int:
    v = _number(entry, key, where)
    if v != int(v):
        raise where.fail(f"{key} must be an integer, got {entry[key]}")
    return int(v)


def _flag(entry: Mapping, key: str, where: _Where) -> bool:
    v = entry.get(key, 0)
    if isinstance(v, bool):
        return v
    if not _is_number(v) or v not in (0, 1):
        raise where.fail(f"{key} must be 0 or 1, got {json.dumps(v)}")
    return bool(v)


def _vec3(entry: Mapping, keys: Sequence[str], where: _Where, default: float) -> tuple[float, float, float]:
    return tuple(_number(entry, k, where, default) for k in keys)  # type: ignore[return-value]


def _read_json(path: Path, label: str) -> Any:
    where = _Where(label)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise where.fail(f"no such file ({path})") from None
    except UnicodeDecodeError:
        raise where.fail("not valid JSON: not UTF-8 text") from None
    except OSError as exc:
        raise where.fail(f"cannot read: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise where.fail(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise where.fail("not valid JSON: nested too deeply") from None


def _entries(doc: Any, keys: Sequence[str], label: str) -> list:
    """The list at doc[keys[0]][keys[1]]..., each level checked."""
    node, path = doc, []
    for k in keys:
        where = _Where(label, ".".join(path))
        if not isinstance(node, dict):
            raise where.fail(f"expected an object with key '{k}', got {type(node).__name__}")
        if k not in node:
            raise where.fail(f"missing key '{k}'")
        node = node[k]
        path.append(k)
    if not isinstance(node, list) or not node:
        raise _Where(label, ".".join(path)).fail(f"must be a non-empty list, got {json.dumps(node)[:40]}")
    return node


def _named(entry: Any, kind: str, index: int, label: str) -> tuple[str, _Where]:
    """(name, where) of a list entry, checking it is an object with a Name and ID == index."""
    where = _Where(label, f"{kind} #{index}")
    if not isinstance(entry, dict):
        raise where.fail(f"must be an object, got {json.dumps(entry)[:40]}")
    name = entry.get("Name")
    if "Name" not in entry:
        raise where.fail("missing key 'Name'")
    if not isinstance(name, str) or not name.strip() or name != name.strip() or '"' in name:
        raise where.fail(f"Name must be a non-empty name, got {json.dumps(name)}")
    where = _Where(label, f"{kind} '{name}' (#{index})")
    ident = _integer(entry, "ID", where)
    where = _Where(label, f"{kind} '{name}' (ID {ident})")
    if ident != index:
        raise where.fail(f"ID {ident} is entry #{index}: IDs must be 0..n-1 in file order")
    return name, where


def _parse_joint(entry: Any, index: int, n: int, label: str) -> JointDef:
    name, where = _named(entry, "joint", index, label)
    if "Type" not in entry:
        raise where.fail("missing key 'Type'")
    jtype = entry["Type"]
    if jtype in UNSUPPORTED_JOINT_TYPES:
        raise where.fail(f"Type '{jtype}' is not supported (supported: {', '.join(JOINT_TYPES)})")
    if jtype not in JOINT_TYPES:
        raise where.fail(f"Type {json.dumps(jtype)} is unknown (supported: {', '.join(JOINT_TYPES)})")
    parent = _integer(entry, "Parent", where)
    if parent != -1 and not 0 <= parent < n:
        raise where.fail(f"Parent {parent} is not a joint ID (0..{n - 1}, or -1 for the root)")
    if parent == index:
        raise where.fail(f"Parent {parent} is the joint itself")
    low = _vec3(entry, ("LimLow0", "LimLow1", "LimLow2"), where, NO_LIMIT[0])
    high = _vec3(entry, ("LimHigh0", "LimHigh1", "LimHigh2"), where, NO_LIMIT[1])
    used = {"spherical": 3, "revolute": 1}.get(jtype, 0)
    for i in range(used):
        lo_key, hi_key = f"LimLow{i}", f"LimHigh{i}"
        if (lo_key in entry) != (hi_key in entry):
            given, missing = (lo_key, hi_key) if lo_key in entry else (hi_key, lo_key)
            raise where.fail(f"{given} is given without {missing}")
        if low[i] > high[i] and (low[i], high[i]) != NO_LIMIT:
            raise where.fail(f"LimLow{i} {low[i]:g} > LimHigh{i} {high[i]:g} (for no limit write "
                             f"LimLow{i} 1, LimHigh{i} 0)")
    torque = _number(entry, "TorqueLim", where, None)
    if torque is not None and torque < 0:
        raise where.fail(f"TorqueLim must be >= 0, got {torque:g}")
    weight = _number(entry, "DiffWeight", where, 1.0)
    if weight < 0:
        raise where.fail(f"DiffWeight must be >= 0, got {weight:g}")
    return JointDef(
        id=index, name=name, type=jtype, parent=parent,
        attach_pos=_vec3(entry, ("AttachX", "AttachY", "AttachZ"), where, 0.0),
        attach_theta=_vec3(entry, ("AttachThetaX", "AttachThetaY", "AttachThetaZ"), where, 0.0),
        lim_low=low, lim_high=high, torque_lim=torque,
        is_end_effector=_flag(entry, "IsEndEffector", where), diff_weight=weight)


def _check_tree(joints: list[JointDef], label: str) -> None:
    def where(j: JointDef) -> _Where:
        return _Where(label, f"joint '{j.name}' (ID {j.id})")

    roots = [j for j in joints if j.parent == -1]
    if not roots:
        raise _Where(label, "Skeleton.Joints").fail("no root: no joint has Parent -1")
    if len(roots) > 1:
        raise where(roots[1]).fail(f"Parent -1 makes a second root (the first is '{roots[0].name}', "
                                   f"ID {roots[0].id}); a character has one root")
    for j in joints:  # a cycle never reaches the root
        seen, k = [j.id], j.parent
        while k != -1:
            if k in seen:
                loop = seen[seen.index(k):] + [k]
                raise where(joints[k]).fail(f"Parent {joints[k].parent} makes a cycle "
                                            f"({' -> '.join(str(i) for i in loop)})")
            seen.append(k)
            k = joints[k].parent
    for j in joints:
        if j.parent >= j.id:
            raise where(j).fail(f"Parent {j.parent} must come before the joint (DeepMimic lists "
                                f"parents first: Parent < ID)")
        if (j.parent == -1) != (j.type == "none"):
            raise where(j).fail("Type 'none' (a free root) is for the root (Parent -1) only"
                                if j.type == "none" else f"Type '{j.type}' on the root: the root must be "
                                "Type 'none' (a free root)")
    root = roots[0]
    if any(root.attach_theta):
        raise where(root).fail("a non-zero AttachTheta on the root is not supported")
    seen_names: dict[str, JointDef] = {}
    for j in joints:
        for n in (j.name,) + tuple(h for h in j.hinge_names if h != j.name):
            if n in seen_names:
                other = seen_names[n]
                what = "name" if n == j.name else f"hinge name '{n}'"
                raise where(j).fail(f"its {what} clashes with joint '{other.name}' (ID {other.id})"
                                    + ("" if n == other.name else f" (its hinge '{n}')"))
            seen_names[n] = j


def _parse_body(entry: Any, index: int, joints: list[JointDef], label: str) -> BodyDef:
    name, where = _named(entry, "body", index, label)
    if index >= len(joints):
        raise where.fail(f"no joint has ID {index} (the skeleton has {len(joints)} joints, one body each)")
    if "Shape" not in entry:
        raise where.fail("missing key 'Shape'")
    shape = entry["Shape"]
    if shape not in SHAPES:
        raise where.fail(f"Shape {json.dumps(shape)} is not supported (supported: {', '.join(SHAPES)})")
    mass = _number(entry, "Mass", where)
    if not mass > 0:
        raise where.fail(f"Mass must be positive, got {mass:g}")
    params = []
    for i in range(3):
        if i < SHAPE_PARAMS[shape]:
            p = _number(entry, f"Param{i}", where)
            if not p > 0:
                raise where.fail(f"Param{i} must be positive, got {p:g}")
        else:
            p = _number(entry, f"Param{i}", where, 0.0)
        params.append(p)
    colour = _vec3(entry, ("ColorR", "ColorG", "ColorB"), where, 0.0) + (_number(entry, "ColorA", where, 1.0),)
    if not any(k in entry for k in ("ColorR", "ColorG", "ColorB")):
        colour = DEFAULT_COLOUR
    for key, c in zip(("ColorR", "ColorG", "ColorB", "ColorA"), colour):
        if not 0 <= c <= 1:
            raise where.fail(f"{key} must lie in [0, 1], got {c:g}")
    return BodyDef(
        id=index, name=name, shape=shape, mass=mass, fall_contact=_flag(entry, "EnableFallContact", where),
        attach_pos=_vec3(entry, ("AttachX", "AttachY", "AttachZ"), where, 0.0),
        attach_theta=_vec3(entry, ("AttachThetaX", "AttachThetaY", "AttachThetaZ"), where, 0.0),
        params=tuple(params), colour=colour)  # type: ignore[arg-type]


def _parse_controller(path: Path, joints: list[JointDef], char_label: str):
    label = path.name
    doc = _read_json(path, label)
    entries = _entries(doc, ("PDControllers",), label)
    rate = None
    if isinstance(doc, dict) and "UpdateRate" in doc:
        rate = _number(doc, "UpdateRate", _Where(label))
        if not rate > 0:
            raise _Where(label).fail(f"UpdateRate must be positive, got {rate:g}")
    kp, kd = [], []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise _Where(label, f"PDControllers #{i}").fail(f"must be an object, got {json.dumps(entry)[:40]}")
        name = entry.get("Name")
        what = f"controller '{name}'" if isinstance(name, str) else "controller"
        where = _Where(label, f"{what} (#{i})")
        ident = _integer(entry, "ID", where)
        where = _Where(label, f"{what} (ID {ident})")
        if not 0 <= ident < len(joints):
            raise where.fail(f"ID {ident} is not a joint ID of {char_label} (0..{len(joints) - 1})")
        if ident != i:
            raise where.fail(f"ID {ident} is entry #{i}: entries must follow the joints' IDs 0..n-1")
        if name is not None and name != joints[i].name:
            raise where.fail(f"Name {json.dumps(name)} is not a joint of {char_label} "
                             f"(joint ID {i} is '{joints[i].name}')")
        gains = []
        for key in ("Kp", "Kd"):
            g = _number(entry, key, where)
            if g < 0:
                raise where.fail(f"{key} must be >= 0, got {g:g}")
            gains.append(g)
        kp.append(gains[0])
        kd.append(gains[1])
    if len(kp) < len(joints):
        j = joints[len(kp)]
        raise _Where(label, "PDControllers").fail(f"no entry for joint '{j.name}' (ID {j.id}) of {char_label}")
    return tuple(kp), tuple(kd), rate


def load_character(path: str | Path, controller: str | Path | None = None) -> Character:
    """Read and validate a DeepMimic character file and, optionally, its PD controller file."""
    path = Path(path)
    label = path.name
    doc = _read_json(path, label)
    raw = _entries(doc, ("Skeleton", "Joints"), label)
    joints = [_parse_joint(e, i, len(raw), label) for i, e in enumerate(raw)]
    _check_tree(joints, label)
    raw_bodies = _entries(doc, ("BodyDefs",), label)
    bodies = [_parse_body(e, i, joints, label) for i, e in enumerate(raw_bodies)]
    if len(bodies) < len(joints):
        j = joints[len(bodies)]
        raise _Where(label, f"joint '{j.name}' (ID {j.id})").fail(
            f"has no body: BodyDefs has {len(bodies)} entries, one per joint needed")
    geom_names: dict[str, int] = {}
    for b in bodies:
        if b.name in geom_names:
            raise _Where(label, f"body '{b.name}' (ID {b.id})").fail(
                f"Name clashes with body ID {geom_names[b.name]}")
        geom_names[b.name] = b.id
    kp = kd = rate = None
    if controller is not None:
        kp, kd, rate = _parse_controller(Path(controller), joints, label)
    return Character(path=str(path), joints=tuple(joints), bodies=tuple(bodies), kp=kp, kd=kd,
                     update_rate=rate, controller_path=None if controller is None else str(controller))


# ----------------------------------------------------------------------------- MJCF

def _euler_quat(theta: Sequence[float]) -> np.ndarray:
    """Z-up quaternion of DeepMimic's AttachTheta (x, y, z): R = Rz Ry Rx in file axes."""
    x, y, z = theta
    return yup_to_zup_quat(quat_from_euler(np.array([z, y, x], dtype=np.float64), "ZYX"))


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


class _Geom:
    """A body's collision shape in its body frame (Z-up): centre, rotation, MJCF size."""

    def __init__(self, b: BodyDef):
        self.body = b
        self.pos = yup_to_zup_vec(np.array(b.attach_pos))
        self.quat = _euler_quat(b.attach_theta)
        self.rot = quat_to_mat(self.quat)
        p0, p1, p2 = b.params
        if b.shape == "sphere":
            self.size = (p0 / 2,)
        elif b.shape in ("capsule", "cylinder"):
            self.size = (p0 / 2, p1 / 2)  # radius, half the length along the shape's axis (Z-up z)
        else:
            self.size = (p0 / 2, p2 / 2, p1 / 2)  # the file's x, z, y extents are the Z-up x, y, z

    def fromto(self) -> np.ndarray:
        axis = self.rot[:, 2] * self.size[1]
        return np.concatenate([self.pos + axis, self.pos - axis])

    def depth(self, rot: np.ndarray) -> float:
        """How far the shape reaches below its centre along -z of the frame ``rot`` maps it into."""
        r = rot @ self.rot
        s = self.size
        if self.body.shape == "sphere":
            return s[0]
        if self.body.shape == "capsule":
            return s[1] * abs(r[2, 2]) + s[0]
        if self.body.shape == "cylinder":
            return s[1] * abs(r[2, 2]) + s[0] * math.sqrt(max(0.0, 1 - r[2, 2] ** 2))
        return float(np.abs(r[2]) @ np.array(s))


def _body_frames(character: Character) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Rest-pose (position, rotation matrix) of every joint's body, root at the origin (Z-up)."""
    pos: list[np.ndarray] = []
    rot: list[np.ndarray] = []
    for j in character.joints:  # parents come first
        if j.parent < 0:
            pos.append(np.zeros(3))
            rot.append(np.eye(3))
            continue
        a = yup_to_zup_vec(np.array(j.attach_pos))
        pos.append(pos[j.parent] + rot[j.parent] @ a)
        rot.append(rot[j.parent] @ quat_to_mat(_euler_quat(j.attach_theta)))
    return pos, rot


def rest_height(character: Character) -> float:
    """Depth of the rest pose's lowest collision point below the root (m, positive)."""
    pos, rot = _body_frames(character)
    low = 0.0
    for j, b in zip(character.joints, character.bodies):
        g = _Geom(b)
        centre = pos[j.id] + rot[j.id] @ g.pos
        low = min(low, centre[2] - g.depth(rot[j.id]))
    return -low


def default_root_height(character: Character) -> float:
    """The rest pose's lowest point at least 1 cm above the floor, rounded up to whole cm."""
    return math.ceil(round((rest_height(character) + 0.01) * 100, 6)) / 100


def default_sole_sites(character: Character) -> dict[str, str]:
    """End effector -> sole site name (``<joint>_sole``) for every end effector whose shape is a box."""
    return {j.name: f"{j.name}_sole" for j in character.joints
            if j.is_end_effector and character.bodies[j.id].shape == "box"}


HEADER = """
  Generated by trpo-mimic (envs/deepmimic/charfile.py) from {source}.
  Conventions as in the hand-written assets/humanoid3d.xml: Z up, a Y-up point (x, y, z) of the
  character file is (x, -z, y) here; a spherical joint is three hinges <joint>_x, _y, _z about
  (1 0 0), (0 0 1), (0 -1 0), applied in that order (R = Rx Ry Rz); a revolute joint one hinge about
  (0 -1 0); fixed joints are bodies without joints.  PD: a position actuator per hinge (kp = Kp,
  forcerange = TorqueLim, ctrlrange = the joint's range) and the D part as the joint's damping
  (= Kd), which implicitfast integrates implicitly even when the actuator saturates.
  Character geoms collide with the floor only (contype 2 / conaffinity 1).
"""


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
    label = Path(c.path).name
    site_names = {c.root.name} | set(c.end_effectors)
    for joint, site in soles.items():
        if joint not in c.end_effectors or c.bodies[c.joint(joint).id].shape != "box":
            raise CharacterFileError(f"{label}: sole site '{site}': joint '{joint}' is not an end effector "
                                     f"with a box shape")
        if site in site_names:
            raise CharacterFileError(f"{label}: sole site '{site}' clashes with another site's name")
        site_names.add(site)

    colours: list[tuple] = []
    for b in c.bodies:
        if b.colour not in colours:
            colours.append(b.colour)
    material = {col: "body" if k == 0 else f"body{k}" for k, col in enumerate(colours)}

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

    world = ET.SubElement(mj, "worldbody")
    ET.SubElement(world, "geom", name="floor", type="plane", size="0 0 0.1", material="grid", contype="1",
                  conaffinity="2")
    actuators: list[dict[str, str]] = []
    _, rest_rot = _body_frames(c)

    def add_body(parent_el: ET.Element, jid: int) -> None:
        j, b = c.joints[jid], c.bodies[jid]
        if j.parent < 0:
            el = ET.SubElement(parent_el, "body", name=j.name, pos=_v((0, 0, root_height)))
            ET.SubElement(el, "light", name="sun", mode="track", directional="true", pos="0 0 4", dir="0 0 -1",
                          diffuse="0.8 0.8 0.8", castshadow="true")
            ET.SubElement(el, "freejoint", name=j.name)
        else:
            el = ET.SubElement(parent_el, "body", name=j.name, pos=_v(yup_to_zup_vec(np.array(j.attach_pos))))
            q = _euler_quat(j.attach_theta)
            if not _is_identity(q):
                el.set("quat", _v(q))
        axes = HINGE_AXES if j.type == "spherical" else (("", REVOLUTE_AXIS),) if j.type == "revolute" else ()
        actuated = c.actuated(jid)
        for i, ((_, axis), hinge) in enumerate(zip(axes, j.hinge_names)):
            h = ET.SubElement(el, "joint", name=hinge, axis=_v(axis))
            rng = j.axis_range(i)
            if rng is not None:
                h.set("range", _v(rng))
            if c.kd is not None and c.kd[jid] > 0 and j.torque_lim != 0:
                h.set("damping", _f(c.kd[jid]))
            if actuated:
                a = {"name": hinge, "joint": hinge, "kp": _f(c.kp[jid]),  # type: ignore[index]
                     "ctrlrange": _v(rng if rng is not None else (-UNLIMITED_CTRL, UNLIMITED_CTRL))}
                if j.torque_lim is None:
                    a["forcelimited"] = "false"
                else:
                    a["forcerange"] = _v((-j.torque_lim, j.torque_lim))
                actuators.append(a)
        g = _Geom(b)
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
        if material[b.colour] != "body":
            geom.set("material", material[b.colour])
        if j.parent < 0 or j.is_end_effector:
            ET.SubElement(el, "site", name=j.name, pos="0 0 0")
        if j.name in soles:  # below the centre (world -z at rest), at the lowest point's height
            down = rest_rot[jid].T @ np.array([0.0, 0.0, -g.depth(rest_rot[jid])])
            ET.SubElement(el, "site", name=soles[j.name], pos=_v(g.pos + down))
        for child in c.children(jid):
            add_body(el, child)

    add_body(world, 0)
    # what the environment needs of the character beyond the physics, readable from the model alone
    # (:class:`.character.CharacterSpec`): the clip frame layout, the reward's joint weights and end effectors
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
    if actuators:
        act = ET.SubElement(mj, "actuator")
        for a in actuators:
            ET.SubElement(act, "position", a)
    ET.indent(mj, space="  ")
    source = label + (f" + {Path(c.controller_path).name}" if c.controller_path else " (no controller: passive)")
    return f"<!--{HEADER.format(source=source)}-->\n" + ET.tostring(mj, encoding="unicode") + "\n"


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


# ----------------------------------------------------------------------------- clip frames

def frames_to_qpos(frames: np.ndarray, model: mujoco.MjModel,
                   fields: Sequence[tuple[str, int, int]]) -> np.ndarray:
    """Clip frames (F, W) in the layout ``fields`` (:meth:`Character.frame_fields`) to qpos (F, nq).

    The root (the model's one free joint) by :func:`~.quat.yup_to_zup_vec` /
    :func:`~.quat.yup_to_zup_quat`; a spherical joint's quaternion split as R = Rx(a) Ry(b) Rz(c)
    into its hinges ``<joint>_x, _y, _z`` (the split is frame-invariant, so it is done in the
    file's axes); a revolute joint's angle into its hinge ``<joint>``.  Hinges are unwrapped
    along the frames.
    """
    frames = np.asarray(frames, dtype=np.float64)
    free = np.flatnonzero(model.jnt_type == mujoco.mjtJoint.mjJNT_FREE)
    if len(free) != 1:
        raise ValueError(f"the model has {len(free)} free joints; a character has one (its root)")
    r = int(model.jnt_qposadr[free[0]])
    qpos = np.zeros((len(frames), model.nq))
    qpos[:, r:r + 3] = yup_to_zup_vec(frames[:, 1:4])
    qpos[:, r + 3:r + 7] = yup_to_zup_quat(frames[:, 4:8])
    hinges = []
    for name, start, width in fields[3:]:
        if width == 4:
            adr = [int(model.joint(f"{name}_{s}").qposadr[0]) for s, _ in HINGE_AXES]
            qpos[:, adr] = euler_xyz_from_quat(frames[:, start:start + 4])
        elif width == 1:
            adr = [int(model.joint(name).qposadr[0])]
            qpos[:, adr[0]] = frames[:, start]
        else:
            raise ValueError(f"field '{name}': width {width}; joints take 4 (spherical) or 1 (revolute)")
        hinges += adr
    hinges.sort()
    qpos[:, hinges] = np.unwrap(qpos[:, hinges], axis=0)
    return qpos
