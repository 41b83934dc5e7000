"""Retargeting a BVH onto the DeepMimic humanoid (see the package docstring), and joint maps."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..character import FIELD_START, FRAME_FIELDS, FRAME_WIDTH, HINGE_AXIS, REVOLUTE_JOINTS, SPHERICAL_JOINTS, \
    humanoid_skeleton
from ..quat import continuous, quat_conj, quat_from_mat, quat_mul, quat_to_mat, shortest_arc, twist_angle
from .skeleton import Bvh, BvhError

TARGET_JOINTS: tuple[str, ...] = ("root",) + tuple(n for n, _, w in FRAME_FIELDS[3:])
"""The humanoid's joints in DeepMimic frame order."""

DEFAULT_JOINT_MAP: dict[str, str] = {
    "Hips": "root",
    "Spine": "chest", "Spine1": "chest",
    "Neck": "neck", "Head": "neck",
    "RightUpLeg": "right_hip", "RightLeg": "right_knee", "RightFoot": "right_ankle",
    "RightArm": "right_shoulder", "RightForeArm": "right_elbow",
    "LeftUpLeg": "left_hip", "LeftLeg": "left_knee", "LeftFoot": "left_ankle",
    "LeftArm": "left_shoulder", "LeftForeArm": "left_elbow",
}
"""CMU-style source names -> humanoid joints (the humanoid's own names are accepted too)."""

LIMB_CHILD = {"right_hip": "right_knee", "right_knee": "right_ankle", "right_shoulder": "right_elbow",
              "right_elbow": "right_wrist", "left_hip": "left_knee", "left_knee": "left_ankle",
              "left_shoulder": "left_elbow", "left_elbow": "left_wrist"}
"""Joints whose rest bone (to the listed child) is aligned with the source's."""

_IDENTITY = np.array([1.0, 0.0, 0.0, 0.0])


class JointMap(dict):
    """A BVH joint -> humanoid joint map read from a file; remembers each key's line for errors."""

    def __init__(self, items: Mapping[str, str | None], source: str = "joint map",
                 lines: Mapping[str, int] | None = None) -> None:
        super().__init__(items)
        self.source = source
        self.lines = dict(lines or {})

    def where(self, key: str) -> str:
        line = self.lines.get(key)
        return f"{self.source}:{line}" if line else self.source


