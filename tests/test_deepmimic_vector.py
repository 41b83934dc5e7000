"""DeepMimicVectorEnv: per-sub-env equivalence with DeepMimicEnv, SAME_STEP autoreset, time limit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from deepmimic_util import clip_path
from trpo_mimic.mimic import DeepMimicEnv, MotionWarning
from trpo_mimic.mimic.env import INFO_KEYS
from trpo_mimic.mimic.reward import BODY_ERRORS
from trpo_mimic.mimic.vector import DeepMimicVectorEnv


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MotionWarning)
        yield


# limit: the time limit, chosen so that each case sees both ends (a fall, and the limit): under random actions the
# character stands 11-24 steps with residual actions and no drift bound, 3-12 with the 0.1 m drift bound, 15-26
# with the clip's rates fed forward (the default pd_clamp total)
@pytest.mark.parametrize("obs_mode,nthread,action_mode,drift,ff,ref_obs,clips,limit", [
    ("deepmimic", 2, "absolute", None, False, False, 1, 12), ("compact", 1, "absolute", None, False, False, 1, 12),
    ("deepmimic", 2, "residual", None, False, False, 1, 14), ("deepmimic", 2, "residual", 0.1, False, False, 1, 8),
    ("deepmimic", 2, "residual", None, True, True, 1, 25), ("deepmimic", 2, "residual", 0.3, True, True, 2, 12)])
def test_sub_envs_match_single_env(obs_mode, nthread, action_mode, drift, ff, ref_obs, clips, limit):
    """Sub-env i == DeepMimicEnv reset with seed+i under TimeLimit, through autoresets; with two clips,
    each sub-env draws its own clip per episode and carries the clip identifier in its observation."""
    path = str(clip_path("jump")) if clips == 1 else [str(clip_path("jump")), str(clip_path("run"))]
    kw = dict(motion_file=path, obs_mode=obs_mode, action_mode=action_mode, max_root_drift=drift,
              pd_feedforward=ff, ref_obs=ref_obs, clip_id_obs=clips > 1)
    ends, seen_clips = check_sub_envs_match(kw, nthread, limit=limit)
    assert ends["terminated"] >= 1 and ends["truncated"] >= 1, ends
    assert clips == 1 or seen_clips == {0, 1}


@pytest.mark.parametrize("clip,rules,scale,want", [
    ("crawl", dict(fall_contact_bodies=["root", "chest", "neck"], root_rot_fail=True, pose_termination=0.4), 4.0,
     "terminated"),
    ("getup_faceup", dict(early_termination=False), 1.0, "truncated"),
    ("backflip", dict(root_rot_fail=True, early_termination=False), 0.5, "terminated")])
def test_sub_envs_match_single_env_under_episode_rules(clip, rules, scale, want):
    """The per-skill rules, the pose termination and the body errors agree between the two envs."""
    kw = dict(motion_file=str(clip_path(clip)), action_mode="residual", **rules)
    ends, _ = check_sub_envs_match(kw, 2, limit=40, scale=scale)
    assert ends[want] >= 1, ends


def check_sub_envs_match(kw, nthread, limit=12, scale=4.0):
    """Step DeepMimicVectorEnv and N DeepMimicEnv side by side with random actions; (ends, clips seen)."""
    n, steps, seed = 3, 50, 7
    clips = 2 if isinstance(kw["motion_file"], list) else 1
    venv = DeepMimicVectorEnv(n, max_episode_steps=limit, nthread=nthread, **kw)
    singles = [DeepMimicEnv(**kw) for _ in range(n)]
    seen_clips = set()
    vobs, vinfo = venv.reset(seed=seed)
    sobs = [e.reset(seed=seed + i) for i, e in enumerate(singles)]
    for i, (o, info) in enumerate(sobs):
        np.testing.assert_allclose(vobs[i], o, rtol=0, atol=1e-8)
        assert vinfo["time"][i] == info["time"] and vinfo["_reward"][i]
    elapsed = [0] * n
    actions = np.random.default_rng(0).uniform(-1, 1, (steps, n, 28)).astype(np.float32)
    if kw.get("action_mode") == "residual":  # make the residual big enough to knock the character over
        actions *= scale
    ends = {"terminated": 0, "truncated": 0}
    for t in range(steps):
        vobs, vrew, vterm, vtrunc, vinfo = venv.step(actions[t])
        assert vobs.shape == (n, venv.single_observation_space.shape[0]) and vrew.dtype == np.float64
        for i, e in enumerate(singles):
            o, r, term, trunc, info = e.step(actions[t, i])
            elapsed[i] += 1
            trunc = trunc or elapsed[i] >= limit
            assert (vterm[i], vtrunc[i]) == (term, trunc), (t, i)
            assert vrew[i] == pytest.approx(r, abs=1e-8)
            src = vinfo["final_info"] if term or trunc else vinfo
            for k in (*INFO_KEYS, *BODY_ERRORS):
                assert src[k][i] == pytest.approx(info[k], abs=1e-8) and src["_" + k][i]
            assert src["time"][i] == pytest.approx(info["time"], abs=1e-12)
            assert bool(src["sim_unstable"][i]) == info["sim_unstable"]
            if clips > 1:
                assert src["clip"][i] == info["clip"] and o[-2 + info["clip"]] == 1.0
                seen_clips.add(info["clip"])
            if term or trunc:
                ends["terminated" if term else "truncated"] += 1
                assert vinfo["_final_obs"][i] and vinfo["_final_info"][i]
                np.testing.assert_allclose(vinfo["final_obs"][i], o, rtol=0, atol=1e-8)
                o, rinfo = e.reset()
                elapsed[i] = 0
                assert vinfo["_reward"][i] and vinfo["reward"][i] == pytest.approx(rinfo["reward"], abs=1e-8)
                assert vinfo["time"][i] == rinfo["time"]  # top-level info is the reset's
            elif "_final_obs" in vinfo:
                assert not vinfo["_final_obs"][i]
            np.testing.assert_allclose(vobs[i], o, rtol=0, atol=1e-8)
    venv.close()
    return ends, seen_clips


def test_evaluation_mode_has_no_drift_bound():
    """The drift bound is a training device: mode="eval" keeps the option but ends no episode on it."""
    import mujoco
    path = str(clip_path("run"))
    ends = {}
    for mode in ("train", "eval"):
        venv = DeepMimicVectorEnv(1, motion_file=path, action_mode="residual", max_root_drift=0.5, mode=mode)
        venv.reset(seed=0, options={"time": 0.3})
        d = venv.datas[0]
        d.qpos[1] += 0.6  # sideways, in metres
        mujoco.mj_forward(venv.model, d)
        _, _, term, _, _ = venv.step(np.zeros((1, 28)))
        ends[mode] = bool(term[0])
        assert venv.options.max_root_drift == 0.5
        venv.close()
    assert ends == {"train": True, "eval": False}
    with pytest.raises(ValueError, match="mode"):
        DeepMimicVectorEnv(1, motion_file=path, mode="test")


def test_time_limit_and_spaces():
    venv = DeepMimicVectorEnv(2, motion_file="builtin:walk", early_termination=False, max_episode_steps=3)
    assert venv.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert venv.num_envs == 2 and venv.nthread >= 1
    assert venv.observation_space.shape == (2, 197) and venv.action_space.shape == (2, 28)
    assert venv.single_observation_space.shape == (197,) and venv.single_action_space.shape == (28,)
    obs, info = venv.reset(seed=0)
    assert venv.observation_space.contains(obs)
    assert set(INFO_KEYS) <= set(info) and info["_time"].all()
    for k in range(3):
        obs, rew, term, trunc, info = venv.step(venv.action_space.sample())
        assert not term.any()
        assert trunc.all() == (k == 2) and ("final_obs" in info) == (k == 2)
    assert info["_final_obs"].all() and info["final_obs"].shape == (2, 197)
    assert (info["time"] != info["final_info"]["time"]).all()  # obs and top-level info: next episode
    # the episode counter restarted: three more steps to the next truncation
    for k in range(3):
        _, _, _, trunc, _ = venv.step(venv.action_space.sample())
        assert trunc.all() == (k == 2)
    venv.close()


def test_reset_options_and_seeding():
    venv = DeepMimicVectorEnv(2, motion_file="builtin:walk", nthread=1)
    _, info = venv.reset(seed=3, options={"time": 0.25})
    assert np.all(info["time"] == 0.25)
    a, _ = venv.reset(seed=3)
    b, _ = venv.reset(seed=3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a[0], a[1])  # seeds 3 and 4 differ
    c, _ = venv.reset(seed=[4, 3])
    np.testing.assert_array_equal(c[::-1], a)
    with pytest.raises(RuntimeError):
        DeepMimicVectorEnv(1, motion_file="builtin:walk").step(np.zeros((1, 28)))
    venv.close()


def test_unstable_sub_env_terminates_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MuJoCo appends its warnings to ./MUJOCO_LOG.TXT
    venv = DeepMimicVectorEnv(2, motion_file="builtin:walk")
    venv.reset(seed=0)
    venv.datas[1].qvel[:] = 1e9
    obs, rew, term, trunc, info = venv.step(np.zeros((2, 28)))
    assert list(term) == [False, True] and rew[1] == 0.0 and np.all(np.isfinite(obs))
    fi = info["final_info"]
    assert fi["sim_unstable"][1] and fi["_phase"][1] and not fi["_phase"][0]
    assert all(fi[k][1] == 0.0 for k in INFO_KEYS) and np.all(np.isfinite(info["final_obs"]))
    venv.close()
