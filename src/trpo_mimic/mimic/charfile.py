"""Reading and checking DeepMimic character and controller files (:mod:`.charschema` says what they hold).

:func:`load_character` validates everything: any problem raises :class:`~.charschema.CharacterFileError`,
one line naming the file, the joint, body or controller entry (name and ID) and the field.  Beyond the
JSON's shape and types: one root of Type ``none`` listed first, parents before children, no cycle, IDs
0..n-1 in file order, one body per joint, unique joint, hinge and body names, positive masses and shape
extents, colours in [0, 1], limits not swapped (``LimLow 1, LimHigh 0`` is DeepMimic's "no limit"; any other
LimLow > LimHigh on an axis the joint uses is refused: DeepMimic would silently read it as "no limit", and it
is almost always a swapped pair), no ``AttachTheta`` on the root (unsupported), non-negative gains and
torque limits, and a controller entry per joint, named as the joint if named at all.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from .charschema import (DEFAULT_COLOUR, JOINT_TYPES, NO_LIMIT, SHAPE_PARAMS, SHAPES, UNSUPPORTED_JOINT_TYPES,
                         BodyDef, Character, CharacterFileError, JointDef)


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