def load_joint_map(path: str | os.PathLike) -> JointMap:
    """Read a JSON object {"BvhJoint": "humanoid_joint" or null}; errors name the file and line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise BvhError(f"{p.name}: cannot read joint map: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise BvhError(f"{p.name}: not a joint map: byte {exc.start} is not UTF-8 text") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BvhError(f"{p.name}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise BvhError(f"{p.name}: not a joint map: JSON nested too deeply") from None
    if not isinstance(doc, dict):
        raise BvhError(f"{p.name}:1: a joint map must be a JSON object of BVH joint -> humanoid joint")
    lines = {}
    for key in doc:
        mt = re.search(re.escape(json.dumps(key)) + r"\s*:", text)
        lines[key] = text.count("\n", 0, mt.start()) + 1 if mt else 1
    for key, val in doc.items():
        if val is not None and not isinstance(val, str):
            raise BvhError(f"{p.name}:{lines[key]}: value for '{key}' must be a humanoid joint name or null")
    return JointMap(doc, p.name, lines)


def _map_pairs(bvh: Bvh, joint_map: Mapping[str, str | None] | None):
    """((source, humanoid joint) pairs, key -> where an error about it is reported)."""
    if joint_map is None:
        default = {**DEFAULT_JOINT_MAP, **{t: t for t in TARGET_JOINTS}}
        return [(s, t) for s, t in default.items() if s in bvh.joints], lambda key: "default joint map"
    where = joint_map.where if isinstance(joint_map, JointMap) else (lambda key: "joint map")
    pairs = []
    for s, t in joint_map.items():
        if t is None or t == "":
            continue
        if t not in TARGET_JOINTS:
            raise BvhError(f"{where(s)}: unknown humanoid joint '{t}' for '{s}' "
                           f"(one of {', '.join(TARGET_JOINTS)})")
        if s not in bvh.joints:
            raise BvhError(f"{where(s)}: unknown joint '{s}': not a joint of {bvh.name} "
                           f"(its joints: {', '.join(bvh.joints)})")
        pairs.append((s, t))
    return pairs, where


def _resolve_map(bvh: Bvh, joint_map: Mapping[str, str | None] | None) -> dict[str, int]:
    """humanoid joint -> source joint index (the deepest source joint mapped onto it)."""
    pairs, where = _map_pairs(bvh, joint_map)
    depth = [0] * len(bvh.joints)
    for j, p in enumerate(bvh.parents):
        depth[j] = depth[p] + 1 if p >= 0 else 0
    rep: dict[str, int] = {}
    for s, t in pairs:
        j = bvh.index(s)
        if t not in rep or depth[j] > depth[rep[t]]:
            rep[t] = j
    if "root" not in rep:
        raise BvhError(f"{where('')}: no BVH joint is mapped to the humanoid's 'root' "
                       f"(joints of {bvh.name}: {', '.join(bvh.joints)})")
    return rep


def _source_child_direction(bvh: Bvh, rest: np.ndarray, j: int, target_child: str,
                            rep: dict[str, int]) -> np.ndarray | None:
    if target_child in rep:
        d = rest[rep[target_child]] - rest[j]
    else:
        kids = bvh.children(j)
        if kids:
            d = bvh.offsets[kids[0]]
        else:
            sites = [off for jj, off in bvh.end_sites if jj == j]
            if not sites:
                return None
            d = sites[0]
    n = float(np.linalg.norm(d))
    return d / n if n > 1e-9 else None


def _facing(rest: np.ndarray, rep: dict[str, int]) -> np.ndarray:
    """C: the quaternion taking the humanoid's rest frame (forward +x, up +y, left -z) onto the source's."""
    up = np.array([0.0, 1.0, 0.0])
    for a, b in (("left_hip", "right_hip"), ("left_shoulder", "right_shoulder")):
        if a in rep and b in rep:
            d = rest[rep[a]] - rest[rep[b]]
            d = d - up * d[1]
            if np.linalg.norm(d) > 1e-9:
                left = d / np.linalg.norm(d)
                src = np.stack([np.cross(left, up), up, left], axis=1)
                tgt = np.stack([[1.0, 0.0, 0.0], up, [0.0, 0.0, -1.0]], axis=1)
                return quat_from_mat(src @ tgt.T)
    return _IDENTITY.copy()


def _leg_scale(rest: np.ndarray, rep: dict[str, int], toff: dict[str, np.ndarray]) -> float:
    """Humanoid leg length / source leg length (the first side with hip, knee and ankle mapped), else 1."""
    for side in ("right", "left"):
        hip, knee, ankle = (f"{side}_hip", f"{side}_knee", f"{side}_ankle")
        if all(k in rep for k in (hip, knee, ankle)):
            src_len = (np.linalg.norm(rest[rep[knee]] - rest[rep[hip]])
                       + np.linalg.norm(rest[rep[ankle]] - rest[rep[knee]]))
            tgt_len = np.linalg.norm(toff[knee]) + np.linalg.norm(toff[ankle])
            return float(tgt_len / src_len) if src_len > 1e-9 else 1.0
    return 1.0


def _world_rotations(bvh: Bvh, rep: dict[str, int], c: np.ndarray, tparent: dict[str, str],
                     toff: dict[str, np.ndarray], g_src: np.ndarray) -> dict[str, np.ndarray]:
    """Humanoid joint -> (F, 4) world orientation ``C^-1 G_src (B C)``; unmapped joints follow their parent."""
    rest = bvh.rest_positions()
    c_inv, c_mat = quat_conj(c), quat_to_mat(c)
    world: dict[str, np.ndarray] = {}
    for n in TARGET_JOINTS:  # parents come before children in this order
        if n not in rep:
            world[n] = world[tparent[n]] if n != "root" else np.tile(_IDENTITY, (bvh.num_frames, 1))
            continue
        j = rep[n]
        align = c
        if n in LIMB_CHILD:
            d_src = _source_child_direction(bvh, rest, j, LIMB_CHILD[n], rep)
            if d_src is not None:
                align = quat_mul(shortest_arc(c_mat @ toff[LIMB_CHILD[n]], d_src), c)
        world[n] = quat_mul(quat_mul(c_inv, g_src[:, j]), align)
    return world


def bvh_to_deepmimic(bvh: Bvh, joint_map: Mapping[str, str | None] | None = None, *, scale: float | None = None,
                     loop: str = "none") -> dict[str, Any]:
    """Retarget a BVH onto the humanoid: a DeepMimic clip document {"Loop", "Frames"} (see package doc).

    ``joint_map``: BVH joint -> humanoid joint (None: :data:`DEFAULT_JOINT_MAP` plus the humanoid's own
    names, for the joints the file has).  ``scale``: source length unit -> metres for the root
    position (None: humanoid leg length / source leg length, 1 if the legs are not mapped).
    """
    if loop not in ("wrap", "none"):
        raise ValueError(f"loop must be 'wrap' or 'none', got {loop!r}")
    if bvh.num_frames < 2:
        raise BvhError(f"{bvh.name}: a clip needs at least 2 frames, the file has {bvh.num_frames}")
    rep = _resolve_map(bvh, joint_map)
    names, parents, offsets = humanoid_skeleton()
    tparent = {n: names[p] for n, p in zip(names, parents) if p >= 0}
    toff = dict(zip(names, offsets))
    rest = bvh.rest_positions()
    g_src, p_src = bvh.forward_kinematics()
    c = _facing(rest, rep)
    if scale is None:
        scale = _leg_scale(rest, rep, toff)
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be positive, got {scale}")
    world = _world_rotations(bvh, rep, c, tparent, toff, g_src)

    def local(n: str) -> np.ndarray:
        return quat_mul(quat_conj(world[tparent[n]]), world[n])

    out = np.zeros((bvh.num_frames, FRAME_WIDTH))
    out[:, 0] = bvh.frame_time
    out[-1, 0] = 0.0
    out[:, 1:4] = scale * np.einsum("ij,fj->fi", quat_to_mat(quat_conj(c)), p_src[:, rep["root"]])
    out[:, 4:8] = continuous(world["root"])
    for n in SPHERICAL_JOINTS:  # an unmapped joint stays exactly at rest
        s = FIELD_START[n]
        out[:, s:s + 4] = continuous(local(n)) if n in rep else _IDENTITY
    for n in REVOLUTE_JOINTS:
        if n in rep:
            out[:, FIELD_START[n]] = np.unwrap(twist_angle(local(n), HINGE_AXIS))
    return {"Loop": loop, "Frames": out.tolist()}
