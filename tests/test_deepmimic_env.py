"""DeepMimic environment contracts: RSI, termination, determinism, spaces, registration."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest

from deepmimic_util import clip_path, motions_dir
from trpo_mimic.data import MOTIONS_DIR
from trpo_mimic.mimic import (DEFAULT_MAX_EPISODE_STEPS, ENV_IDS, DeepMimicEnv,
                                       MotionError, MotionWarning, register_envs)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MotionWarning)
        yield


@pytest.fixture(scope="module")
def walk_env():
    env = DeepMimicEnv(motion_file=str(clip_path("walk")))
    yield env
    env.close()


@pytest.mark.parametrize("name", ["walk", "run", "jump", "backflip"])
def test_reference_state_init_matches_reference(name):
    env = DeepMimicEnv(motion_file=str(clip_path(name)))
    for seed in range(3):
        obs, info = env.reset(seed=seed)
        assert info["reward"] >= 0.99, info
        assert info["reward_pose"] >= 0.999
        ref_q = env.clip.qpos_at(info["time"])
        np.testing.assert_allclose(env.data.qpos[7:], ref_q[7:], atol=1e-9)
        np.testing.assert_allclose(env.data.qvel, env.clip.qvel_at(info["time"]), atol=1e-9)
        assert abs(env.data.qpos[2] - ref_q[2]) < 0.06  # lifted out of the floor at most
        assert 0.0 <= obs[0] < 1.0


@pytest.mark.parametrize("policy", ["zero", "random"])
def test_bad_actions_fall_within_seconds(walk_env, policy):
    rng = np.random.default_rng(0)
    for seed in range(3):
        walk_env.reset(seed=seed)
        for step in range(150):  # 5 s
            a = np.zeros(28) if policy == "zero" else rng.uniform(-1, 1, 28)
            _, r, term, trunc, info = walk_env.step(a.astype(np.float32))
            assert 0.0 <= r <= 1.0
            assert all(0.0 <= info[f"reward_{k}"] <= 1.0
                       for k in ("pose", "velocity", "end_effector", "root", "com_vel", "com"))
            if term:
                break
        assert term and not trunc and not info["sim_unstable"], (policy, seed, step)
        assert step < 100


def test_reference_targets_track_better_than_zero_actions(walk_env):
    def mean_reward(mode):
        rs = []
        for seed in range(3):
            walk_env.reset(seed=seed)
            for _ in range(15):
                q = walk_env.clip.qpos_at(walk_env.time + walk_env.control_dt)[7:]
                a = (q - walk_env.core.act_center) / walk_env.core.act_half if mode == "ref" else np.zeros(28)
                _, r, term, _, _ = walk_env.step(a)
                rs.append(r)
                if term:
                    break
        return np.mean(rs)
    assert mean_reward("ref") > mean_reward("zero") + 0.1


def test_check_env_passes():
    from gymnasium.utils.env_checker import check_env
    env = DeepMimicEnv(motion_file="builtin:walk")
    check_env(env, skip_render_check=True)
    env_c = DeepMimicEnv(motion_file="builtin:walk", obs_mode="compact")
    check_env(env_c, skip_render_check=True)


def test_same_seed_same_trajectory():
    def rollout(seed):
        env = DeepMimicEnv(motion_file=str(clip_path("run")))
        obs, _ = env.reset(seed=seed)
        rng = np.random.default_rng(seed)
        traj = [obs]
        for _ in range(20):
            obs, r, term, trunc, _ = env.step(rng.uniform(-1, 1, 28).astype(np.float32))
            traj.append(np.append(obs, r))
            if term:
                obs, _ = env.reset()
                traj.append(obs)
        return np.concatenate(traj)
    a, b, c = rollout(3), rollout(3), rollout(4)
    np.testing.assert_array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)


def test_observation_shapes_and_contents():
    deep = DeepMimicEnv(motion_file="builtin:walk")
    comp = DeepMimicEnv(motion_file="builtin:walk", obs_mode="compact")
    assert deep.observation_space.shape == (197,) and comp.observation_space.shape == (56,)
    assert deep.action_space.shape == (28,) and deep.action_space.low.min() == -1.0
    o1, _ = deep.reset(seed=0)
    o2, _ = comp.reset(seed=0)
    assert o1.shape == (197,) and o2.shape == (56,)
    np.testing.assert_allclose(o2, np.concatenate([comp.data.qpos[7:], comp.data.qvel[6:]]))
    # root is at the origin of its own heading frame, with a unit quaternion w >= 0
    assert np.allclose(o1[2:5], 0.0) and o1[1] == pytest.approx(deep.data.xpos[deep.index.root_body][2])
    quats = o1[2 + 45:2 + 45 + 60].reshape(15, 4)
    np.testing.assert_allclose(np.linalg.norm(quats, axis=1), 1.0, atol=1e-9)
    assert np.all(quats[:, 0] >= 0)
    # heading invariance: the deepmimic obs does not change when the world is yawed
    o_a, _ = deep.reset(seed=1)
    d = deep.data
    yaw = 1.0
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    d.qpos[:3] = rot @ d.qpos[:3]
    d.qpos[3:7] = [np.cos(yaw / 2) * d.qpos[3] - np.sin(yaw / 2) * d.qpos[6],
                   np.cos(yaw / 2) * d.qpos[4] - np.sin(yaw / 2) * d.qpos[5],
                   np.cos(yaw / 2) * d.qpos[5] + np.sin(yaw / 2) * d.qpos[4],
                   np.cos(yaw / 2) * d.qpos[6] + np.sin(yaw / 2) * d.qpos[3]]
    d.qvel[:3] = rot @ d.qvel[:3]
    import mujoco
    mujoco.mj_forward(deep.model, d)
    np.testing.assert_allclose(deep.observation(), o_a, atol=1e-9)


def test_unstable_simulation_ends_episode_without_crash(walk_env, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MuJoCo appends its warnings to ./MUJOCO_LOG.TXT
    walk_env.reset(seed=0)
    walk_env.data.qvel[:] = 1e9  # MuJoCo flags and resets; the env must report it
    obs, r, term, trunc, info = walk_env.step(np.zeros(28, np.float32))
    assert term and info["sim_unstable"] and r == 0.0 and np.all(np.isfinite(obs))
    walk_env.reset(seed=0)
    _, _, term, _, info = walk_env.step(np.full(28, np.nan, np.float32))
    assert term and info["sim_unstable"]


def test_registration_and_time_limit(monkeypatch):
    register_envs()
    register_envs()  # idempotent
    assert all(i in gym.envs.registration.registry for i in ENV_IDS)
    env = gym.make("DeepMimicWalk-v0", motion_dir=str(motions_dir()), obs_mode="compact")
    assert env.spec.max_episode_steps == DEFAULT_MAX_EPISODE_STEPS
    assert env.unwrapped.clip.name == "humanoid3d_walk.txt"
    env = gym.make("DeepMimicBuiltinWalk-v0", max_episode_steps=3, early_termination=False)
    env.reset(seed=0)
    for _ in range(3):
        _, _, term, trunc, _ = env.step(env.action_space.sample())
    assert trunc and not term  # the time limit is a truncation
    with pytest.raises(ValueError, match="motion_file"):
        gym.make("DeepMimic-v0")


def test_import_trpo_mimic_registers_the_ids_without_mujoco_or_torch():
    """As Gymnasium packages do: ``import trpo_mimic`` then ``gymnasium.make`` works in a fresh interpreter,
    and the import alone loads neither MuJoCo nor torch."""
    import subprocess
    import sys

    code = ("import sys, gymnasium, trpo_mimic\n"
            "assert 'mujoco' not in sys.modules and 'torch' not in sys.modules, 'heavy import'\n"
            "env = gymnasium.make('DeepMimic-v0', motion_file='builtin:walk')\n"
            "print(env.unwrapped.clip.name, env.spec.max_episode_steps)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-1] == str(DEFAULT_MAX_EPISODE_STEPS)


def test_shortcut_error_lists_places(tmp_path, monkeypatch):
    register_envs()
    monkeypatch.delenv("TRPO_MIMIC_MOTION_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MotionError) as exc:
        gym.make("DeepMimic-v0", motion_file="humanoid3d_not_shipped.txt", motion_dir=str(tmp_path / "nowhere"))
    msg = str(exc.value)
    assert "humanoid3d_not_shipped.txt" in msg and str(tmp_path / "nowhere") in msg
    assert "TRPO_MIMIC_MOTION_DIR" in msg and str(MOTIONS_DIR) in msg and "shared" not in msg


def test_a_shortcut_finds_its_clip_in_the_package(tmp_path, monkeypatch):
    """No motion_dir, no $TRPO_MIMIC_MOTION_DIR, a working directory with nothing beside it: the package's clip."""
    register_envs()
    monkeypatch.delenv("TRPO_MIMIC_MOTION_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    env = gym.make("DeepMimicRun-v0")
    assert env.unwrapped.clip.name == "humanoid3d_run.txt"
    env.close()


def test_render_rgb_array():
    env = DeepMimicEnv(motion_file="builtin:walk", render_mode="rgb_array", width=96, height=64)
    env.reset(seed=0)
    frame = env.render()  # headless EGL must work wherever the tests run (CI included)
    assert frame.shape == (64, 96, 3) and frame.dtype == np.uint8 and frame.std() > 1
    env.close()


def test_fast_reward_and_observation_match_reference_maths():
    import mujoco
    from deepmimic_oracle import oracle_reward
    env = DeepMimicEnv(motion_file=str(clip_path("jump")), early_termination=False)
    env.reset(seed=5)
    rng = np.random.default_rng(5)
    for _ in range(40):  # crosses a cycle boundary of the 1.77 s clip
        obs, r, _, _, info = env.step(rng.uniform(-1, 1, 28).astype(np.float32))
        total, terms = oracle_reward(env)
        assert r == pytest.approx(total, abs=1e-9)
        assert all(info[f"reward_{k}"] == pytest.approx(v, abs=1e-9) for k, v in terms.items())
    # body linear/angular velocities in the obs equal MuJoCo's, rotated into the heading frame
    d, m = env.data, env.model
    nb = len(env.index.bodies)
    xm = d.xmat[env.index.root_body].reshape(3, 3)
    yaw = np.arctan2(xm[1, 0], xm[0, 0])
    rot = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
    for k, b in enumerate(env.index.bodies):
        v = np.zeros(6)
        mujoco.mj_objectVelocity(m, d, mujoco.mjtObj.mjOBJ_XBODY, b, v, 0)
        np.testing.assert_allclose(obs[2 + 7 * nb + 3 * k:2 + 7 * nb + 3 * k + 3], v[3:] @ rot, atol=1e-9)
        np.testing.assert_allclose(obs[2 + 10 * nb + 3 * k:2 + 10 * nb + 3 * k + 3], v[:3] @ rot, atol=1e-9)


def test_residual_zero_action_tracks_the_reference_longer_than_absolute_zero():
    """Residual mode: a zero action holds the clip's pose as PD target, so the character follows it."""
    from deepmimic_util import clip_path
    path = str(clip_path("walk"))
    lengths = {}
    rewards = {}
    for mode in ("absolute", "residual"):
        env = DeepMimicEnv(motion_file=path, action_mode=mode)
        total, steps = 0.0, 0
        for ep in range(4):
            env.reset(seed=ep, options={"time": 0.1 * ep})
            for _ in range(60):
                _, r, term, _, _ = env.step(np.zeros(28))
                total += r
                steps += 1
                if term:
                    break
        lengths[mode], rewards[mode] = steps, total / steps
    assert lengths["residual"] > lengths["absolute"]
    assert rewards["residual"] > rewards["absolute"] + 0.1
    with pytest.raises(ValueError, match="action_mode"):
        DeepMimicEnv(motion_file=path, action_mode="torque")


def test_pd_feedforward_adds_kd_over_kp_times_the_reference_rate():
    """pd_feedforward: ctrl = q_ref(t + dt) + (kd / kp) dq_ref(t + dt) + residual; kd / kp is 0.1 for every
    joint of the character (chest 100/1000, hips 50/500, ankles 40/400, ...), and the reference rate is
    the clip's own (a central difference of its hinge angles)."""
    path = str(clip_path("run"))
    env = DeepMimicEnv(motion_file=path, action_mode="residual", pd_feedforward=True)
    np.testing.assert_allclose(env.core.ff_gain, 0.1, rtol=1e-12)
    clip = env.clip
    h = float(clip.frame_duration[0])
    for t in (0.05, 0.31, 0.52):
        v = clip.hinge_velocities(t)
        np.testing.assert_array_equal(v, clip.qvel_at(t)[env.index.hinge_qvel])  # the RSI / reward reference
        fd = (clip.hinge_targets(t + h) - clip.hinge_targets(t - h)) / (2 * h)  # one frame either side
        assert np.abs(v).max() > 1.0  # a run has fast joints: the check is not vacuous
        assert np.corrcoef(v, fd)[0, 1] > 0.95
    env.reset(seed=0, options={"time": 0.2})
    a = np.full(28, 0.5, dtype=np.float32)
    t1 = env.time + env.control_dt
    want = clip.hinge_targets(t1) + 0.25 * env.core.act_half * 0.5 + 0.1 * clip.hinge_velocities(t1)
    targets = env.core.controls(a[None], np.array([t1]), np.array([0]))[0]  # the PD targets of the step's actions
    np.testing.assert_allclose(targets, want, atol=1e-12)
    assert np.any(want != clip.hinge_targets(t1) + 0.25 * env.core.act_half * 0.5)
    with pytest.raises(ValueError, match="pd_feedforward"):
        DeepMimicEnv(motion_file=path, action_mode="absolute", pd_feedforward=True)


def test_a_saturated_pd_does_not_ring():
    """The walk clip's loop seam moves the left shoulder's target 0.5 rad in one control step: the actuator
    saturates (100 N m). With the PD's damping as the actuator's kv, implicitfast integrated it explicitly
    while saturated and the shoulder rang at 120 Hz (25 rad/s at every control step, sign flipping every
    substep); as joint damping it stays implicit, and the joint moves toward its new target as it does at
    4x the simulation rate."""
    rates = {}
    for hz in (240, 960):
        env = DeepMimicEnv(motion_file=str(clip_path("walk")), action_mode="residual", pd_feedforward=True, sim_hz=hz)
        m = env.model
        dof = m.jnt_dofadr[m.joint("left_shoulder_y").id]
        env.reset(seed=0, options={"time": 1.0})
        seen = []
        for _ in range(12):  # the seam (1.267 s) falls in the 8th step
            env.step(np.zeros(28))
            seen.append(env.data.qvel[dof])
        rates[hz] = np.array(seen)
    assert np.abs(rates[240]).max() < 5.0
    np.testing.assert_allclose(rates[240], rates[960], atol=0.5)
    assert rates[240][7] > 1.0  # it did move: toward the new target (up), not away from it


def test_pd_clamp_total_clamps_p_plus_d_together():
    """pd_clamp='total': before each substep the actuator's P force is set so that P + D (the joint's
    damping) is clamp(kp (target - q) - kd dq, +-L), DeepMimic's law; the targets are held to the control
    range. Hand figures for the right shoulder (kp 400, kd 40, L 100): 1 rad behind its target at 14 rad/s,
    P + D = 400 - 560 = -160 -> -100 N m (the split law: clamp(400) - 560 = -460 N m)."""
    env = DeepMimicEnv(motion_file=str(clip_path("run")), action_mode="residual", pd_feedforward=True,
                       pd_clamp="total")
    m = env.model
    assert not m.actuator_forcelimited.any() and not m.actuator_ctrllimited.any()  # applied by the PD itself
    env.reset(seed=0)
    pd = env.core.physics._pd
    d = env.data
    a = m.actuator("right_shoulder_z").id
    dof = m.jnt_dofadr[m.actuator_trnid[a, 0]]
    q0 = d.qpos[m.jnt_qposadr[m.actuator_trnid[:, 0]]].copy()
    d.qvel[dof] = 14.0
    dq0 = d.qvel[m.jnt_dofadr[m.actuator_trnid[:, 0]]].copy()
    target = q0 + 1.0
    target[0] = 50.0  # far outside chest_x's range (+-1.2): held to 1.2
    pd.worker().step(m, d, target, 1)
    kp, kd = pd.kp, pd.kd
    torque = kp * (d.ctrl - q0) - kd * dq0
    assert kp[a] == 400 and kd[a] == 40 and pd.hi[a] == 100
    assert torque[a] == pytest.approx(-100.0)
    held = np.minimum(target, pd.ctrl_hi)
    np.testing.assert_allclose(torque, np.clip(kp * (held - q0) - kd * dq0, pd.lo, pd.hi), atol=1e-9)
    assert held[0] == pytest.approx(1.2)
    with pytest.raises(ValueError, match="pd_clamp"):
        DeepMimicEnv(motion_file=str(clip_path("walk")), pd_clamp="both")


def test_pd_clamp_total_lets_the_run_follow_its_clip():
    """The split law brakes the run's shoulders and knees (up to 14 rad/s in the clip) by kd dq far past
    their torque limits; clamping P + D together lets them follow. Zero residual from 8 random phases:
    the joints' squared velocity error after the first control step, summed (measured: split 84, total 12
    over 20 phases), and the shoulder's ringing stays away (the saturated-PD test's seam, 240 vs 960 Hz)."""
    err = {}
    for clamp in ("split", "total"):
        env = DeepMimicEnv(motion_file=str(clip_path("run")), action_mode="residual", pd_feedforward=True,
                           pd_clamp=clamp)
        m = env.model
        dofs = m.jnt_dofadr[m.actuator_trnid[:, 0]]
        clip = env.clip
        e = 0.0
        for seed in range(8):
            env.reset(seed=seed)
            env.step(np.zeros(m.nu))
            e += float(((env.data.qvel[dofs] - clip.hinge_velocities_batch(np.array([env.time]))[0]) ** 2).sum())
        err[clamp] = e / 8
    assert err["total"] < 0.3 * err["split"], err
    rates = {}
    for hz in (240, 960):
        env = DeepMimicEnv(motion_file=str(clip_path("walk")), action_mode="residual", pd_feedforward=True,
                           sim_hz=hz, pd_clamp="total")
        dof = env.model.jnt_dofadr[env.model.joint("left_shoulder_y").id]
        env.reset(seed=0, options={"time": 1.0})
        seen = []
        for _ in range(12):
            env.step(np.zeros(28))
            seen.append(env.data.qvel[dof])
        rates[hz] = np.array(seen)
    assert np.abs(rates[240]).max() < 5.0
    np.testing.assert_allclose(rates[240], rates[960], atol=0.5)


def test_pd_feedforward_tracks_a_fast_clip_longer():
    """On the run clip, a zero residual with the velocity feed-forward stays up longer and closer to the
    clip's pose than the zero-velocity PD (measured 27 vs 19 steps, pose 0.73 vs 0.68 over 20 episodes)."""
    path = str(clip_path("run"))
    stats = {}
    for ff in (False, True):
        env = DeepMimicEnv(motion_file=path, action_mode="residual", pd_feedforward=ff)
        steps, pose = 0, 0.0
        for ep in range(10):
            env.reset(seed=ep)
            for _ in range(120):
                _, _, term, _, info = env.step(np.zeros(28))
                steps += 1
                pose += info["reward_pose"]
                if term:
                    break
        stats[ff] = steps, pose / steps
    assert stats[True][0] > stats[False][0] and stats[True][1] > stats[False][1], stats


def test_ref_obs_shows_where_the_reference_root_is():
    """ref_obs appends (reference root - root) in the heading frame and cos/sin of the heading error:
    about zero offset and no heading error at reference-state initialisation; a root moved 0.6 m
    sideways and turned by 0.5 rad sees the reference 0.6 m away and -0.5 rad off."""
    import mujoco
    path = str(clip_path("run"))
    env = DeepMimicEnv(motion_file=path, action_mode="residual", ref_obs=True)
    base = DeepMimicEnv(motion_file=path, action_mode="residual")
    assert env.observation_space.shape == (base.observation_space.shape[0] + 5,)
    obs, _ = env.reset(seed=0, options={"time": 0.3})
    np.testing.assert_allclose(obs[:-5], base.reset(seed=0, options={"time": 0.3})[0], atol=0)
    np.testing.assert_allclose(obs[-5:-2], 0.0, atol=0.02)  # RSI (the root may be lifted out of the floor)
    np.testing.assert_allclose(obs[-2:], [1.0, 0.0], atol=1e-9)
    rq = env.index.root_qpos
    env.data.qpos[rq + 1] += 0.6
    q = env.data.qpos[rq + 3:rq + 7].copy()
    turn = np.array([np.cos(0.25), 0.0, 0.0, np.sin(0.25)])  # 0.5 rad about z
    mujoco.mju_mulQuat(env.data.qpos[rq + 3:rq + 7], turn, q)
    mujoco.mj_forward(env.model, env.data)
    o = env.observation()
    assert np.linalg.norm(o[-5:-3]) == pytest.approx(0.6, abs=0.02) and abs(o[-3]) < 0.02
    assert np.arctan2(o[-1], o[-2]) == pytest.approx(-0.5, abs=1e-6)
    with pytest.raises(ValueError, match="ref_obs"):
        DeepMimicEnv(motion_file=path, obs_mode="compact", ref_obs=True)


def test_root_drift_terminates_only_past_the_threshold():
    """max_root_drift: a root moved 0.6 m away from the reference ends the episode at 0.5 m, not at 1 m."""
    import mujoco
    path = str(clip_path("run"))
    outcomes = {}
    for drift in (None, 0.5, 1.0):
        env = DeepMimicEnv(motion_file=path, action_mode="residual", max_root_drift=drift)
        for shift in (0.0, 0.6):
            env.reset(seed=0, options={"time": 0.3})
            env.data.qpos[env.index.root_qpos + 1] += shift  # sideways, in metres
            mujoco.mj_forward(env.model, env.data)
            _, r, term, trunc, info = env.step(np.zeros(28))
            outcomes[drift, shift] = term
            assert not trunc and 0.0 < r <= 1.0  # the reward is still reported for the last step
        env.close()
    assert outcomes == {(None, 0.0): False, (None, 0.6): False, (0.5, 0.0): False, (0.5, 0.6): True,
                        (1.0, 0.0): False, (1.0, 0.6): False}
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="max_root_drift"):
            DeepMimicEnv(motion_file=path, max_root_drift=bad)


