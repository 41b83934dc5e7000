"""Motion clip loading, validation, interpolation and looping; the reward maths."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from deepmimic_util import CLIPS, clip_path, motions_dir
from trpo_mimic.mimic.clip import MotionClip, load_motion
from trpo_mimic.mimic.clipfile import MotionError, MotionNotFoundError, MotionWarning, find_motion_file
from trpo_mimic.mimic.quat import quat_mul, yaw_mul, yaw_quat
from deepmimic_oracle import batched_body_errors, batched_reward, body_errors, imitation_reward
from trpo_mimic.mimic.layout import KinematicState
from trpo_mimic.mimic.character import humanoid
from trpo_mimic.mimic.reward import RewardWeights, pose_weight_vector


def load_quiet(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MotionWarning)
        return MotionClip.load(path)


@pytest.fixture(scope="module")
def walk():
    return load_quiet(clip_path("walk"))


@pytest.mark.parametrize("name", CLIPS)
def test_clip_loads_and_reproduces_frames(name):
    clip = load_quiet(clip_path(name))
    raw = json.loads(clip_path(name).read_text())["Frames"]
    assert clip.num_frames == len(raw) and clip.loop == "wrap"
    assert clip.duration == pytest.approx(sum(f[0] for f in raw[:-1]))
    assert clip.qpos.shape == (len(raw), 35) and clip.qvel.shape == (len(raw), 34)
    for i, t in enumerate(clip.frame_times[:-1]):
        np.testing.assert_allclose(clip.qpos_at(t), clip.qpos[i], atol=1e-9)
        np.testing.assert_allclose(clip.qvel_at(t), clip.qvel[i], atol=1e-9)
    # the file's root position, Y up, is the sim's (x, -z, y), Z up
    f = raw[3]
    np.testing.assert_allclose(clip.qpos_at(clip.frame_times[3])[:3], [f[1], -f[3], f[2]], atol=1e-9)
    # the knee angle is copied as is
    assert clip.qpos_at(clip.frame_times[3])[clip.index.joint_qpos["right_knee"][0]] == pytest.approx(f[20])


def test_reference_tables_match_forward_kinematics(walk):
    import mujoco
    d = mujoco.MjData(walk.model)
    for t in np.linspace(0.01, 2.5 * walk.duration, 11):
        d.qpos[:] = walk.qpos_at(t)
        mujoco.mj_kinematics(walk.model, d)
        ref = walk.reference(t)
        np.testing.assert_allclose(d.site_xpos[walk.index.ee_sites], ref.ee_pos, atol=2e-3)
        np.testing.assert_allclose(d.xpos[walk.index.root_body], ref.root_pos, atol=2e-3)
        np.testing.assert_allclose(d.xpos[walk.index.bodies], ref.body_pos, atol=2e-3)


@pytest.mark.parametrize("name", ["walk", "backflip"])
def test_reference_angular_velocities_match_mujoco_in_every_cycle(name):
    """The root's world angular velocity (turned with each cycle of a looping clip) and each joint's
    relative angular velocity in its own frame, against MuJoCo's body velocities at the same pose."""
    import mujoco
    clip = load_quiet(clip_path(name))
    idx, d = clip.index, mujoco.MjData(clip.model)
    for t in np.linspace(0.05, 3.5 * clip.duration, 13):
        d.qpos[:], d.qvel[:] = clip.qpos_at(t), clip.qvel_at(t)
        mujoco.mj_forward(clip.model, d)
        ref = clip.reference(t)
        v = np.zeros(6)
        mujoco.mj_objectVelocity(clip.model, d, mujoco.mjtObj.mjOBJ_XBODY, idx.root_body, v, 0)
        np.testing.assert_allclose(ref.angvel[0], v[:3], atol=0.05 * (1 + np.abs(v[:3]).max()))
        for k, (b, p) in enumerate(zip(idx.pose_bodies, idx.pose_parents)):
            wb, wp = np.zeros(6), np.zeros(6)
            mujoco.mj_objectVelocity(clip.model, d, mujoco.mjtObj.mjOBJ_XBODY, b, wb, 0)
            mujoco.mj_objectVelocity(clip.model, d, mujoco.mjtObj.mjOBJ_XBODY, p, wp, 0)
            rel = d.xmat[b].reshape(3, 3).T @ (wb[:3] - wp[:3])
            np.testing.assert_allclose(ref.angvel[1 + k], rel, atol=0.05 * (1 + np.abs(rel).max()))


