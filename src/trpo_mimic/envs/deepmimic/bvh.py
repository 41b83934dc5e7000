"""BVH motion capture files: reading, writing, and retargeting onto the DeepMimic humanoid.

Reading (:func:`read_bvh`) gives a :class:`Bvh`: the joint hierarchy (names, parents, offsets,
channel orders, end sites), the motion (one row of channel values per frame) and the frame
time.  Every problem raises :class:`BvhError` naming the file and line (``walk.bvh:17:
expected '{'``).

Conventions of the format as read here: the skeleton's rest pose has every joint frame
aligned with the world (the offsets alone place the joints); a joint's rotation channels,
in degrees, compose in the order listed (``Zrotation Xrotation Yrotation`` is
``Rz Rx Ry``, the leftmost nearest the parent); position channels, when present, are the
joint's translation in its parent's frame and replace its OFFSET (for a root with offset 0,
the usual case, the two readings agree).  Files are assumed Y-up, as BVH almost always is.

Retargeting (:func:`bvh_to_deepmimic`) maps source joints onto the humanoid's joints
(``root``, ``chest``, ``neck``, ``right_hip`` ...; see ``motion.FRAME_FIELDS``) by name
(:data:`DEFAULT_JOINT_MAP`, CMU style, or a JSON map file of ``{"BvhJoint": "humanoid_joint"}``).
It works on world orientations, so unmapped source joints in between (clavicles, extra spine
links) are folded into the next mapped joint, and when several source joints map to one
humanoid joint the deepest one is used:

* The character's facing is found from the rest skeleton (its left is from the right hip to
  the left hip); a fixed rotation ``C`` takes the humanoid's rest frame (facing +x, up +y,
  left -z, Y-up) onto the source's.
* For limbs (hips, knees, shoulders, elbows) a rest-pose correction ``B`` turns each
  humanoid bone onto the source's rest bone (so a T-pose source drives the humanoid,
  whose arms hang down at rest, correctly); other joints use ``C`` alone.
* Humanoid world orientation ``G = C^-1 G_src (B C)``; local rotation ``parent(G)^-1 G``.
  Knees and elbows keep the twist about their hinge axis (+z of the Y-up file: the MJCF's
  ``0 -1 0``), as one angle.
* The root position is the source root's, in the humanoid's world, times ``scale``
  (default: humanoid leg length / source leg length, so centimetre files need nothing).

:func:`deepmimic_to_bvh` writes DeepMimic frames as a BVH with the humanoid's own skeleton
(CMU-style names), and :func:`convert_bvh` is the ``trpo-mimic convert-bvh`` job.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .motion import (FRAME_FIELDS, FRAME_WIDTH, REVOLUTE_JOINTS, SPHERICAL_JOINTS, character_model, quat_conj,
                     quat_mul, quat_to_mat)

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

# BVH names used by deepmimic_to_bvh for the humanoid's bodies (the inverse of the default map)
HUMANOID_BVH_NAMES: dict[str, str] = {
    "root": "Hips", "chest": "Spine", "neck": "Neck",
    "right_hip": "RightUpLeg", "right_knee": "RightLeg", "right_ankle": "RightFoot",
    "right_shoulder": "RightArm", "right_elbow": "RightForeArm", "right_wrist": "RightHand",
    "left_hip": "LeftUpLeg", "left_knee": "LeftLeg", "left_ankle": "LeftFoot",
    "left_shoulder": "LeftArm", "left_elbow": "LeftForeArm", "left_wrist": "LeftHand",
}

LIMB_CHILD = {"right_hip": "right_knee", "right_knee": "right_ankle", "right_shoulder": "right_elbow",
              "right_elbow": "right_wrist", "left_hip": "left_knee", "left_knee": "left_ankle",
              "left_shoulder": "left_elbow", "left_elbow": "left_wrist"}
"""Joints whose rest bone (to the listed child) is aligned with the source's."""

HINGE_AXIS = np.array([0.0, 0.0, 1.0])
"""Knee and elbow axis in the Y-up file's axes (the MJCF's 0 -1 0)."""

_CHANNELS = {f"{a}{k}": f"{a}{k}" for a in "XYZ" for k in ("position", "rotation")}
_CHANNEL_LOOKUP = {c.lower(): c for c in _CHANNELS}
_AXIS = {"X": 0, "Y": 1, "Z": 2}


class BvhError(ValueError):
    """A malformed BVH file or joint map; the message names the file and line."""


