import json
import re

import numpy as np
import pytest

from deepmimic_util import clip_path
from trpo_mimic.mimic.bvh import (Bvh, BvhError, bvh_to_deepmimic, convert_bvh, deepmimic_local_quats,
                                           deepmimic_to_bvh, parse_bvh, read_bvh, write_bvh)
from trpo_mimic.mimic.character import humanoid_skeleton
from trpo_mimic.mimic.clip import MotionClip
from trpo_mimic.mimic.clipfile import write_deepmimic
from trpo_mimic.mimic.quat import (euler_from_quat, quat_angle, quat_conj, quat_from_euler, quat_mul,
                                            quat_to_mat)

TOL = 1e-4  # radians


def read_clip(name: str) -> dict:
    with open(clip_path(name)) as fh:  # read from the shared clips, never copied into the repository
        return json.load(fh)


def max_joint_error(a, b) -> float:
    qa, qb = deepmimic_local_quats(a), deepmimic_local_quats(b)
    return max(float(quat_angle(qa[k], qb[k]).max()) for k in qa)


@pytest.mark.parametrize("order", ["ZXY", "XYZ", "YZX", "ZYX"])
def test_euler_orders_round_trip(order):
    rng = np.random.default_rng(1)
    q = rng.normal(size=(500, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q[:3] = [[np.cos(np.pi / 4), 0, np.sin(np.pi / 4), 0], [1, 0, 0, 0], [0, 1, 0, 0]]  # locks and half turns
    assert quat_angle(quat_from_euler(euler_from_quat(q, order), order), q).max() < 1e-9


@pytest.mark.parametrize("clip,order", [("walk", "ZXY"), ("backflip", "XYZ")])
def test_deepmimic_bvh_round_trip(tmp_path, clip, order):
    doc = read_clip(clip)
    path = tmp_path / f"{clip}.bvh"
    deepmimic_to_bvh(doc, path, rotation_order=order)
    bvh = read_bvh(path)
    assert bvh.num_frames == len(doc["Frames"])
    assert bvh.joints[0] == "Hips" and len(bvh.joints) == 13
    assert bvh.frame_time == pytest.approx(doc["Frames"][0][0])
    out = bvh_to_deepmimic(bvh, loop=doc["Loop"])
    src, got = np.array(doc["Frames"]), np.array(out["Frames"])
    assert got.shape == src.shape
    assert max_joint_error(doc, out) < TOL
    for s in (20, 29, 34, 43):  # knee and elbow angles, directly
        assert np.abs(got[:, s] - src[:, s]).max() < TOL
    assert np.abs(got[:, 1:4] - src[:, 1:4]).max() < 1e-9  # root position (metres, scale 1)
    assert np.abs(got[:-1, 0] - src[:-1, 0]).max() < 1e-12 and got[-1, 0] == 0.0


def test_convert_bvh_output_loads_as_a_motion_clip(tmp_path):
    doc = read_clip("walk")
    deepmimic_to_bvh(doc, tmp_path / "walk.bvh")
    out = convert_bvh(tmp_path / "walk.bvh", tmp_path / "walk_clip.txt")
    clip = MotionClip.load(out)
    assert clip.num_frames == len(doc["Frames"]) and clip.loop == "none"
    ref = MotionClip.load(clip_path("walk"))
    assert clip.duration == pytest.approx(ref.duration, abs=1e-9)
    assert np.abs(clip.qpos - ref.qpos).max() < TOL
    # write_deepmimic writes what it is given, exactly
    write_deepmimic({"Loop": "wrap", "Frames": doc["Frames"]}, tmp_path / "copy.txt")
    again = json.loads((tmp_path / "copy.txt").read_text())
    assert again == {"Loop": "wrap", "Frames": doc["Frames"]}


# --------------------------------------------------------------------------- retargeting a CMU-like file
def cmu_like_bvh(frames: int = 12, seed: int = 0) -> Bvh:
    """A T-pose skeleton facing +z, in centimetres, with clavicles and extra spine links (unmapped)
    and random motion (knees bend about the lateral x axis, T-pose elbows about the vertical y).

    Hinges are exact only when the source's knee/elbow axis maps onto the humanoid's; a knee bending
    about an axis that is not perpendicular to its (say, splayed) leg loses the off-axis part."""
    spec = [  # name, parent, offset (cm), rotation axes allowed ('all', or one axis)
        ("Hips", None, (0, 0, 0), "all"),
        ("LowerBack", "Hips", (0, 5, 0), "all"),
        ("Spine", "LowerBack", (0, 10, 0), "all"),
        ("Spine1", "Spine", (0, 12, 0), "all"),
        ("Neck", "Spine1", (0, 14, 0), "all"),
        ("Head", "Neck", (0, 8, 1), "all"),
        ("RightShoulder", "Spine1", (-3, 12, 0), "all"),
        ("RightArm", "RightShoulder", (-16, 0, 0), "all"),
        ("RightForeArm", "RightArm", (-27, 0, 0), "Y"),
        ("RightHand", "RightForeArm", (-20, 0, 0), "all"),
        ("LeftShoulder", "Spine1", (3, 12, 0), "all"),
        ("LeftArm", "LeftShoulder", (16, 0, 0), "all"),
        ("LeftForeArm", "LeftArm", (27, 0, 0), "Y"),
        ("LeftHand", "LeftForeArm", (20, 0, 0), "all"),
        ("RightUpLeg", "Hips", (-9, -4, 0), "all"),
        ("RightLeg", "RightUpLeg", (0, -43, 0), "X"),
        ("RightFoot", "RightLeg", (0, -41, 0), "all"),
        ("RightToeBase", "RightFoot", (0, -4, 13), "all"),
        ("LeftUpLeg", "Hips", (9, -4, 0), "all"),
        ("LeftLeg", "LeftUpLeg", (0, -43, 0), "X"),
        ("LeftFoot", "LeftLeg", (0, -41, 0), "all"),
        ("LeftToeBase", "LeftFoot", (0, -4, 13), "all"),
    ]
    names = [s[0] for s in spec]
    rng = np.random.default_rng(seed)
    cols, channels = [], []
    for name, parent, _, axes in spec:
        rot = ("Zrotation", "Xrotation", "Yrotation")
        angles = rng.uniform(-40, 40, size=(frames, 3))
        if axes != "all":
            angles[:, [k for k, c in enumerate("ZXY") if c != axes]] = 0.0
        if parent is None:
            channels.append(("Xposition", "Yposition", "Zposition") + rot)
            cols.append(np.cumsum(rng.normal(size=(frames, 3)), axis=0) + [0, 90, 0])
        else:
            channels.append(rot)
        cols.append(angles)
    return Bvh(names, [names.index(s[1]) if s[1] else -1 for s in spec], np.array([s[2] for s in spec], float),
               channels, np.concatenate(cols, axis=1), 1 / 120, [(names.index("Head"), np.array([0, 10.0, 0]))],
               "cmu_like.bvh")


def humanoid_world(frames: np.ndarray) -> dict[str, np.ndarray]:
    """World orientations (Y-up) of the humanoid's joints for DeepMimic frames."""
    names, parents, _ = humanoid_skeleton()
    local = deepmimic_local_quats(frames)
    world = {}
    for n, p in zip(names, parents):
        q = local.get(n, np.tile([1.0, 0, 0, 0], (len(frames), 1)))
        world[n] = q if p < 0 else quat_mul(world[names[p]], q)
    return world


def rotate(q, v):
    return np.einsum("fij,fj->fi", quat_to_mat(q), np.broadcast_to(v, q.shape[:-1] + (3,)))


def test_retargeting_a_tpose_file_matches_limb_directions(tmp_path):
    src = cmu_like_bvh()
    write_bvh(src, tmp_path / "cmu_like.bvh")
    bvh = read_bvh(tmp_path / "cmu_like.bvh")
    out = np.array(bvh_to_deepmimic(bvh)["Frames"])
    g_src, p_src = bvh.forward_kinematics()
    rest = bvh.rest_positions()
    turn = np.array([np.cos(np.pi / 4), 0, np.sin(np.pi / 4), 0])  # +90 deg about y: source +z -> humanoid +x
    turn_f = np.tile(turn, (len(out), 1))
    names, _, offsets = humanoid_skeleton()
    off = dict(zip(names, offsets))
    world = humanoid_world(out)
    bones = {  # humanoid joint -> (its child, source joint, source child)
        "right_hip": ("right_knee", "RightUpLeg", "RightLeg"), "right_knee": ("right_ankle", "RightLeg", "RightFoot"),
        "left_hip": ("left_knee", "LeftUpLeg", "LeftLeg"), "left_knee": ("left_ankle", "LeftLeg", "LeftFoot"),
        "right_shoulder": ("right_elbow", "RightArm", "RightForeArm"),
        "right_elbow": ("right_wrist", "RightForeArm", "RightHand"),
        "left_shoulder": ("left_elbow", "LeftArm", "LeftForeArm"),
        "left_elbow": ("left_wrist", "LeftForeArm", "LeftHand"),
    }
    for joint, (child, s, sc) in bones.items():
        want = rotate(turn_f, rotate(g_src[:, bvh.index(s)], rest[bvh.index(sc)] - rest[bvh.index(s)]))
        got = rotate(world[joint], off[child])
        cos = np.sum(want * got, axis=1) / np.linalg.norm(want, axis=1) / np.linalg.norm(got, axis=1)
        assert np.arccos(np.clip(cos, -1, 1)).max() < TOL, joint
    # trunk: chest follows the deepest mapped spine joint (LowerBack and Spine folded in), neck the head
    for joint, s in (("root", "Hips"), ("chest", "Spine1"), ("neck", "Head")):
        want = quat_mul(quat_mul(turn_f, g_src[:, bvh.index(s)]), quat_conj(turn_f))
        assert quat_angle(want, world[joint]).max() < TOL, joint
    # root position: turned, and scaled by the leg lengths (centimetres -> metres)
    leg_src = 43.0 + 41.0
    scale = (0.421546 + 0.40987) / leg_src
    want = rotate(turn_f, p_src[:, 0]) * scale
    assert np.abs(out[:, 1:4] - want).max() < 1e-9
    assert np.all(out[:-1, 0] == 1 / 120)


def test_joint_map_file_selects_joints(tmp_path):
    doc = read_clip("walk")
    deepmimic_to_bvh(doc, tmp_path / "walk.bvh")
    text = (tmp_path / "walk.bvh").read_text()
    for a, b in (("Hips", "pelvis"), ("RightLeg", "r_knee")):
        text = re.sub(rf"\b{a}\b", b, text)
    (tmp_path / "renamed.bvh").write_text(text)
    with pytest.raises(BvhError, match="no BVH joint is mapped to the humanoid's 'root'"):
        convert_bvh(tmp_path / "renamed.bvh", tmp_path / "x.txt")
    joint_map = {"pelvis": "root", "RightUpLeg": "right_hip", "r_knee": "right_knee", "RightFoot": "right_ankle",
                 "Neck": None}
    (tmp_path / "joints.json").write_text(json.dumps(joint_map))
    out = json.loads(convert_bvh(tmp_path / "renamed.bvh", tmp_path / "clip.txt",
                                 tmp_path / "joints.json").read_text())
    got, src = np.array(out["Frames"]), np.array(doc["Frames"])
    assert np.abs(got[:, 20] - src[:, 20]).max() < TOL  # the mapped knee moves as in the clip
    qa, qb = deepmimic_local_quats(got), deepmimic_local_quats(src)
    assert quat_angle(qa["right_hip"], qb["right_hip"]).max() < TOL
    assert quat_angle(qa["right_ankle"], qb["right_ankle"]).max() < TOL
    assert np.all(got[:, 34] == 0.0)  # the unmapped left knee stays straight
    assert np.all(got[:, 12:16] == [1.0, 0, 0, 0])  # the neck, mapped to null, stays at rest


# --------------------------------------------------------------------------- malformed files
GOOD = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Spine
  {
    OFFSET 0 10 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 5 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.0333333
0 90 0 0 0 0 1 2 3
0 91 0 0 0 0 4 5 6
"""


def write(tmp_path, text, name="walk.bvh"):
    p = tmp_path / name
    p.write_text(text)
    return p


def lines_replaced(lineno: int, new: str) -> str:
    lines = GOOD.splitlines()
    lines[lineno - 1] = new
    return "\n".join(lines) + "\n"


def test_good_file_parses(tmp_path):
    bvh = read_bvh(write(tmp_path, GOOD))
    assert bvh.joints == ["Hips", "Spine"] and bvh.parents == [-1, 0]
    assert bvh.channels[1] == ("Zrotation", "Xrotation", "Yrotation")
    assert bvh.frames.shape == (2, 9) and bvh.frame_time == pytest.approx(0.0333333)
    np.testing.assert_array_equal(bvh.offsets[1], [0, 10, 0])
    assert len(bvh.end_sites) == 1 and bvh.end_sites[0][0] == 1


@pytest.mark.parametrize("line,new,message", [
    (7, "", r"walk\.bvh:8: expected '\{' after joint 'Spine', got 'OFFSET'"),  # missing brace
    (9, "    CHANNELS 3 Zrotation Xrotation", r"walk\.bvh:9: bad channel count: CHANNELS 3 .* lists 2"),
    (9, "    CHANNELS 7 Zrotation Xrotation", r"walk\.bvh:9: bad channel count 7"),
    (9, "    CHANNELS 3 Zrotation Xrotation Wrotation", r"walk\.bvh:9: unknown channel 'Wrotation'"),
    (20, "0 91 0 0 0 abc 4 5 6", r"walk\.bvh:20: frame 1: non-numeric value 'abc'"),
    (19, "0 90 0 0 0 nan 1 2 3", r"walk\.bvh:19: frame 0: non-finite value 'nan'"),
    (19, "0 90 0 0 0 1 2 3", r"walk\.bvh:19: frame 0 has 8 values, expected 9"),
    (17, "Frames: 3", r"walk\.bvh:20: frame count mismatch: 'Frames: 3' \(line 17\) but the file has 2"),
    (17, "Frames: 1", r"walk\.bvh:20: frame count mismatch: 'Frames: 1' \(line 17\) but more frame lines"),
    (17, "Frames: two", r"walk\.bvh:17: frame count 'two' is not an integer"),
    (18, "Frame Time: -1", r"walk\.bvh:18: frame time '-1' is not a positive number"),
    (8, "    OFFSET 0 ten 0", r"walk\.bvh:8: expected a number"),
    (14, "", r"walk\.bvh:16: expected '\}' closing joint 'Hips' \(opened at line 2\) before MOTION"),
    (1, "HIERARCH", r"walk\.bvh:1: expected 'HIERARCHY'"),
    (6, "  JOINT Hips", r"walk\.bvh:6: duplicate joint name 'Hips'"),
])
def test_malformed_bvh_names_the_line(tmp_path, line, new, message):
    with pytest.raises(BvhError, match=message):
        read_bvh(write(tmp_path, lines_replaced(line, new)))


def test_truncated_hierarchy_names_the_last_line(tmp_path):
    text = "\n".join(GOOD.splitlines()[:9]) + "\n"
    with pytest.raises(BvhError, match=r"walk\.bvh:9: unexpected end of file: missing '\}' closing joint 'Spine'"):
        read_bvh(write(tmp_path, text))


def test_bvh_error_is_a_value_error():
    assert issubclass(BvhError, ValueError)
    with pytest.raises(ValueError, match=r"^mem:1: "):
        parse_bvh("", "mem")


def test_unknown_joints_in_the_map_are_named_with_their_line(tmp_path):
    bvh_path = write(tmp_path, GOOD)
    (tmp_path / "joints.json").write_text('{\n  "Hips": "root",\n  "Tail": "chest"\n}\n')
    with pytest.raises(BvhError, match=r"joints\.json:3: unknown joint 'Tail': not a joint of walk\.bvh"):
        convert_bvh(bvh_path, tmp_path / "out.txt", tmp_path / "joints.json")
    (tmp_path / "joints.json").write_text('{\n  "Hips": "root",\n  "Spine": "wing"\n}\n')
    with pytest.raises(BvhError, match=r"joints\.json:3: unknown humanoid joint 'wing' for 'Spine'"):
        convert_bvh(bvh_path, tmp_path / "out.txt", tmp_path / "joints.json")
    (tmp_path / "joints.json").write_text('{\n  "Hips": "root",\n  "Spine": \n}\n')
    with pytest.raises(BvhError, match=r"joints\.json:4: not valid JSON"):
        convert_bvh(bvh_path, tmp_path / "out.txt", tmp_path / "joints.json")
    assert not (tmp_path / "out.txt").exists()


def test_rotation_channels_compose_in_the_listed_order():
    # Zrotation 90 then Xrotation 90 (R = Rz Rx, degrees): the child offset (0, 0, 1) -> Rz(Rx(0, 0, 1)) = (1, 0, 0)
    text = ("HIERARCHY\nROOT A\n{\n OFFSET 0 0 0\n CHANNELS 3 Zrotation Xrotation Yrotation\n JOINT B\n {\n"
            "  OFFSET 0 0 1\n  CHANNELS 3 Zrotation Xrotation Yrotation\n }\n}\nMOTION\nFrames: 1\n"
            "Frame Time: 0.1\n90 90 0 0 0 0\n")
    _, pos = parse_bvh(text, "mem").forward_kinematics()
    np.testing.assert_allclose(pos[0, 1], [1.0, 0.0, 0.0], atol=1e-12)
