"""The humanoid character: its MJCF, named indices, and the DeepMimic frame layout.

A DeepMimic frame holds 44 numbers (see ``FRAME_FIELDS``) in Y-up file axes.  Conversion
to the project's MJCF (``assets/humanoid3d.xml``, Z-up) is :func:`frames_to_qpos`: the
root by :func:`~.quat.yup_to_zup_vec` / :func:`~.quat.yup_to_zup_quat`; a spherical
joint's local rotation ``R`` is split into the three hinges of the MJCF as
``R = Rx(a) Ry(b) Rz(c)`` (the character file's axes), which are exactly the MJCF's
``<joint>_x, _y, _z`` angles.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import mujoco
import numpy as np

from . import charfile
from .quat import zup_to_yup_vec

ASSET_XML = Path(__file__).resolve().parent / "assets" / "humanoid3d.xml"

FRAME_WIDTH = 44

# (field name, start, width) for one DeepMimic frame, in file order.
FRAME_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("duration", 0, 1),
    ("root_pos", 1, 3),
    ("root_rot", 4, 4),
    ("chest", 8, 4),
    ("neck", 12, 4),
    ("right_hip", 16, 4),
    ("right_knee", 20, 1),
    ("right_ankle", 21, 4),
    ("right_shoulder", 25, 4),
    ("right_elbow", 29, 1),
    ("left_hip", 30, 4),
    ("left_knee", 34, 1),
    ("left_ankle", 35, 4),
    ("left_shoulder", 39, 4),
    ("left_elbow", 43, 1),
)
FIELD_START = {name: start for name, start, _ in FRAME_FIELDS}
"""Field name -> its first index in a frame."""
FIELD_OF_INDEX = [name for name, start, width in FRAME_FIELDS for _ in range(width)]
"""Frame index -> the name of its field."""

SPHERICAL_JOINTS = ("chest", "neck", "right_hip", "right_ankle", "right_shoulder",
                    "left_hip", "left_ankle", "left_shoulder")
REVOLUTE_JOINTS = ("right_knee", "right_elbow", "left_knee", "left_elbow")
END_EFFECTOR_SITES = ("right_ankle", "left_ankle", "right_wrist", "left_wrist")
SOLE_SITES = {"right_ankle": "right_foot", "left_ankle": "left_foot"}
"""The sole sites' names in the hand-written MJCF (``charfile.to_mjcf(..., sole_sites=SOLE_SITES)``
compiles ``humanoid3d.txt`` to the same model)."""
ROOT_BODY = "root"
HINGE_AXIS = np.array([0.0, 0.0, 1.0])
"""Knee and elbow axis in the Y-up file's axes (the MJCF's 0 -1 0)."""


@lru_cache(maxsize=1)
def character_model() -> mujoco.MjModel:
    """The project's humanoid MJCF, compiled once per process (do not mutate)."""
    return mujoco.MjModel.from_xml_path(str(ASSET_XML))


@dataclass(frozen=True)
class CharacterIndex:
    """Named indices into the MJCF, resolved once by name (no magic numbers)."""

    root_body: int
    root_qpos: int  # start of the free joint's 7 qpos
    root_qvel: int  # start of the free joint's 6 qvel
    bodies: np.ndarray  # the 15 character bodies, model order
    pose_bodies: np.ndarray  # bodies with an actuated joint (12), model order
    pose_parents: np.ndarray  # their parent bodies
    pose_names: tuple[str, ...]
    ee_sites: np.ndarray  # END_EFFECTOR_SITES
    joint_qpos: dict  # character joint name -> qpos addresses (3 or 1)
    hinge_qpos: np.ndarray  # qpos address of every hinge, actuator order
    hinge_qvel: np.ndarray

    @property
    def joint_bodies(self) -> np.ndarray:
        """The bodies whose rotations the reward compares: the root, then ``pose_bodies``."""
        return np.concatenate([[self.root_body], self.pose_bodies])

    @property
    def joint_parents(self) -> np.ndarray:
        """Their parents (the world body 0 for the root: its rotation is the identity)."""
        return np.concatenate([[0], self.pose_parents])

    @staticmethod
    def of(model: mujoco.MjModel) -> "CharacterIndex":
        """Resolve every index by name."""
        root = model.body(ROOT_BODY).id
        rj = model.joint(ROOT_BODY)
        bodies = np.array([b for b in range(model.nbody) if model.body_rootid[b] == root])
        pose_bodies, joint_qpos = [], {}
        for b in bodies:
            jids = [j for j in range(model.njnt) if model.jnt_bodyid[j] == b
                    and model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE]
            if jids:
                pose_bodies.append(b)
                joint_qpos[model.body(b).name] = np.array([model.jnt_qposadr[j] for j in jids])
        pose_bodies = np.array(pose_bodies)
        names = tuple(model.body(b).name for b in pose_bodies)
        trn = model.actuator_trnid[:, 0]
        return CharacterIndex(
            root_body=root, root_qpos=int(rj.qposadr[0]), root_qvel=int(rj.dofadr[0]),
            bodies=bodies, pose_bodies=pose_bodies,
            pose_parents=np.array([model.body_parentid[b] for b in pose_bodies]),
            pose_names=names,
            ee_sites=np.array([model.site(s).id for s in END_EFFECTOR_SITES]),
            joint_qpos=joint_qpos,
            hinge_qpos=model.jnt_qposadr[trn].copy(), hinge_qvel=model.jnt_dofadr[trn].copy(),
        )


@lru_cache(maxsize=1)
def character_index() -> CharacterIndex:
    """Indices of :func:`character_model`."""
    return CharacterIndex.of(character_model())


def frames_to_qpos(frames: np.ndarray, model: mujoco.MjModel | None = None) -> np.ndarray:
    """Convert validated DeepMimic frames (F, 44) to MJCF qpos (F, nq); hinges unwrapped
    (:func:`.charfile.frames_to_qpos` with the humanoid's ``FRAME_FIELDS``)."""
    return charfile.frames_to_qpos(frames, model or character_model(), FRAME_FIELDS)


def humanoid_skeleton() -> tuple[list[str], list[int], np.ndarray]:
    """(body names, parents, Y-up offsets) of the humanoid's 15 bodies, root first, MJCF order."""
    m = character_model()
    root = m.body(ROOT_BODY).id
    bodies = [b for b in range(m.nbody) if m.body_rootid[b] == root]
    names = [m.body(b).name for b in bodies]
    parents = [bodies.index(m.body_parentid[b]) if m.body_parentid[b] in bodies else -1 for b in bodies]
    offsets = zup_to_yup_vec(np.array([m.body_pos[b] for b in bodies]))
    offsets[0] = 0.0
    return names, parents, offsets