def test_looping_root_keeps_moving_forward(walk):
    xs = [walk.qpos_at(k * walk.duration + 0.1)[0] for k in range(5)]
    steps = np.diff(xs)
    assert np.all(steps > 1.0), xs  # about 1.24 m per cycle, never snapping back
    step = walk.cycle_offset[0]
    assert steps[0] == pytest.approx(step, rel=0.05)
    # continuous across the wrap: no jump in root position
    d = walk.duration
    assert np.linalg.norm(walk.qpos_at(d + 1e-6)[:3] - walk.qpos_at(d - 1e-6)[:3]) < 1e-3


def test_one_time_samplers_are_rows_of_the_batch(walk):
    """One vectorised sampler: each single-time method is the batch of one, bit for bit."""
    t = np.array([-0.2, 0.0, 0.37, walk.duration, 2.6 * walk.duration, 7.1 * walk.duration])
    batch = walk.reference_batch(t)
    quats, packed = walk.reference_packed_batch(t)
    for k, x in enumerate(t):
        np.testing.assert_array_equal(walk.qpos_at(x), walk.qpos_batch(t)[k])
        np.testing.assert_array_equal(walk.qvel_at(x), walk.qvel_batch(t)[k])
        np.testing.assert_array_equal(walk.hinge_targets(x), walk.hinge_targets_batch(t)[k])
        np.testing.assert_array_equal(walk.hinge_velocities(x), walk.hinge_velocities_batch(t)[k])
        assert walk.phase(x) == walk.phase_batch(t)[k]
        one = walk.reference(x)
        for field in ("quats", "angvel", "root_pos", "com", "ee_pos", "body_pos", "root_linvel", "com_vel"):
            np.testing.assert_array_equal(getattr(one, field), getattr(batch, field)[k])
        q1, p1 = walk.reference_packed(x)
        np.testing.assert_array_equal(q1, quats[k])
        np.testing.assert_array_equal(p1, packed[k])


def test_yaw_mul_is_quat_mul():
    rng = np.random.default_rng(0)
    yq = np.stack([yaw_quat(a) for a in rng.uniform(-7, 7, 50)])
    q = rng.normal(size=(50, 4))
    np.testing.assert_array_equal(yaw_mul(yq, q), quat_mul(yq, q))


def test_none_clip_clamps_at_end(tmp_path):
    raw = json.loads(clip_path("walk").read_text())
    raw["Loop"] = "none"
    p = tmp_path / "once.txt"
    p.write_text(json.dumps(raw))
    clip = MotionClip.load(p)
    np.testing.assert_allclose(clip.qpos_at(clip.duration + 5.0), clip.qpos[-1], atol=1e-9)
    assert clip.phase(clip.duration + 5.0) < 1.0


def test_builtin_walk_needs_no_file():
    clip = load_motion("builtin:walk")
    assert clip.loop == "wrap" and clip.duration > 0.5
    assert clip.cycle_offset[0] > 0.5  # walks forward
    assert np.all(np.isfinite(clip.qpos)) and np.all(np.isfinite(clip.qvel))
    with pytest.raises(MotionError, match="builtin:nope"):
        load_motion("builtin:nope")


# ----------------------------------------------------------------------- bad clips
def _write(tmp_path, doc, name="bad.txt"):
    p = tmp_path / name
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return p


def _frames(n=3):
    raw = json.loads(clip_path("walk").read_text())["Frames"][:n]
    raw[-1][0] = 0.0
    return raw


