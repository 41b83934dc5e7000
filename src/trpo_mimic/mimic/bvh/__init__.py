"""BVH motion capture files: reading, writing, and retargeting onto the DeepMimic humanoid.

Modules: ``skeleton`` (:class:`Bvh`, forward kinematics), ``parse`` (reading), ``retarget``
(joint maps, :func:`bvh_to_deepmimic`), ``write`` (writing, :func:`convert_bvh`).

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
(``root``, ``chest``, ``neck``, ``right_hip`` ...; see ``character.FRAME_FIELDS``) by name
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

from .parse import parse_bvh, read_bvh
from .retarget import DEFAULT_JOINT_MAP, TARGET_JOINTS, JointMap, bvh_to_deepmimic, load_joint_map
from .skeleton import Bvh, BvhError
from .write import HUMANOID_BVH_NAMES, convert_bvh, deepmimic_local_quats, deepmimic_to_bvh, format_bvh, write_bvh

__all__ = ["Bvh", "BvhError", "DEFAULT_JOINT_MAP", "HUMANOID_BVH_NAMES", "JointMap", "TARGET_JOINTS",
           "bvh_to_deepmimic", "convert_bvh", "deepmimic_local_quats", "deepmimic_to_bvh", "format_bvh",
           "load_joint_map", "parse_bvh", "read_bvh", "write_bvh"]
