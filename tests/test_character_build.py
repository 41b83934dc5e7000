"""DeepMimic character files compiled to MJCF (mimic/charfile.py reads, charmjcf.py writes;
`trpo-mimic build-character`).

The compiled humanoid must be the hand-written assets/humanoid3d.xml (names, order and numbers); the dog
must compile and hold a pose; every malformed input is one CharacterFileError line naming file, joint or
body, and field.
"""

from __future__ import annotations

import copy
import json

import mujoco
import numpy as np
import pytest

from deepmimic_util import clip_path, motions_dir
from trpo_mimic.cli import main
from trpo_mimic.mimic import character as hum
from trpo_mimic.mimic.charfile import CharacterFileError, load_character
from trpo_mimic.mimic.chargeom import default_root_height, frames_to_qpos
from trpo_mimic.mimic.charmjcf import build_model, to_mjcf
from trpo_mimic.mimic.clipfile import parse_frames


@pytest.fixture(scope="module")
def humanoid():
    m = motions_dir()
    return load_character(m / "humanoid3d.txt", m / "humanoid3d_phase_rot_ctrl.txt")


@pytest.fixture(scope="module")
def dog():
    m = motions_dir()
    return load_character(m / "dog3d.txt", m / "dog3d_phase_rot_ctrl.txt")


@pytest.fixture(scope="module")
def dog_model(dog):
    return build_model(dog)


def names(model, kind: str, n: int) -> list[str]:
    return [getattr(model, kind)(i).name for i in range(n)]


# ----------------------------------------------------------------------------- parsed characters

def test_frame_layout_and_helpers(humanoid, dog):
    assert humanoid.frame_fields() == hum.FRAME_FIELDS and humanoid.frame_width == hum.FRAME_WIDTH == 44
    assert humanoid.spherical_joints == hum.SPHERICAL_JOINTS
    assert humanoid.revolute_joints == hum.REVOLUTE_JOINTS
    assert set(humanoid.end_effectors) == set(hum.END_EFFECTOR_SITES)
    assert humanoid.diff_weights["chest"] == 0.5 and humanoid.diff_weights["right_wrist"] == 0
    assert humanoid.fall_contact_bodies == ("root", "chest", "neck")
    assert humanoid.update_rate == 30 and humanoid.kp[1] == 1000 and humanoid.kd[1] == 100
    trot = json.loads((motions_dir() / "dog3d_trot.txt").read_text())["Frames"]
    assert dog.frame_width == 84 == len(trot[0])
    assert dog.end_effectors == ("left_finger", "right_finger", "left_toe", "right_toe")
    assert dog.joint("left_leg").type == "revolute" and dog.joint("left_leg").axis_range(0) == (-3.14, 0)
    assert dog.joint("spine0").axis_range(0) is None  # LimLow 1, LimHigh 0: no limit


# ----------------------------------------------------------------------------- the humanoid

def test_the_shipped_humanoid_is_the_compiled_character_file(humanoid):
    """assets/humanoid3d.xml is what build-character writes from DeepMimic's humanoid3d.txt and its controller
    (regenerate it with `trpo-mimic build-character` when the compiler changes), and its masses, limits and
    gains are the files' numbers, read here from the JSON directly."""
    assert hum.ASSET_XML.read_text() == to_mjcf(humanoid), (
        "assets/humanoid3d.xml is stale: trpo-mimic build-character ../shared/motions/humanoid3d.txt --controller "
        "../shared/motions/humanoid3d_phase_rot_ctrl.txt --out src/trpo_mimic/mimic/assets/humanoid3d.xml")
    h = hum.character_model()
    m = motions_dir()
    joints = json.loads((m / "humanoid3d.txt").read_text())["Skeleton"]["Joints"]
    bodies = json.loads((m / "humanoid3d.txt").read_text())["BodyDefs"]
    pd = json.loads((m / "humanoid3d_phase_rot_ctrl.txt").read_text())["PDControllers"]
    for j, b, c in zip(joints, bodies, pd):
        assert h.body(j["Name"]).mass[0] == pytest.approx(b["Mass"], abs=1e-12), j["Name"]
        hinges = {"spherical": [f"{j['Name']}_{a}" for a in "xyz"], "revolute": [j["Name"]]}.get(j["Type"], [])
        for k, hinge in enumerate(hinges):
            assert tuple(h.joint(hinge).range) == (j[f"LimLow{k}"], j[f"LimHigh{k}"]), hinge
            assert h.dof_damping[h.joint(hinge).dofadr[0]] == c["Kd"], hinge
            a = h.actuator(hinge)
            assert a.gainprm[0] == c["Kp"] and tuple(a.forcerange) == (-j["TorqueLim"], j["TorqueLim"]), hinge
            assert tuple(a.ctrlrange) == (j[f"LimLow{k}"], j[f"LimHigh{k}"]), hinge
    assert h.nu == 28 and h.nq == 35 and h.nbody == 16
    # the same clip gives the same qpos through the generic conversion and the humanoid's
    frames, _ = parse_frames(json.loads(clip_path("walk").read_text()), "walk")
    np.testing.assert_array_equal(frames_to_qpos(frames, h, humanoid.frame_fields()), hum.frames_to_qpos(frames))


