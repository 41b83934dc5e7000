"""What a DeepMimic character file holds, validated: :class:`Character` (joints, bodies, PD gains).

A character file (``humanoid3d.txt``, ``dog3d.txt``) is JSON: ``Skeleton.Joints`` (the kinematic tree, one
:class:`JointDef` each), ``BodyDefs`` (one collision shape and mass per joint, :class:`BodyDef`) and
``DrawShapeDefs`` (looks only; ignored here).  A controller file (``humanoid3d_phase_rot_ctrl.txt``) holds
``PDControllers`` (``Kp``, ``Kd`` per joint) and ``UpdateRate``.  Both are Y-up.  :mod:`.charfile` reads and
checks them (:func:`.charfile.load_character`); :mod:`.charmjcf` compiles a :class:`Character` to MuJoCo.

The constants below are the file format's vocabulary: what the reader accepts and how a joint maps onto hinges.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

JOINT_TYPES = ("none", "spherical", "revolute", "fixed")
"""Supported ``Type`` values (``none`` is the free root)."""
UNSUPPORTED_JOINT_TYPES = ("planar", "prismatic")
"""DeepMimic joint types the reader refuses (:func:`.charfile.load_character`)."""
SHAPES = ("sphere", "capsule", "box", "cylinder")
FRAME_WIDTH_OF_TYPE = {"spherical": 4, "revolute": 1, "fixed": 0}
"""Numbers a non-root joint takes in a clip frame."""
HINGE_AXES = (("x", (1, 0, 0)), ("y", (0, 0, 1)), ("z", (0, -1, 0)))
"""A spherical joint's hinges: suffix and Z-up axis (the file's x, y, z), parent side first."""
NO_LIMIT = (1.0, 0.0)
"""(LimLow, LimHigh) that DeepMimic's files write for an unlimited axis."""
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
