"""Writing BVH: :func:`format_bvh` / :func:`write_bvh`, DeepMimic frames as a BVH of the humanoid
(:func:`deepmimic_to_bvh`), and :func:`convert_bvh`, the ``trpo-mimic convert-bvh`` job."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..character import FIELD_START, REVOLUTE_JOINTS, SPHERICAL_JOINTS, character_model, humanoid_skeleton
from ..clipfile import frames_array, write_deepmimic
from ..quat import axis_quat, euler_from_quat, normalize, zup_to_yup_vec
from .parse import read_bvh
from .retarget import bvh_to_deepmimic, load_joint_map
from .skeleton import Bvh

# BVH names used by deepmimic_to_bvh for the humanoid's bodies (the inverse of the default map)
HUMANOID_BVH_NAMES: dict[str, str] = {
    "root": "Hips", "chest": "Spine", "neck": "Neck",
    "right_hip": "RightUpLeg", "right_knee": "RightLeg", "right_ankle": "RightFoot",
    "right_shoulder": "RightArm", "right_elbow": "RightForeArm", "right_wrist": "RightHand",
    "left_hip": "LeftUpLeg", "left_knee": "LeftLeg", "left_ankle": "LeftFoot",
    "left_shoulder": "LeftArm", "left_elbow": "LeftForeArm", "left_wrist": "LeftHand",
}


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


def deepmimic_local_quats(frames: Any) -> dict[str, np.ndarray]:
    """Per humanoid joint, (F, 4) unit quaternions (Y-up file axes) of DeepMimic frames;
    ``root`` is the world orientation, knees and elbows are rotations about +z."""
    arr = frames_array(frames)
    out = {"root": normalize(arr[:, 4:8])}
    for j in SPHERICAL_JOINTS:
        s = FIELD_START[j]
        out[j] = normalize(arr[:, s:s + 4])
    for j in REVOLUTE_JOINTS:
        out[j] = axis_quat(2, arr[:, FIELD_START[j]])
    return out


def deepmimic_to_bvh(frames: Any, path: str | os.PathLike | None = None, rotation_order: str = "ZXY",
                     frame_time: float | None = None) -> Bvh:
    """DeepMimic frames (an (F, 44) array, or a clip dict with "Frames") as a BVH with the humanoid's
    skeleton in metres (Y-up, CMU-style names, see :data:`HUMANOID_BVH_NAMES`); written to ``path``
    when given.  The frame time is the median frame duration unless given (BVH has one frame time)."""
    arr = frames_array(frames)
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
        toe = zup_to_yup_vec(m.site(f"{side}_ankle_sole").pos)
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


def convert_bvh(in_path: str | os.PathLike, out_path: str | os.PathLike, map_path: str | os.PathLike | None = None,
                *, scale: float | None = None, loop: str = "none") -> Path:
    """``trpo-mimic convert-bvh``: read a BVH, retarget it (default or JSON joint map), write a DeepMimic clip."""
    bvh = read_bvh(in_path)
    joint_map = load_joint_map(map_path) if map_path is not None else None
    return write_deepmimic(bvh_to_deepmimic(bvh, joint_map, scale=scale, loop=loop), out_path)