def test_default_names_and_root_height(humanoid):
    assert default_root_height(humanoid) == 0.9  # rest-pose sole 0.8814 m below the root, + 1 cm, whole cm
    m = build_model(humanoid)
    h = hum.character_model()
    np.testing.assert_allclose(m.site("right_ankle_sole").pos, [0.045, 0, -0.05], atol=1e-12)  # the box's bottom
    np.testing.assert_allclose(m.body_pos, h.body_pos, atol=1e-12)
    passive = build_model(load_character(humanoid.path))  # no controller: no actuators, no damping
    assert passive.nu == 0 and not passive.dof_damping.any() and passive.nq == h.nq


# ----------------------------------------------------------------------------- the dog

def test_dog_compiles(dog, dog_model):
    m = dog_model
    assert (m.nbody, m.nq, m.nu) == (24, 7 + 58, 58)
    assert names(m, "body", m.nbody)[1:6] == ["root", "spine0", "spine1", "neck", "head"]
    assert np.isclose(m.body_subtreemass[1], 29.25)
    assert m.actuator("tail1_x").gainprm[0] == 10 and m.dof_damping[m.joint("tail1_x").dofadr[0]] == 1
    np.testing.assert_allclose(m.actuator("spine0_x").ctrlrange, [-np.pi, np.pi])  # unlimited hinge


def hold(m: mujoco.MjModel, qpos0: np.ndarray, steps: int = 2400) -> mujoco.MjData:
    """Start at qpos0 with the PD targets at its hinge angles and step (2400 steps = 10 s at 240 Hz)."""
    d = mujoco.MjData(m)
    d.qpos[:] = qpos0
    d.ctrl[:] = qpos0[m.jnt_qposadr[m.actuator_trnid[:, 0]]]
    for _ in range(steps):
        mujoco.mj_step(m, d)
    return d


def test_dog_stands_10s_in_its_rest_pose(dog_model):
    m = dog_model
    d = hold(m, m.qpos0.copy())
    assert np.isfinite(d.qpos).all() and np.isfinite(d.qvel).all()
    # measured: root 0.689 m (starts 0.71), its z axis 0.998 up, |qvel| < 1e-3
    assert d.qpos[2] > 0.65
    assert d.xmat[m.body("root").id][8] > 0.99
    assert np.abs(d.qvel).max() < 1e-2


def test_dog_holding_the_trot_clips_first_frame(dog, dog_model):
    """A trot frame stands on a diagonal pair of feet, so holding it still tips the dog onto its side
    (measured: root 0.114 m after 10 s, left side down); what must hold is the simulation: finite, at rest,
    the PD still holding the pose, nothing sunk through the floor."""
    m = dog_model
    frames = np.array(json.loads((motions_dir() / "dog3d_trot.txt").read_text())["Frames"])
    q0 = frames_to_qpos(frames, m, dog.frame_fields())[0]
    assert np.isclose(q0[2], frames[0, 2])  # the file's y (up) is the model's z
    d = hold(m, q0)
    assert np.isfinite(d.qpos).all() and np.isfinite(d.qvel).all()
    assert np.abs(d.qvel).max() < 1e-2  # measured 8e-5: settled, no ringing
    adr = m.jnt_qposadr[m.actuator_trnid[:, 0]]
    assert np.abs(d.qpos[adr] - q0[adr]).max() < 0.1  # measured 0.042 rad
    assert 0.06 < d.qpos[2] < 0.3  # measured 0.114 m: lying on its side, root sphere (r 0.06) above the floor