@dataclass
class Bvh:
    """A BVH skeleton and its motion. Joint i's parent is ``parents[i]`` (-1 for the root)."""

    joints: list[str]
    parents: list[int]
    offsets: np.ndarray  # (J, 3)
    channels: list[tuple[str, ...]]
    frames: np.ndarray  # (F, total channels)
    frame_time: float
    end_sites: list[tuple[int, np.ndarray]] = field(default_factory=list)  # (joint, offset)
    name: str = "bvh"

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def channel_starts(self) -> list[int]:
        starts, c = [], 0
        for ch in self.channels:
            starts.append(c)
            c += len(ch)
        return starts

    def index(self, joint: str) -> int:
        return self.joints.index(joint)

    def children(self, j: int) -> list[int]:
        return [i for i, p in enumerate(self.parents) if p == j]

    def rest_positions(self) -> np.ndarray:
        """(J, 3) joint positions in the rest pose (offsets summed down the hierarchy)."""
        pos = np.zeros((len(self.joints), 3))
        for j, p in enumerate(self.parents):
            pos[j] = self.offsets[j] + (pos[p] if p >= 0 else 0.0)
        return pos

    def local_rotations(self) -> np.ndarray:
        """(F, J, 4) unit quaternions (w, x, y, z) of each joint's rotation channels."""
        F = self.num_frames
        out = np.zeros((F, len(self.joints), 4))
        out[..., 0] = 1.0
        for j, (start, chans) in enumerate(zip(self.channel_starts, self.channels)):
            q = out[:, j]
            for k, ch in enumerate(chans):
                if ch.endswith("rotation"):
                    q = quat_mul(q, _axis_quat(_AXIS[ch[0]], np.radians(self.frames[:, start + k])))
            out[:, j] = q
        return out

    def local_translations(self) -> np.ndarray:
        """(F, J, 3) translations in the parent's frame: the offset, or the position channels."""
        F = self.num_frames
        out = np.broadcast_to(self.offsets, (F, len(self.joints), 3)).copy()
        for j, (start, chans) in enumerate(zip(self.channel_starts, self.channels)):
            for k, ch in enumerate(chans):
                if ch.endswith("position"):
                    out[:, j, _AXIS[ch[0]]] = self.frames[:, start + k]
        return out

    def forward_kinematics(self) -> tuple[np.ndarray, np.ndarray]:
        """(world rotations (F, J, 4), world positions (F, J, 3)) of every joint."""
        local_q, local_t = self.local_rotations(), self.local_translations()
        rot = np.zeros_like(local_q)
        pos = np.zeros_like(local_t)
        for j, p in enumerate(self.parents):
            if p < 0:
                rot[:, j], pos[:, j] = local_q[:, j], local_t[:, j]
            else:
                rot[:, j] = quat_mul(rot[:, p], local_q[:, j])
                pos[:, j] = pos[:, p] + np.einsum("fij,fj->fi", quat_to_mat(rot[:, p]), local_t[:, j])
        return rot, pos


# ----------------------------------------------------------------------------------
# Rotation helpers
# ----------------------------------------------------------------------------------
def _axis_quat(axis: int, angle: np.ndarray) -> np.ndarray:
    angle = np.asarray(angle, dtype=np.float64)
    q = np.zeros(angle.shape + (4,))
    q[..., 0] = np.cos(angle / 2)
    q[..., 1 + axis] = np.sin(angle / 2)
    return q