@pytest.mark.parametrize("mutate, frame, field", [
    (lambda f: f[2].pop(), 2, "frame"),
    (lambda f: f[1].__setitem__(20, float("nan")), 1, "right_knee"),
    (lambda f: f[1].__setitem__(0, -0.1), 1, "duration"),
    (lambda f: f[0].__setitem__(0, 1e30), 0, "duration"),  # would ask the 240 Hz resampling for unbounded memory
    (lambda f: f[0].__setitem__(slice(16, 20), [0.0, 0.0, 0.0, 0.0]), 0, "right_hip"),
    (lambda f: f[1].__setitem__(5, "x"), 1, "root_rot"),
])
def test_bad_frames_raise_motion_error_naming_file_frame_field(tmp_path, mutate, frame, field):
    frames = _frames()
    mutate(frames)
    p = _write(tmp_path, json.dumps({"Loop": "wrap", "Frames": frames}, allow_nan=True), "walk.txt")
    with pytest.raises(MotionError) as exc:
        MotionClip.load(p)
    msg = str(exc.value)
    assert "walk.txt" in msg and f"frame {frame}" in msg and f"'{field}'" in msg, msg


def test_zero_norm_message_format(tmp_path):
    frames = _frames(5)
    frames[3][16:20] = [0, 0, 0, 0]
    p = _write(tmp_path, {"Loop": "wrap", "Frames": frames}, "walk.txt")
    with pytest.raises(MotionError, match=r"walk.txt: frame 3, field 'right_hip' quaternion has zero norm"):
        MotionClip.load(p)


@pytest.mark.parametrize("doc, field", [
    ("{not json", "Frames"),
    ("", "Frames"),
    ("[1, 2, 3]", "Frames"),
    ({"Loop": "wrap"}, "Frames"),
    ({"Loop": "sideways", "Frames": []}, "Loop"),
])
def test_bad_documents_raise(tmp_path, doc, field):
    p = _write(tmp_path, doc)
    with pytest.raises(MotionError, match=rf"bad.txt: .*'{field}'"):
        MotionClip.load(p)


def test_all_zero_duration_raises(tmp_path):
    frames = _frames()
    for f in frames:
        f[0] = 0.0
    p = _write(tmp_path, {"Loop": "wrap", "Frames": frames})
    with pytest.raises(MotionError, match=r"bad.txt: frame 0-2, field 'duration'.*total duration is zero"):
        MotionClip.load(p)


def test_garbage_bytes_do_not_hang(tmp_path):
    p = tmp_path / "garbage.txt"
    p.write_bytes(bytes(range(256)) * 50 + b"[" * 100000)
    with pytest.raises(MotionError, match="garbage.txt"):
        MotionClip.load(p)


def test_slightly_unnormalised_quaternion_warns_and_normalises(tmp_path):
    frames = _frames()
    frames[1][8:12] = [x * 1.02 for x in frames[1][8:12]]
    p = _write(tmp_path, {"Loop": "wrap", "Frames": frames, "Extra": {"ignored": True}})
    with pytest.warns(MotionWarning, match=r"frame 1, field 'chest'"):
        clip = MotionClip.load(p)
    q = clip.quats_of_frames()[1, 1 + clip.index.pose_names.index("chest")]
    assert np.linalg.norm(q) == pytest.approx(1.0, abs=1e-9)