# ----------------------------------------------------------------------------- malformed files

def _humanoid_docs():
    m = motions_dir()
    return (json.loads((m / "humanoid3d.txt").read_text()),
            json.loads((m / "humanoid3d_phase_rot_ctrl.txt").read_text()))


def _joint(doc, i):
    return doc["Skeleton"]["Joints"][i]


BAD_CHARACTERS = [
    ("missing Parent", lambda c, k: _joint(c, 4).pop("Parent"), "joint 'right_knee' (ID 4): missing key 'Parent'"),
    ("Parent not a joint", lambda c, k: _joint(c, 4).update(Parent=40),
     "joint 'right_knee' (ID 4): Parent 40 is not a joint ID"),
    ("negative Mass", lambda c, k: c["BodyDefs"][1].update(Mass=-1),
     "body 'chest' (ID 1): Mass must be positive, got -1"),
    ("Mass not a number", lambda c, k: c["BodyDefs"][1].update(Mass="heavy"),
     "body 'chest' (ID 1): Mass must be a number, got \"heavy\""),
    ("unknown Type", lambda c, k: _joint(c, 6).update(Type="ball"), "joint 'right_shoulder' (ID 6): Type \"ball\""),
    ("planar", lambda c, k: _joint(c, 6).update(Type="planar"),
     "joint 'right_shoulder' (ID 6): Type 'planar' is not supported"),
    ("unknown controller joint", lambda c, k: k["PDControllers"][3].update(Name="tail9"),
     "controller 'tail9' (ID 3): Name \"tail9\" is not a joint of humanoid3d.txt"),
    ("second root", lambda c, k: _joint(c, 9).update(Parent=-1), "joint 'left_hip' (ID 9): Parent -1 makes a second root"),
    ("cycle", lambda c, k: _joint(c, 3).update(Parent=5), "Parent 5 makes a cycle (3 -> 5 -> 4 -> 3)"),
    ("IDs out of order", lambda c, k: _joint(c, 2).update(ID=7), "joint 'neck' (ID 7): ID 7 is entry #2"),
    ("swapped limits", lambda c, k: _joint(c, 3).update(LimLow2=2.57, LimHigh2=-1.57),
     "joint 'right_hip' (ID 3): LimLow2 2.57 > LimHigh2 -1.57"),
    ("body without joint", lambda c, k: c["BodyDefs"].append(dict(c["BodyDefs"][14], ID=15, Name="tail")),
     "body 'tail' (ID 15): no joint has ID 15"),
    ("unknown Shape", lambda c, k: c["BodyDefs"][5].update(Shape="mesh"), "body 'right_ankle' (ID 5): Shape \"mesh\""),
    ("missing Skeleton", lambda c, k: c.pop("Skeleton"), "humanoid3d.txt: missing key 'Skeleton'"),
    ("controller missing Kp", lambda c, k: k["PDControllers"][2].pop("Kp"), "controller 'neck' (ID 2): missing key 'Kp'"),
]


@pytest.mark.parametrize("case,mutate,expected", BAD_CHARACTERS, ids=[b[0] for b in BAD_CHARACTERS])
def test_malformed_files_name_file_joint_and_field(tmp_path, case, mutate, expected):
    char, ctrl = copy.deepcopy(_humanoid_docs())
    mutate(char, ctrl)
    (tmp_path / "humanoid3d.txt").write_text(json.dumps(char))
    (tmp_path / "ctrl.txt").write_text(json.dumps(ctrl))
    with pytest.raises(CharacterFileError) as err:
        load_character(tmp_path / "humanoid3d.txt", tmp_path / "ctrl.txt")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(("humanoid3d.txt: ", "ctrl.txt: ")), msg
    assert expected in msg, msg


def test_non_json_file(tmp_path):
    (tmp_path / "x.txt").write_text('{"Skeleton": {"Joints": [1, 2,]}')
    with pytest.raises(CharacterFileError, match=r"^x\.txt: not valid JSON: .*line 1, column"):
        load_character(tmp_path / "x.txt")


def test_sole_sites_must_be_box_end_effectors(humanoid):
    with pytest.raises(CharacterFileError, match="joint 'chest' is not an end effector with a box"):
        to_mjcf(humanoid, sole_sites={"chest": "chest_sole"})