def _normalize(q: np.ndarray) -> np.ndarray:
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def quat_angle(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Angle (radians) of the rotation between unit quaternions p and q; sign-invariant."""
    d = quat_mul(quat_conj(_normalize(p)), _normalize(q))
    return 2.0 * np.arctan2(np.linalg.norm(d[..., 1:], axis=-1), np.abs(d[..., 0]))


def quat_from_mat(m: np.ndarray) -> np.ndarray:
    """Unit quaternions (w >= 0) of rotation matrices (..., 3, 3)."""
    m = np.asarray(m, dtype=np.float64)
    tr = np.trace(m, axis1=-2, axis2=-1)
    cands = np.stack([
        np.stack([1 + tr, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1),
        np.stack([m[..., 2, 1] - m[..., 1, 2], 1 + 2 * m[..., 0, 0] - tr, m[..., 0, 1] + m[..., 1, 0],
                  m[..., 0, 2] + m[..., 2, 0]], -1),
        np.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0], 1 + 2 * m[..., 1, 1] - tr,
                  m[..., 1, 2] + m[..., 2, 1]], -1),
        np.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1],
                  1 + 2 * m[..., 2, 2] - tr], -1),
    ], axis=-2)  # each row is 4 q_k q (up to a factor); pick the best-conditioned
    norms = np.linalg.norm(cands, axis=-1)
    best = np.argmax(norms, axis=-1)
    idx = np.repeat(best[..., None, None], 4, axis=-1)
    q = np.take_along_axis(cands, idx, axis=-2)[..., 0, :]
    q = _normalize(q)
    return np.where(q[..., :1] < 0, -q, q)


def euler_from_quat(q: np.ndarray, order: str) -> np.ndarray:
    """Angles (radians), one per axis of ``order`` (e.g. "ZXY"), with R(q) = R_o0(a0) R_o1(a1) R_o2(a2)."""
    axes = [_AXIS[c] for c in order.upper()]
    if sorted(axes) != [0, 1, 2]:
        raise ValueError(f"rotation order must be a permutation of XYZ, got {order!r}")
    perm = np.zeros((3, 3))
    for new, old in enumerate(axes):
        perm[new, old] = 1.0  # e_old -> e_new
    sign = float(np.linalg.det(perm))
    m = perm @ quat_to_mat(np.asarray(q, dtype=np.float64)) @ perm.T
    # m = Rx(s a) Ry(s b) Rz(s c) with s = det(perm)
    sb = np.clip(m[..., 0, 2], -1.0, 1.0)
    b = np.arcsin(sb)
    locked = np.abs(sb) > 1.0 - 1e-12
    a = np.where(locked, np.arctan2(m[..., 2, 1], m[..., 1, 1]), np.arctan2(-m[..., 1, 2], m[..., 2, 2]))
    c = np.where(locked, 0.0, np.arctan2(-m[..., 0, 1], m[..., 0, 0]))
    return sign * np.stack([a, b, c], axis=-1)


def quat_from_euler(angles: np.ndarray, order: str) -> np.ndarray:
    """Inverse of :func:`euler_from_quat`."""
    angles = np.asarray(angles, dtype=np.float64)
    q = np.zeros(angles.shape[:-1] + (4,))
    q[..., 0] = 1.0
    for k, c in enumerate(order.upper()):
        q = quat_mul(q, _axis_quat(_AXIS[c], angles[..., k]))
    return q


def shortest_arc(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Quaternion of the smallest rotation taking direction u onto direction v."""
    u = np.asarray(u, dtype=np.float64) / np.linalg.norm(u)
    v = np.asarray(v, dtype=np.float64) / np.linalg.norm(v)
    d = float(np.dot(u, v))
    if d < -1.0 + 1e-12:  # opposite: half turn about any perpendicular axis
        axis = np.cross(u, [1.0, 0.0, 0.0])
        if np.linalg.norm(axis) < 1e-6:
            axis = np.cross(u, [0.0, 1.0, 0.0])
        axis /= np.linalg.norm(axis)
        return np.array([0.0, *axis])
    return _normalize(np.array([1.0 + d, *np.cross(u, v)]))


def twist_angle(q: np.ndarray, axis: np.ndarray = HINGE_AXIS) -> np.ndarray:
    """Angle in (-pi, pi] of the twist of q about the unit ``axis`` (swing-twist decomposition)."""
    proj = q[..., 1:] @ np.asarray(axis, dtype=np.float64)
    ang = 2.0 * np.arctan2(proj, q[..., 0])
    return (ang + np.pi) % (2 * np.pi) - np.pi


def _zup_to_yup(v: np.ndarray) -> np.ndarray:
    """Inverse of motion.yup_to_zup_vec: (x, y, z) Z-up -> (x, z, -y) Y-up."""
    v = np.asarray(v, dtype=np.float64)
    return np.stack([v[..., 0], v[..., 2], -v[..., 1]], axis=-1)


# ----------------------------------------------------------------------------------
# The humanoid's skeleton (Y-up, from the MJCF)
# ----------------------------------------------------------------------------------
def humanoid_skeleton() -> tuple[list[str], list[int], np.ndarray]:
    """(body names, parents, Y-up offsets) of the humanoid's 15 bodies, root first, MJCF order."""
    m = character_model()
    root = m.body("root").id
    bodies = [b for b in range(m.nbody) if m.body_rootid[b] == root]
    names = [m.body(b).name for b in bodies]
    parents = [bodies.index(m.body_parentid[b]) if m.body_parentid[b] in bodies else -1 for b in bodies]
    offsets = _zup_to_yup(np.array([m.body_pos[b] for b in bodies]))
    offsets[0] = 0.0
    return names, parents, offsets


# ----------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------
class _Tokens:
    def __init__(self, lines: list[str], name: str, start: int = 0) -> None:
        self.items: list[tuple[str, int]] = []
        self.name = name
        self.motion_line = None
        for i in range(start, len(lines)):
            words = lines[i].split()
            if words and words[0].upper() == "MOTION":
                self.items.append(("MOTION", i + 1))
                self.motion_line = i
                break
            self.items.extend((w, i + 1) for w in words)
        self.pos = 0
        self.last_line = max(1, len(lines))

    def error(self, line: int, msg: str) -> BvhError:
        return BvhError(f"{self.name}:{line}: {msg}")

    def peek(self) -> tuple[str, int] | None:
        return self.items[self.pos] if self.pos < len(self.items) else None

    def next(self, what: str) -> tuple[str, int]:
        if self.pos >= len(self.items):
            raise self.error(self.last_line, f"unexpected end of file: expected {what}")
        tok = self.items[self.pos]
        self.pos += 1
        return tok

    def expect(self, word: str) -> int:
        tok, line = self.next(f"'{word}'")
        if tok.upper() != word.upper():
            raise self.error(line, f"expected '{word}', got '{tok}'")
        return line

    def rest_of_line(self, line: int) -> list[str]:
        out = []
        while self.pos < len(self.items) and self.items[self.pos][1] == line and self.items[self.pos][0] != "{":
            out.append(self.items[self.pos][0])
            self.pos += 1
        return out

    def number(self, what: str) -> float:
        tok, line = self.next(what)
        try:
            v = float(tok)
        except ValueError:
            raise self.error(line, f"expected a number ({what}), got '{tok}'") from None
        if not math.isfinite(v):
            raise self.error(line, f"{what} is not finite ('{tok}')")
        return v


def parse_bvh(text: str, name: str = "bvh") -> Bvh:
    """Parse BVH text; ``name`` prefixes error messages."""
    lines = text.splitlines()
    toks = _Tokens(lines, name)
    toks.expect("HIERARCHY")
    joints: list[str] = []
    parents: list[int] = []
    offsets: list[np.ndarray | None] = []
    channels: list[tuple[str, ...]] = []
    end_sites: list[tuple[int, np.ndarray]] = []
    open_lines: list[int] = []
    stack: list[int] = []

    def offset_xyz(what: str) -> np.ndarray:
        return np.array([toks.number(f"{what} OFFSET x"), toks.number(f"{what} OFFSET y"),
                         toks.number(f"{what} OFFSET z")])

    def open_joint(kind_line: int, parent: int) -> None:
        words = toks.rest_of_line(kind_line)
        if not words:
            raise toks.error(kind_line, "expected a joint name")
        jname = " ".join(words)
        if jname in joints:
            raise toks.error(kind_line, f"duplicate joint name '{jname}'")
        tok = toks.peek()
        if tok is None:
            raise toks.error(toks.last_line, f"unexpected end of file: expected '{{' after joint '{jname}'")
        if tok[0] != "{":
            raise toks.error(tok[1], f"expected '{{' after joint '{jname}', got '{tok[0]}'")
        toks.pos += 1
        joints.append(jname)
        parents.append(parent)
        offsets.append(None)
        channels.append(())
        open_lines.append(kind_line)
        stack.append(len(joints) - 1)

    tok, line = toks.next("ROOT")
    if tok.upper() != "ROOT":
        raise toks.error(line, f"expected 'ROOT', got '{tok}'")
    open_joint(line, -1)
    while stack:
        j = stack[-1]
        if toks.peek() is None:
            raise toks.error(toks.last_line, f"unexpected end of file: missing '}}' closing joint '{joints[j]}' "
                             f"(opened at line {open_lines[j]})")
        tok, line = toks.next("'}'")
        word = tok.upper()
        if word == "MOTION":
            raise toks.error(line, f"expected '}}' closing joint '{joints[j]}' (opened at line {open_lines[j]}) "
                             "before MOTION")
        if word == "}":
            if offsets[j] is None:
                raise toks.error(line, f"joint '{joints[j]}' has no OFFSET")
            stack.pop()
        elif word == "OFFSET":
            if offsets[j] is not None:
                raise toks.error(line, f"second OFFSET for joint '{joints[j]}'")
            offsets[j] = offset_xyz(f"joint '{joints[j]}'")
        elif word == "CHANNELS":
            if channels[j]:
                raise toks.error(line, f"second CHANNELS for joint '{joints[j]}'")
            ntok, nline = toks.next("the channel count")
            try:
                n = int(ntok)
            except ValueError:
                raise toks.error(nline, f"expected the channel count of joint '{joints[j]}', got '{ntok}'") from None
            if not 1 <= n <= 6:
                raise toks.error(nline, f"bad channel count {n} for joint '{joints[j]}' (must be 1 to 6)")
            names = toks.rest_of_line(nline)
            if len(names) != n:
                raise toks.error(nline, f"bad channel count: CHANNELS {n} for joint '{joints[j]}' lists "
                                 f"{len(names)} channel name(s)")
            chans = []
            for c in names:
                if c.lower() not in _CHANNEL_LOOKUP:
                    raise toks.error(nline, f"unknown channel '{c}' for joint '{joints[j]}' "
                                     "(expected X/Y/Z position or rotation)")
                chans.append(_CHANNEL_LOOKUP[c.lower()])
            if len(set(chans)) != len(chans):
                raise toks.error(nline, f"repeated channel for joint '{joints[j]}'")
            channels[j] = tuple(chans)
        elif word == "JOINT":
            open_joint(line, j)
        elif word == "END":
            site_line = line
            nxt = toks.peek()
            if nxt is not None and nxt[0].upper() == "SITE":
                toks.pos += 1
            tok2 = toks.peek()
            if tok2 is None or tok2[0] != "{":
                raise toks.error(tok2[1] if tok2 else toks.last_line,
                                 f"expected '{{' after End Site of joint '{joints[j]}'"
                                 + (f", got '{tok2[0]}'" if tok2 else ""))
            toks.pos += 1
            toks.expect("OFFSET")
            off = offset_xyz(f"End Site of joint '{joints[j]}'")
            tok3, l3 = toks.next("'}'")
            if tok3 != "}":
                raise toks.error(l3, f"expected '}}' closing the End Site of joint '{joints[j]}' "
                                 f"(opened at line {site_line}), got '{tok3}'")
            end_sites.append((j, off))
        elif word == "ROOT":
            raise toks.error(line, "a second ROOT is not supported")
        else:
            raise toks.error(line, f"unexpected '{tok}' in joint '{joints[j]}'")

    tok = toks.peek()
    if tok is None:
        raise toks.error(toks.last_line, "unexpected end of file: expected 'MOTION'")
    if tok[0] != "MOTION":
        raise toks.error(tok[1], f"expected 'MOTION', got '{tok[0]}'")
    total = sum(len(c) for c in channels)

    # MOTION section: line by line
    i = toks.motion_line + 1

    def next_line(what: str) -> tuple[int, str]:
        nonlocal i
        while i < len(lines) and not lines[i].strip():
            i += 1
        if i >= len(lines):
            raise BvhError(f"{name}:{len(lines)}: unexpected end of file: expected {what}")
        i += 1
        return i, lines[i - 1].strip()

    line_no, text_line = next_line("'Frames:'")
    m = re.fullmatch(r"Frames:\s*(\S+)", text_line, flags=re.IGNORECASE)
    if not m:
        raise BvhError(f"{name}:{line_no}: expected 'Frames: <count>', got '{text_line}'")
    try:
        n_frames = int(m.group(1))
    except ValueError:
        raise BvhError(f"{name}:{line_no}: frame count '{m.group(1)}' is not an integer") from None
    if n_frames < 0:
        raise BvhError(f"{name}:{line_no}: frame count {n_frames} is negative")
    frames_line = line_no
    line_no, text_line = next_line("'Frame Time:'")
    m = re.fullmatch(r"Frame\s+Time:\s*(\S+)", text_line, flags=re.IGNORECASE)
    if not m:
        raise BvhError(f"{name}:{line_no}: expected 'Frame Time: <seconds>', got '{text_line}'")
    try:
        frame_time = float(m.group(1))
    except ValueError:
        frame_time = float("nan")
    if not (math.isfinite(frame_time) and frame_time > 0):
        raise BvhError(f"{name}:{line_no}: frame time '{m.group(1)}' is not a positive number")

    data = np.zeros((n_frames, total))
    count = 0
    last_data_line = line_no
    for k in range(i, len(lines)):
        words = lines[k].split()
        if not words:
            continue
        if count >= n_frames:
            raise BvhError(f"{name}:{k + 1}: frame count mismatch: 'Frames: {n_frames}' (line {frames_line}) "
                           f"but more frame lines follow")
        if len(words) != total:
            raise BvhError(f"{name}:{k + 1}: frame {count} has {len(words)} values, expected {total} "
                           f"(the hierarchy's channels)")
        try:
            row = [float(w) for w in words]
        except ValueError:
            bad = next(w for w in words if not _is_float(w))
            raise BvhError(f"{name}:{k + 1}: frame {count}: non-numeric value '{bad}'") from None
        if not all(math.isfinite(v) for v in row):
            bad = next(w for w in words if not math.isfinite(float(w)))
            raise BvhError(f"{name}:{k + 1}: frame {count}: non-finite value '{bad}'")
        data[count] = row
        count += 1
        last_data_line = k + 1
    if count != n_frames:
        raise BvhError(f"{name}:{last_data_line}: frame count mismatch: 'Frames: {n_frames}' (line {frames_line}) "
                       f"but the file has {count} frame line(s)")
    return Bvh(joints, parents, np.array(offsets, dtype=np.float64).reshape(-1, 3), channels, data, frame_time,
               end_sites, name)


def _is_float(w: str) -> bool:
    try:
        float(w)
        return True
    except ValueError:
        return False


def read_bvh(path: str | os.PathLike) -> Bvh:
    """Read and validate a BVH file (errors are :class:`BvhError` naming file and line)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="strict")
    except FileNotFoundError:
        raise BvhError(f"{p.name}: no such BVH file (looked at {p.resolve()})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BvhError(f"{p.name}: unreadable: {exc}") from None
    return parse_bvh(text, p.name)


# ----------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------
def _fmt(v: float) -> str:
    s = repr(float(v))
    return "0" if s in ("0.0", "-0.0") else s


def format_bvh(bvh: Bvh) -> str:
    """BVH text of a :class:`Bvh` (values written exactly, with repr)."""
    out = ["HIERARCHY"]
    sites: dict[int, list[np.ndarray]] = {}
    for j, off in bvh.end_sites:
        sites.setdefault(j, []).append(off)

    def emit(j: int, depth: int) -> None:
        ind = "  " * depth
        out.append(f"{ind}{'ROOT' if bvh.parents[j] < 0 else 'JOINT'} {bvh.joints[j]}")
        out.append(f"{ind}{{")
        out.append(f"{ind}  OFFSET {' '.join(_fmt(v) for v in bvh.offsets[j])}")
        if bvh.channels[j]:
            out.append(f"{ind}  CHANNELS {len(bvh.channels[j])} {' '.join(bvh.channels[j])}")
        for c in bvh.children(j):
            emit(c, depth + 1)
        for off in sites.get(j, []):
            out.extend([f"{ind}  End Site", f"{ind}  {{", f"{ind}    OFFSET {' '.join(_fmt(v) for v in off)}",
                        f"{ind}  }}"])
        out.append(f"{ind}}}")

    roots = [j for j, p in enumerate(bvh.parents) if p < 0]
    if len(roots) != 1:
        raise ValueError(f"a BVH needs exactly one root joint, got {len(roots)}")
    emit(roots[0], 0)
    out += ["MOTION", f"Frames: {bvh.num_frames}", f"Frame Time: {_fmt(bvh.frame_time)}"]
    out += [" ".join(_fmt(v) for v in row) for row in bvh.frames]
    return "\n".join(out) + "\n"


def write_bvh(bvh: Bvh, path: str | os.PathLike) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(format_bvh(bvh))
    return p


# ----------------------------------------------------------------------------------
# DeepMimic frames <-> BVH
# ----------------------------------------------------------------------------------
_FIELD = {n: (s, w) for n, s, w in FRAME_FIELDS}


def _frames_array(frames: Any) -> np.ndarray:
    if isinstance(frames, Mapping):
        frames = frames["Frames"]
    arr = np.asarray(frames, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != FRAME_WIDTH or len(arr) < 1:
        raise ValueError(f"expected DeepMimic frames of shape (F, {FRAME_WIDTH}), got {arr.shape}")
    return arr


def deepmimic_local_quats(frames: Any) -> dict[str, np.ndarray]:
    """Per humanoid joint, (F, 4) unit quaternions (Y-up file axes) of DeepMimic frames;
    ``root`` is the world orientation, knees and elbows are rotations about +z."""
    arr = _frames_array(frames)
    out = {"root": _normalize(arr[:, 4:8])}
    for j in SPHERICAL_JOINTS:
        s, _ = _FIELD[j]
        out[j] = _normalize(arr[:, s:s + 4])
    for j in REVOLUTE_JOINTS:
        s, _ = _FIELD[j]
        out[j] = _axis_quat(2, arr[:, s])
    return out


def deepmimic_to_bvh(frames: Any, path: str | os.PathLike | None = None, rotation_order: str = "ZXY",
                     frame_time: float | None = None) -> Bvh:
    """DeepMimic frames (an (F, 44) array, or a clip dict with "Frames") as a BVH with the humanoid's
    skeleton in metres (Y-up, CMU-style names, see :data:`HUMANOID_BVH_NAMES`); written to ``path``
    when given.  The frame time is the median frame duration unless given (BVH has one frame time)."""
    arr = _frames_array(frames)
    order = rotation_order.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise ValueError(f"rotation order must be a permutation of XYZ, got {rotation_order!r}")
    names, parents, offsets = humanoid_skeleton()
    quats = deepmimic_local_quats(arr)
    rot_ch = tuple(f"{c}rotation" for c in order)
    joints, bparents, boffsets, channels, cols, sites = [], [], [], [], [], []
    index_of: dict[int, int] = {}
    for b, (n, p) in enumerate(zip(names, parents)):
        if n in quats:  # a moving joint
            index_of[b] = len(joints)
            joints.append(HUMANOID_BVH_NAMES[n])
            bparents.append(index_of[p] if p >= 0 else -1)
            boffsets.append(offsets[b])
            if p < 0:
                channels.append(("Xposition", "Yposition", "Zposition") + rot_ch)
                cols.append(arr[:, 1:4])
            else:
                channels.append(rot_ch)
            cols.append(np.degrees(euler_from_quat(quats[n], order)))
        else:  # a fixed body (wrist): an end site
            sites.append((index_of[p], offsets[b]))
    # end sites for the head and the toes, so every chain ends as BVH readers expect
    by_name = dict(zip(names, range(len(names))))
    m = character_model()
    for side in ("right", "left"):
        toe = _zup_to_yup(m.site(f"{side}_foot").pos)
        sites.append((index_of[by_name[f"{side}_ankle"]], toe))
    sites.append((index_of[by_name["neck"]], np.array([0.0, 0.35, 0.0])))
    if frame_time is None:
        d = arr[:-1, 0] if len(arr) > 1 else arr[:, 0]
        frame_time = float(np.median(d)) if d.size and np.median(d) > 0 else 1.0 / 30.0
    bvh = Bvh(joints, bparents, np.array(boffsets), channels, np.concatenate(cols, axis=1), float(frame_time),
              sites, name=Path(path).name if path is not None else "humanoid.bvh")
    if path is not None:
        write_bvh(bvh, path)
    return bvh


# ----------------------------------------------------------------------------------
# Joint maps and retargeting
# ----------------------------------------------------------------------------------
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
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BvhError(f"{p.name}:{exc.lineno}: not valid JSON: {exc.msg}") from None
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


def _resolve_map(bvh: Bvh, joint_map: Mapping[str, str | None] | None) -> dict[str, int]:
    """humanoid joint -> source joint index (the deepest source joint mapped onto it)."""
    if joint_map is None:
        default = {**DEFAULT_JOINT_MAP, **{t: t for t in TARGET_JOINTS}}
        pairs = [(s, t) for s, t in default.items() if s in bvh.joints]
        where = lambda key: "default joint map"  # noqa: E731
    else:
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


def bvh_to_deepmimic(bvh: Bvh, joint_map: Mapping[str, str | None] | None = None, *, scale: float | None = None,
                     loop: str = "none") -> dict[str, Any]:
    """Retarget a BVH onto the humanoid: a DeepMimic clip document {"Loop", "Frames"} (see module doc).

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

    # C: the humanoid's rest frame (forward +x, up +y, left -z) onto the source's
    up = np.array([0.0, 1.0, 0.0])
    left = None
    for a, b in (("left_hip", "right_hip"), ("left_shoulder", "right_shoulder")):
        if a in rep and b in rep:
            d = rest[rep[a]] - rest[rep[b]]
            d = d - up * d[1]
            if np.linalg.norm(d) > 1e-9:
                left = d / np.linalg.norm(d)
                break
    if left is None:
        c = np.array([1.0, 0.0, 0.0, 0.0])
    else:
        src = np.stack([np.cross(left, up), up, left], axis=1)
        tgt = np.stack([[1.0, 0.0, 0.0], up, [0.0, 0.0, -1.0]], axis=1)
        c = quat_from_mat(src @ tgt.T)
    c_inv = quat_conj(c)
    c_mat = quat_to_mat(c)

    if scale is None:
        scale = 1.0
        for side in ("right", "left"):
            hip, knee, ankle = (f"{side}_hip", f"{side}_knee", f"{side}_ankle")
            if all(k in rep for k in (hip, knee, ankle)):
                src_len = (np.linalg.norm(rest[rep[knee]] - rest[rep[hip]])
                           + np.linalg.norm(rest[rep[ankle]] - rest[rep[knee]]))
                tgt_len = np.linalg.norm(toff[knee]) + np.linalg.norm(toff[ankle])
                if src_len > 1e-9:
                    scale = float(tgt_len / src_len)
                break
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be positive, got {scale}")

    F = bvh.num_frames
    world: dict[str, np.ndarray] = {}
    for n in TARGET_JOINTS:  # parents come before children in this order
        if n not in rep:
            world[n] = world[tparent[n]] if n != "root" else np.tile([1.0, 0.0, 0.0, 0.0], (F, 1))
            continue
        j = rep[n]
        align = c
        if n in LIMB_CHILD:
            d_src = _source_child_direction(bvh, rest, j, LIMB_CHILD[n], rep)
            if d_src is not None:
                align = quat_mul(shortest_arc(c_mat @ toff[LIMB_CHILD[n]], d_src), c)
        world[n] = quat_mul(quat_mul(c_inv, g_src[:, j]), align)

    out = np.zeros((F, FRAME_WIDTH))
    out[:, 0] = bvh.frame_time
    out[-1, 0] = 0.0
    out[:, 1:4] = scale * np.einsum("ij,fj->fi", quat_to_mat(c_inv), p_src[:, rep["root"]])
    out[:, 4:8] = _continuous(world["root"])
    for n in SPHERICAL_JOINTS:  # an unmapped joint stays exactly at rest
        s, _ = _FIELD[n]
        out[:, s:s + 4] = (_continuous(quat_mul(quat_conj(world[tparent[n]]), world[n])) if n in rep
                           else [1.0, 0.0, 0.0, 0.0])
    for n in REVOLUTE_JOINTS:
        s, _ = _FIELD[n]
        if n in rep:
            out[:, s] = np.unwrap(twist_angle(quat_mul(quat_conj(world[tparent[n]]), world[n])))
    return {"Loop": loop, "Frames": out.tolist()}


def _continuous(q: np.ndarray) -> np.ndarray:
    """Unit quaternions with w >= 0 in the first frame and no sign flips between frames."""
    q = _normalize(q).copy()
    if q[0, 0] < 0:
        q[0] *= -1
    for i in range(1, len(q)):
        if np.dot(q[i], q[i - 1]) < 0:
            q[i] *= -1
    return q


def write_deepmimic(clip: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write a DeepMimic clip document ({"Loop", "Frames"}) as the usual JSON, one frame per line."""
    frames = _frames_array(clip)
    loop = clip.get("Loop", "wrap")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    rows = ",\n".join("[" + ", ".join(repr(float(v)) for v in row) + "]" for row in frames)
    p.write_text(f'{{\n"Loop": {json.dumps(loop)},\n"Frames":\n[\n{rows}\n]\n}}\n')
    return p


def convert_bvh(in_path: str | os.PathLike, out_path: str | os.PathLike, map_path: str | os.PathLike | None = None,
                *, scale: float | None = None, loop: str = "none") -> Path:
    """``trpo-mimic convert-bvh``: read a BVH, retarget it (default or JSON joint map), write a DeepMimic clip."""
    bvh = read_bvh(in_path)
    joint_map = load_joint_map(map_path) if map_path is not None else None
    return write_deepmimic(bvh_to_deepmimic(bvh, joint_map, scale=scale, loop=loop), out_path)


__all__ = ["Bvh", "BvhError", "DEFAULT_JOINT_MAP", "JointMap", "TARGET_JOINTS", "bvh_to_deepmimic", "convert_bvh",
           "deepmimic_to_bvh", "euler_from_quat", "format_bvh", "load_joint_map", "parse_bvh", "quat_angle",
           "quat_from_euler", "read_bvh", "write_bvh", "write_deepmimic"]