def test_frames_have_no_shadow_acne_on_the_floor():
    """The floor away from the character shows only its checker squares (luminance 150 and up), near the
    origin and 10 m away: a fixed slanted sun left a dithered black patch there (luminance down to 30)."""
    import mujoco

    env = DeepMimicEnv(motion_file=str(clip_path("walk")), render_mode="rgb_array", action_mode="residual")
    for t in (0.5, 8.0):
        env.reset(seed=0)
        env.data.qpos[:] = env.clip.qpos_at(t)
        mujoco.mj_forward(env.model, env.data)
        lum = env.render().astype(float).mean(axis=-1)  # 480 x 640, the character in the middle columns
        floor = np.concatenate([lum[380:, :180].ravel(), lum[380:, 460:].ravel()])
        assert floor.min() > 120, (t, floor.min())
    env.close()


def test_render_draws_the_reference_as_a_ghost():
    """overlay / side draw the clip's pose as a translucent orange second character (and a caption);
    off draws the character alone, as the frames were before."""
    frames = {}
    for view in ("overlay", "side", "off"):
        env = DeepMimicEnv(motion_file=str(clip_path("walk")), render_mode="rgb_array", render_reference=view)
        env.reset(seed=0, options={"time": 0.3})
        for _ in range(12):  # zero actions (absolute mode): the character has left the clip's pose
            env.step(np.zeros(28))
        frames[view] = env.render().astype(int)
        env.close()

    def orange(f):
        r, g, b = f[..., 0], f[..., 1], f[..., 2]
        return int(((r > g + 30) & (g > b + 20)).sum())

    assert orange(frames["off"]) == 0
    assert orange(frames["overlay"]) > 500 and orange(frames["side"]) > 500
    assert np.abs(frames["overlay"] - frames["side"]).sum() > 0
    with pytest.raises(ValueError, match="render_reference"):
        DeepMimicEnv(motion_file=str(clip_path("walk")), render_reference="beside")
    # the live viewer's ghost: the same geoms, appended to its user scene
    import mujoco
    from trpo_mimic.mimic.render import GHOST_RGBA, add_ghost

    env = DeepMimicEnv(motion_file=str(clip_path("walk")))
    scene = mujoco.MjvScene(env.model, maxgeom=200)
    add_ghost(env.model, mujoco.MjData(env.model), scene, env.clip.qpos_at(0.5), side=True)
    assert scene.ngeom == sum(env.model.geom_bodyid > 0)  # every body geom of the character, not the floor
    np.testing.assert_allclose(scene.geoms[0].rgba, GHOST_RGBA, rtol=1e-6)