# ----------------------------------------------------------------------------- the command line

def test_build_character_cli_writes_a_loadable_model(tmp_path, capsys):
    m = motions_dir()
    out = tmp_path / "humanoid.xml"
    assert main(["build-character", str(m / "humanoid3d.txt"), "--controller",
                 str(m / "humanoid3d_phase_rot_ctrl.txt"), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out} (15 bodies, 28 hinges, 28 actuators)"
    model = mujoco.MjModel.from_xml_path(str(out))
    assert (model.nbody, model.nu) == (16, 28)


def test_build_character_cli_error_is_one_line_exit_2(tmp_path, capsys):
    doc, _ = _humanoid_docs()
    doc["BodyDefs"][1]["Mass"] = -1
    (tmp_path / "bad.txt").write_text(json.dumps(doc))
    assert main(["build-character", str(tmp_path / "bad.txt"), "--out", str(tmp_path / "o.xml")]) == 2
    err = capsys.readouterr().err
    assert err == "trpo-mimic: error: bad.txt: body 'chest' (ID 1): Mass must be positive, got -1\n"
    assert not (tmp_path / "o.xml").exists()


# ----------------------------------------------------------------------------- the dog as an environment

def test_the_dog_imitates_its_clips_in_the_deepmimic_env(tmp_path, monkeypatch):
    """character_file=dog3d.txt (found like a clip; its controller beside it): the compiled dog, its 84-number
    clips, RSI onto the clip's pose, its own DiffWeights and end effectors in the reward, falls on every body
    but the toes and fingers, pushes on its root; a humanoid clip is refused by frame width; play-motion draws
    the dog's clip."""
    import warnings
    from trpo_mimic.mimic import DeepMimicEnv, MotionError, MotionWarning
    from trpo_mimic.mimic.push import Pushes
    monkeypatch.setenv("TRPO_MIMIC_MOTION_DIR", str(motions_dir()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MotionWarning)  # the trot clip has a quaternion off by 0.1
        env = DeepMimicEnv(motion_file="dog3d_trot.txt", character_file="dog3d.txt", action_mode="residual",
                           pd_feedforward=True, ref_obs=True)
        assert env.action_space.shape == (58,) and env.observation_space.shape == (2 + 23 * 13 + 5,)
        assert env.core.joint_weights["neck"] == 0.5 and env.core.joint_weights["tail1"] == 0.05  # the dog's
        assert [env.model.site(int(s)).name for s in env.index.ee_sites] == ["left_finger", "right_finger",
                                                                            "left_toe", "right_toe"]
        _, info = env.reset(seed=1)
        assert info["reward_pose"] > 0.999 and info["error_body_pos_local"] < 1e-3
        rewards = []
        for _ in range(10):
            _, r, terminated, _, info = env.step(np.zeros(58))
            rewards.append(r)
        assert np.all(np.isfinite(rewards)) and rewards[0] > 0.85 and min(rewards) > 0.3  # zero residual: drifts
        pushed = Pushes(env, 100.0)
        assert pushed.body == env.index.root_body
        with pytest.raises(MotionError, match="has 44 numbers, expected 84"):
            DeepMimicEnv(motion_file="humanoid3d_walk.txt", character_file="dog3d.txt")
        out = tmp_path / "trot.gif"
        assert main(["play-motion", "dog3d_trot.txt", "--character_file", "dog3d.txt", "--out", str(out)]) == 0
    import imageio.v2 as imageio
    assert len(imageio.mimread(out)) == 17  # 0.517 s at 30 fps, both ends


def test_a_controller_of_another_rate_is_refused_by_the_env(tmp_path):
    """The environment acts at 30 Hz: a controller file with another UpdateRate is an error, not ignored."""
    from trpo_mimic.mimic import DeepMimicEnv
    m = motions_dir()
    ctrl = json.loads((m / "humanoid3d_phase_rot_ctrl.txt").read_text())
    ctrl["UpdateRate"] = 60
    (tmp_path / "ctrl60.txt").write_text(json.dumps(ctrl))
    with pytest.raises(ValueError, match="UpdateRate is 60 Hz; this environment controls at 30 Hz"):
        DeepMimicEnv(motion_file=str(clip_path("walk")), character_file=str(m / "humanoid3d.txt"),
                     controller_file=str(tmp_path / "ctrl60.txt"))
