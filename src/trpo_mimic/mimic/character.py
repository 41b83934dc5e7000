"""Simulated characters: their MJCF, what the environment needs of them, named indices.

A character is an MJCF model compiled from a DeepMimic character file and its PD controller file by
:mod:`.charmjcf` (in memory: ``character_file=dog3d.txt``; or once, to a file: the humanoid's
``assets/humanoid3d.xml``, written by ``trpo-mimic build-character src/trpo_mimic/data/motions/humanoid3d.txt
--controller src/trpo_mimic/data/motions/humanoid3d_phase_rot_ctrl.txt --out src/trpo_mimic/mimic/assets/humanoid3d.xml``
and checked against it by the tests). The compiled model carries what the
environment needs beyond the physics in its ``<custom>`` fields (:class:`CharacterSpec`): the joints in ID
order, the clip frame layout, the end effectors and their soles, the fall-contact bodies and the reward's
joint weights (``DiffWeight``). So the frame layout, the reward weights and the end effectors come from the
character, never from constants written for one of them; the humanoid's constants below
(``FRAME_FIELDS`` ...) are read from its model, for the code that only ever deals with the humanoid (BVH
retargeting, the builtin clips).

A DeepMimic frame holds the duration, the root position (3) and rotation (4), then each joint's local
rotation in ID order (a quaternion for a spherical joint, an angle for a revolute one), in Y-up file axes.
Conversion to qpos (Z-up) is :func:`.chargeom.frames_to_qpos`: a spherical joint's rotation ``R`` is split
as ``R = Rx(a) Ry(b) Rz(c)`` (the file's axes) into the MJCF's ``<joint>_x, _y, _z`` hinges.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import mujoco
import numpy as np

from . import charfile, chargeom, charmjcf
from .quat import zup_to_yup_vec

ASSET_XML = Path(__file__).resolve().parent / "assets" / "humanoid3d.xml"
"""The humanoid, compiled from DeepMimic's ``humanoid3d.txt`` and ``humanoid3d_phase_rot_ctrl.txt``."""
ROOT_BODY = "root"
HINGE_AXIS = np.array([0.0, 0.0, 1.0])
"""Knee and elbow axis in the Y-up file's axes (the MJCF's 0 -1 0)."""


def _custom_id(model: mujoco.MjModel, kind: str, name: str, required: bool = True) -> int:
    """Id of the model's ``<custom><kind name=...>`` (-1 when absent and not required)."""
    obj = mujoco.mjtObj.mjOBJ_TEXT if kind == "text" else mujoco.mjtObj.mjOBJ_NUMERIC
    i = mujoco.mj_name2id(model, obj, name)
    if i < 0 and required:
        raise ValueError(f"the model has no <custom><{kind} name='{name}'>: not a character compiled by trpo-mimic "
                         f"(trpo-mimic build-character)")
    return i


def _custom_text(model: mujoco.MjModel, name: str) -> list[str]:
    i = _custom_id(model, "text", name)
    a, n = int(model.text_adr[i]), int(model.text_size[i])
    words = bytes(model.text_data[a:a + n - 1]).decode().split()
    return [] if words == ["-"] else words


def _custom_numeric(model: mujoco.MjModel, name: str, required: bool = True) -> np.ndarray | None:
    i = _custom_id(model, "numeric", name, required)
    if i < 0:
        return None
    a, n = int(model.numeric_adr[i]), int(model.numeric_size[i])
    return model.numeric_data[a:a + n].copy()


@dataclass(frozen=True)
class CharacterSpec:
    """What the environment needs of a character beyond its physics, as :mod:`.charmjcf` writes it into the
    model's ``<custom>`` fields."""

    joints: tuple[str, ...]  # ID order, the root first
    frame_fields: tuple[tuple[str, int, int], ...]  # (field, start, width) of one clip frame
    end_effectors: tuple[str, ...]  # their sites (named after the joints), ID order
    soles: tuple[str, ...]  # sole sites (the lowest points of the feet)
    fall_contact: tuple[str, ...]  # bodies with DeepMimic's EnableFallContact
    diff_weights: dict  # joint name -> DiffWeight (the pose and velocity errors' weight)
    update_rate: float | None = None  # the controller's UpdateRate (Hz), if the model was built with one

    @staticmethod
    def of(model: mujoco.MjModel) -> "CharacterSpec":
        joints = tuple(_custom_text(model, "deepmimic_joints"))
        fields, start = [("duration", 0, 1), ("root_pos", 1, 3), ("root_rot", 4, 4)], 8
        for item in _custom_text(model, "deepmimic_frame"):
            name, width = item.rsplit(":", 1)
            fields.append((name, start, int(width)))
            start += int(width)
        weights = dict(zip(joints, map(float, _custom_numeric(model, "deepmimic_diff_weights"))))
        rate = _custom_numeric(model, "deepmimic_update_rate", required=False)
        rate = None if rate is None else float(rate[0])
        return CharacterSpec(joints, tuple(fields), tuple(_custom_text(model, "deepmimic_end_effectors")),
                             tuple(_custom_text(model, "deepmimic_soles")),
                             tuple(_custom_text(model, "deepmimic_fall_contact")), weights, rate)

    @property
    def frame_width(self) -> int:
        _, start, width = self.frame_fields[-1]
        return start + width

    @property
    def field_start(self) -> dict[str, int]:
        """Field name -> its first index in a frame."""
        return {name: start for name, start, _ in self.frame_fields}

    @property
    def field_of_index(self) -> list[str]:
        """Frame index -> the name of its field."""
        return [name for name, _, width in self.frame_fields for _ in range(width)]

    @property
    def spherical_joints(self) -> tuple[str, ...]:
        return tuple(name for name, _, width in self.frame_fields[3:] if width == 4)

    @property
    def revolute_joints(self) -> tuple[str, ...]:
        return tuple(name for name, _, width in self.frame_fields[3:] if width == 1)