def test_pushes_topple_with_a_large_force_and_not_with_a_small_one():
    """Pushes (evaluate --push): 0 N leaves the episode bit-identical; with the clip's own PD targets
    (zero residual) the walk stays up 37 steps unpushed and under a 50 N push at 0.2 s, and falls within
    15 steps under 3000 N."""
    from trpo_mimic.mimic.push import Pushes

    def run(force: float | None) -> tuple[int, np.ndarray]:
        env = DeepMimicEnv(motion_file=str(clip_path("walk")), action_mode="residual", pd_feedforward=True)
        if force is not None:
            env = Pushes(env, force, first=(0.2, 0.2))
        obs, _ = env.reset(seed=0, options={"time": 0.0})
        seen = [obs]
        for k in range(60):
            obs, _, term, _, info = env.step(np.zeros(28))
            seen.append(obs)
            if term:
                break
        return k + 1, np.array(seen)

    plain_steps, plain = run(None)
    zero_steps, zero = run(0.0)
    np.testing.assert_array_equal(zero, plain)
    assert run(50.0)[0] >= plain_steps - 2 and plain_steps >= 30
    assert run(3000.0)[0] <= 15
    with pytest.raises(ValueError, match="non-negative"):
        Pushes(DeepMimicEnv(motion_file="builtin:walk"), -1.0)