def test_missing_file_and_shortcut_error_list_places(tmp_path, monkeypatch):
    monkeypatch.setenv("TRPO_MIMIC_MOTION_DIR", str(tmp_path / "envdir"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MotionNotFoundError) as exc:
        find_motion_file("humanoid3d_not_shipped.txt", motion_dir=tmp_path / "given")
    msg = str(exc.value)
    for place in ("motion_file", str(tmp_path / "given"), str(tmp_path / "envdir"), str(motions_dir())):
        assert place in msg, msg
    with pytest.raises(MotionError, match="nope.txt"):
        MotionClip.load(tmp_path / "nope.txt")


def test_shortcut_resolution_order(tmp_path, monkeypatch):
    """Explicit path, then motion_dir, then $TRPO_MIMIC_MOTION_DIR, then the package's data."""
    src = clip_path("walk")
    monkeypatch.delenv("TRPO_MIMIC_MOTION_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert find_motion_file("humanoid3d_walk.txt") == str(src)
    env_dir = tmp_path / "envdir"
    env_dir.mkdir()
    (env_dir / "humanoid3d_walk.txt").write_text(src.read_text())
    monkeypatch.setenv("TRPO_MIMIC_MOTION_DIR", str(env_dir))
    assert find_motion_file("humanoid3d_walk.txt") == str(env_dir / "humanoid3d_walk.txt")
    (tmp_path / "humanoid3d_walk.txt").write_text(src.read_text())
    assert find_motion_file("humanoid3d_walk.txt", motion_dir=tmp_path) == str(tmp_path / "humanoid3d_walk.txt")
    assert find_motion_file("x", motion_file=src) == str(src)


# ----------------------------------------------------------------------- reward
def _state(nj=3, nb=2):
    quats = np.tile([1.0, 0, 0, 0], (nj, 1))
    return KinematicState(quats=quats, angvel=np.zeros((nj, 3)), root_pos=np.array([0, 0, 0.9]),
                          com=np.array([0, 0, 1.0]), ee_pos=np.zeros((4, 3)),
                          body_pos=np.array([[0, 0, 0.9], [0, 0, 1.2]][:nb], dtype=np.float64),
                          root_linvel=np.zeros(3), com_vel=np.zeros(3))


def _yaw(q_angle):
    return np.array([math.cos(q_angle / 2), 0, 0, math.sin(q_angle / 2)])


PAIR_FUNCS = [imitation_reward, batched_reward]


@pytest.mark.parametrize("reward", PAIR_FUNCS)
def test_reward_is_one_for_identical_states(reward):
    pw = pose_weight_vector(("chest", "neck"), humanoid().spec.diff_weights)
    s = _state()
    total, terms = reward(s, s, pw)
    assert total == pytest.approx(1.0) and all(v == pytest.approx(1.0) for v in terms.values())


@pytest.mark.parametrize("reward", PAIR_FUNCS)
def test_reward_against_hand_computed_value(reward):
    """The term-by-term oracle and the batched production reward both equal the hand-worked values of
    DeepMimic's released formulas (SceneImitate.cpp)."""
    names = ("chest", "neck")  # weights root 1, chest 0.5, neck 0.3 -> normalised by 1.8
    w = RewardWeights()
    pw = pose_weight_vector(names, humanoid().spec.diff_weights)
    sim, ref = _state(), _state()
    theta = 0.3  # chest rotated 0.3 rad about z
    sim.quats[1] = _yaw(theta)
    sim.angvel[1] = [2.0, 0, 0]  # chest's relative angular velocity off by 2 rad/s
    sim.ee_pos[0] = [0.1, 0, 0]  # one end effector off by 0.1 m
    sim.com_vel[:] = [0.2, 0, 0]
    sim.com[:] = [0, 0.1, 1.0]
    pose = math.exp(-2 * (0.5 / 1.8) * theta ** 2)
    vel = math.exp(-0.1 * (0.5 / 1.8) * 4.0)
    end = math.exp(-10 * 0.01)
    root = 1.0
    comv = math.exp(-10 * 0.1 * 0.04)  # DeepMimic's com_err = 0.1 |dv|^2 with scale 10: exp(-1.0 |dv|^2)
    com = math.exp(-10 * 0.01)
    total, terms = reward(sim, ref, pw, w)
    assert terms["pose"] == pytest.approx(pose)
    assert terms["velocity"] == pytest.approx(vel)
    assert terms["end_effector"] == pytest.approx(end)
    assert terms["root"] == pytest.approx(root)
    assert terms["com_vel"] == pytest.approx(comv)
    assert terms["com"] == pytest.approx(com)
    assert total == pytest.approx(0.5 * pose + 0.05 * vel + 0.15 * end + 0.2 * root + 0.1 * comv)
    paper_total, _ = reward(sim, ref, pw, RewardWeights.paper())
    assert paper_total == pytest.approx(0.65 * pose + 0.1 * vel + 0.15 * math.exp(-40 * 0.01) + 0.1 * com)


@pytest.mark.parametrize("reward", PAIR_FUNCS)
def test_end_effectors_compared_in_each_heading_frame_with_heights_above_ground(reward):
    """A character turned 90 degrees about its root, end effectors turned with it, loses pose and root
    reward but none on the end effectors; a root 0.1 m lower with the effectors at the same heights
    loses none there either (heights are above the ground, not below the root)."""
    pw = pose_weight_vector(("chest", "neck"), humanoid().spec.diff_weights)
    ref, sim = _state(), _state()
    ref.ee_pos[:] = ref.root_pos + np.array([[0.1, 0.0, -0.85], [0.0, 0.1, -0.85], [0.2, 0.0, 0.0], [0.0, -0.2, 0.0]])
    sim.quats[0] = _yaw(math.pi / 2)
    rel = ref.ee_pos - ref.root_pos
    sim.ee_pos[:] = sim.root_pos + np.stack([-rel[:, 1], rel[:, 0], rel[:, 2]], axis=1)
    _, terms = reward(sim, ref, pw)
    assert terms["end_effector"] == pytest.approx(1.0)
    assert terms["pose"] == pytest.approx(math.exp(-2 * (1 / 1.8) * (math.pi / 2) ** 2))
    assert terms["root"] == pytest.approx(math.exp(-5 * 0.1 * (math.pi / 2) ** 2))
    low = _state()
    low.ee_pos[:] = ref.ee_pos
    low.root_pos[2] -= 0.1
    _, terms = reward(low, ref, pw)
    assert terms["end_effector"] == pytest.approx(1.0)
    assert terms["root"] == pytest.approx(math.exp(-5 * 0.01))
    # the same effector moved 0.2 m sideways in the character's own frame costs exp(-10 * 0.04)
    side = _state()
    side.ee_pos[:] = ref.ee_pos
    side.ee_pos[2, 1] += 0.2
    _, terms = reward(side, ref, pw)
    assert terms["end_effector"] == pytest.approx(math.exp(-10 * 0.04))


@pytest.mark.parametrize("errors", [body_errors, batched_body_errors])
def test_body_position_error_against_hand_computed_value(errors):
    ref, sim = _state(), _state()
    sim.root_pos[:] = [0.1, 0, 0.9]
    sim.body_pos[:] = [[0.1, 0, 0.9], [0.4, 0.4, 1.2]]
    glob, local = errors(sim, ref)
    assert glob == pytest.approx((0.1 + math.sqrt(0.32)) / 2)  # |(0.1, 0, 0)|, |(0.4, 0.4, 0)|
    assert local == pytest.approx(0.5 / 2)  # root-relative: 0 and |(0.3, 0.4, 0)|


def test_reward_weights_validated():
    with pytest.raises(ValueError):
        RewardWeights(pose=-1.0)
    with pytest.raises(ValueError):
        RewardWeights(pose=0, velocity=0, end_effector=0, root=0, com_vel=0, com=0)


def test_no_velocity_is_differenced_across_a_wrap_clips_seam():
    """A wrap clip's first and last frames get one-sided differences (DeepMimic's cMotion::BuildFrameVel differences
    no pair across the seam): the spinkick's last pose is not its first, and the central difference across the seam
    gave its first frame a joint speed of 58 against 13 for the next frame's."""
    import mujoco
    clip = load_quiet(clip_path("spinkick"))
    assert clip.loop == "wrap"
    t, q, m = clip.frame_times, clip.qpos, clip.model
    first, last, mid = (np.zeros(m.nv) for _ in range(3))
    mujoco.mj_differentiatePos(m, first, t[1] - t[0], q[0], q[1])
    mujoco.mj_differentiatePos(m, last, t[-1] - t[-2], q[-2], q[-1])
    mujoco.mj_differentiatePos(m, mid, t[6] - t[4], q[4], q[6])
    np.testing.assert_allclose(clip.qvel[0], first, atol=1e-12)
    np.testing.assert_allclose(clip.qvel[-1], last, atol=1e-12)
    np.testing.assert_allclose(clip.qvel[5], mid, atol=1e-12)  # central inside the clip
    assert np.linalg.norm(clip.qvel[0]) < 1.5 * np.linalg.norm(clip.qvel[1])
    # a start in the first frame's interval has the clip's own speed, not the seam's
    assert np.linalg.norm(clip.qvel_at(0.001)) < 1.5 * np.linalg.norm(clip.qvel_at(0.03))