class SimCharacter:
    """A character to simulate: its MJCF text, the model compiled once (shared by the clips: do not mutate;
    a simulation takes :meth:`new_model`), its :class:`CharacterSpec` and :class:`CharacterIndex`."""

    def __init__(self, xml: str, name: str):
        self.xml, self.name = xml, name
        self.model = mujoco.MjModel.from_xml_string(xml)
        self.spec = CharacterSpec.of(self.model)
        self.index = CharacterIndex.of(self.model, self.spec)

    def new_model(self) -> mujoco.MjModel:
        """A fresh compile of the character (a simulation sets its own timestep)."""
        return mujoco.MjModel.from_xml_string(self.xml)

    def frames_to_qpos(self, frames: np.ndarray) -> np.ndarray:
        """Validated clip frames (F, frame width) to qpos (F, nq), hinges unwrapped."""
        return chargeom.frames_to_qpos(frames, self.model, self.spec.frame_fields)

    def __repr__(self) -> str:
        return f"SimCharacter({self.name!r}, {self.model.nbody - 1} bodies, {self.model.nu} actuators)"


@lru_cache(maxsize=1)
def humanoid() -> SimCharacter:
    """The project's humanoid (``assets/humanoid3d.xml``), once per process."""
    return SimCharacter(ASSET_XML.read_text(encoding="utf-8"), "humanoid3d")


def controller_beside(character_file: str | Path) -> Path:
    """The controller file of a character file when none is named: the one ``<stem>_*ctrl*.txt`` beside it
    (DeepMimic's ``humanoid3d_phase_rot_ctrl.txt``, ``dog3d_phase_rot_ctrl.txt``)."""
    p = Path(character_file)
    found = sorted(p.parent.glob(f"{p.stem}_*ctrl*.txt"))
    if len(found) != 1:
        what = "none" if not found else ", ".join(f.name for f in found)
        raise charfile.CharacterFileError(f"{p.name}: name its PD controller file (controller_file / "
                                          f"--controller_file); beside it, {p.stem}_*ctrl*.txt matched {what}")
    return found[0]


@lru_cache(maxsize=8)
def _compiled(character_file: str, controller_file: str) -> SimCharacter:
    char = charfile.load_character(character_file, controller_file)
    return SimCharacter(charmjcf.to_mjcf(char), char.name)


def sim_character(character_file: str | Path | None = None,
                  controller_file: str | Path | None = None) -> SimCharacter:
    """The humanoid (no file), or a character file compiled in memory with its controller file (by default
    the one beside it: :func:`controller_beside`), once per process and pair of files."""
    if character_file is None:
        if controller_file is not None:
            raise ValueError("controller_file needs a character_file")
        return humanoid()
    path = Path(character_file)
    if not path.is_file():
        raise charfile.CharacterFileError(f"{path.name}: no such character file (looked at {path.resolve()})")
    ctrl = Path(controller_file) if controller_file is not None else controller_beside(path)
    return _compiled(str(path.resolve()), str(ctrl.resolve()))


def character_model() -> mujoco.MjModel:
    """The humanoid's model, compiled once per process (do not mutate)."""
    return humanoid().model




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
    ee_sites: np.ndarray  # the spec's end effectors
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
    def of(model: mujoco.MjModel, spec: CharacterSpec | None = None) -> "CharacterIndex":
        """Resolve every index by name (the end effectors from ``spec``, by default read from the model)."""
        spec = spec or CharacterSpec.of(model)
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
            ee_sites=np.array([model.site(s).id for s in spec.end_effectors]),
            joint_qpos=joint_qpos,
            hinge_qpos=model.jnt_qposadr[trn].copy(), hinge_qvel=model.jnt_dofadr[trn].copy(),
        )


def character_index() -> CharacterIndex:
    """Indices of the humanoid's model."""
    return humanoid().index


def frames_to_qpos(frames: np.ndarray) -> np.ndarray:
    """Humanoid clip frames (F, 44) to qpos (F, nq), hinges unwrapped (:meth:`SimCharacter.frames_to_qpos`)."""
    return humanoid().frames_to_qpos(frames)


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


# The humanoid's layout, read from its model, for the code that only deals with the humanoid
HUMANOID_SPEC = humanoid().spec
FRAME_FIELDS = HUMANOID_SPEC.frame_fields
FRAME_WIDTH = HUMANOID_SPEC.frame_width
FIELD_START = HUMANOID_SPEC.field_start
FIELD_OF_INDEX = HUMANOID_SPEC.field_of_index
SPHERICAL_JOINTS = HUMANOID_SPEC.spherical_joints
REVOLUTE_JOINTS = HUMANOID_SPEC.revolute_joints
END_EFFECTOR_SITES = HUMANOID_SPEC.end_effectors