def test_a_clip_switch_continues_the_reference_where_it_is():
    """switch_clip: the new clip starts at its pose nearest the current reference's (on a 30 Hz grid), its root
    moved onto the character's root (horizontally) and turned to the current reference's heading; the reward, the errors, the
    ref_obs and the ghost all see the moved reference; a reset forgets the move."""
    from trpo_mimic.mimic.quat import quat_yaw, wrap_pi
    walk, run = str(clip_path("walk")), str(clip_path("run"))
    env = DeepMimicEnv(motion_file=[walk, run], action_mode="residual", pd_feedforward=True, ref_obs=True,
                       clip_id_obs=True)
    core, lay = env.core, env.core.layout
    env.reset(seed=0, options={"clip": 0, "time": 1.0})
    for _ in range(12):  # into the walk's second cycle: the walk's own cycle transform is in play
        obs, _, terminated, _, info = env.step(np.zeros(28))
    assert not terminated and info["error_body_pos"] < 0.2
    rows = np.array([0])
    q0, v0 = core.reference(core.t[:1], core.clip_id[:1], rows)
    hinges = core.clips[0].hinge_targets_batch(core.t[:1])
    t_new = env.switch_clip("run")
    assert env.clip_index == 1 and env.time == t_new and t_new < core.clips[1].duration
    grid = np.arange(0.0, core.clips[1].duration, core.control_dt)
    gaps = (wrap_pi(core.clips[1].hinge_targets_batch(grid) - hinges) ** 2).sum(axis=1)
    assert t_new == pytest.approx(grid[np.argmin(gaps)])
    q1, v1 = core.reference(core.t[:1], core.clip_id[:1], rows)
    char_root = env.data.xpos[env.index.root_body, :2]
    assert np.linalg.norm(char_root - v0[0, lay.root_pos][:2]) > 1e-3  # the character is off its reference's path
    np.testing.assert_allclose(v1[0, lay.root_pos][:2], char_root, atol=1e-9)  # the new path starts at the character
    assert quat_yaw(q1[:, 0])[0] == pytest.approx(quat_yaw(q0[:, 0])[0], abs=1e-9)  # and so does the heading
    raw_q, raw_v = core.clips[1].reference_packed_batch(np.array([t_new]))
    assert v1[0, lay.root_pos][2] == pytest.approx(raw_v[0, lay.root_pos][2])  # the height is the clip's
    np.testing.assert_allclose(q1[0, 1:], raw_q[0, 1:], atol=1e-12)  # the joints' rotations are the clip's
    ghost = env.reference_qpos()
    rq = env.index.root_qpos
    np.testing.assert_allclose(ghost[rq:rq + 3], v1[0, lay.root_pos], atol=1e-9)
    o = env.observation()
    np.testing.assert_allclose(o[-7:-5], obs[-7:-5], atol=0.15)  # ref_obs: the reference is still about where it was
    assert o[-2:].tolist() == [0.0, 1.0]  # the clip identifier says run
    _, reward, terminated, _, info = env.step(np.zeros(28))
    assert info["clip"] == 1 and info["error_body_pos"] < 0.5 and reward > 0.3
    env.reset(seed=0, options={"clip": 1, "time": t_new})
    assert not core.ref_moved[0]
    with pytest.raises(ValueError, match="no single clip named 'jump'"):
        env.switch_clip("jump")
