"""physics="warp": the DeepMimic env stepped by MuJoCo Warp (here on Warp's CPU device) against native MuJoCo.

Warp's kernels compile on first use and are cached (``~/.cache/warp``): the first of these tests on a fresh
machine pays the compilation (1.5 to 2.5 minutes here), the others load the cache.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

from deepmimic_util import clip_path
from trpo_mimic.mimic import MotionWarning
from trpo_mimic.mimic.vector import DeepMimicVectorEnv


N = 4


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MotionWarning)
        yield


def _pair(**kw):
    kw = dict(motion_file=str(clip_path("walk")), action_mode="residual", pd_clamp="total", **kw)
    native = DeepMimicVectorEnv(N, max_episode_steps=1000, nthread=1, **kw)
    warp = DeepMimicVectorEnv(N, max_episode_steps=1000, physics="warp", **kw)
    return native, warp


def _to_float32(env: DeepMimicVectorEnv) -> None:
    """Round the native characters' state to float32, the precision Warp holds it in."""
    for d in env.datas:
        d.qpos[:] = d.qpos.astype(np.float32)
        d.qvel[:] = d.qvel.astype(np.float32)


def test_warp_steps_the_walk_as_native_mujoco_does():
    """From the same state and actions, 30 control steps (240 substeps, pd_clamp total, the preset's law)
    of MuJoCo Warp and native MuJoCo agree within 1e-4 (m, rad) in qpos and body positions, and in the
    reward and its terms.

    The tolerance: Warp computes in float32. Started from the float32-rounded state, native MuJoCo and
    Warp differ by about 3e-6 after 30 steps (measured). Started from the float64 state instead, both
    diverge by centimetres within a second: the reference state initialisation puts the lowest foot at
    exactly zero distance from the floor, and a rounding error decides whether that contact is active;
    the same centimetres separate native MuJoCo from itself started from the rounded state. So the test
    compares from the rounded state, with 30x the measured difference as margin."""
    native, warp = _pair()
    obs_n, _ = native.reset(seed=3)
    obs_w, _ = warp.reset(seed=3)
    np.testing.assert_array_equal(obs_n, obs_w)  # both restarts are placed by native MuJoCo on the host
    _to_float32(native)
    rng = np.random.default_rng(0)
    live = np.ones(N, dtype=bool)  # in their first episode (a restarted one starts from the float64 state)
    start = native.core.physics.state.xpos.copy()
    for _ in range(30):
        a = rng.uniform(-0.3, 0.3, (N, native.single_action_space.shape[0]))
        _, r_n, term_n, trunc_n, info_n = native.step(a)
        _, r_w, term_w, trunc_w, info_w = warp.step(a)
        np.testing.assert_array_equal(term_n[live], term_w[live])
        np.testing.assert_array_equal(trunc_n[live], trunc_w[live])
        sn, sw = native.core.physics.state, warp.core.physics.state
        assert np.abs(sn.qpos - sw.qpos)[live].max() < 1e-4
        assert np.abs(sn.xpos - sw.xpos)[live].max() < 1e-4
        assert np.abs(r_n - r_w)[live].max() < 1e-4
        assert np.abs(info_n["reward_velocity"] - info_w["reward_velocity"])[live].max() < 1e-4
        live &= ~(term_n | trunc_n)
    assert live.sum() >= 2
    assert (np.abs(sn.xpos - start).max(axis=(1, 2))[live] > 0.3).all()  # they walked on
    native.close(), warp.close()


def test_warp_falls_and_restarts_where_native_mujoco_does():
    """Under large random actions the characters fall: each one's first termination comes at the same step
    in both, and the next episode starts from the same observation (autoreset)."""
    native, warp = _pair(pose_termination=0.5)
    native.reset(seed=5)
    warp.reset(seed=5)
    _to_float32(native)
    rng = np.random.default_rng(1)
    first = np.full(N, -1)
    for k in range(60):
        a = rng.uniform(-1.0, 1.0, (N, native.single_action_space.shape[0]))
        obs_n, _, term_n, trunc_n, _ = native.step(a)
        obs_w, _, term_w, trunc_w, _ = warp.step(a)
        live = first < 0
        np.testing.assert_array_equal(term_n[live], term_w[live])
        np.testing.assert_array_equal(trunc_n[live], trunc_w[live])
        ended = live & (term_n | trunc_n)
        np.testing.assert_array_equal(obs_n[ended], obs_w[ended])  # the first observation of the next episode
        first[ended] = k
        if (first >= 0).all():
            break
    assert (first >= 0).all(), first
    native.close(), warp.close()


def test_a_short_training_runs_on_warp(tmp_path):
    """--physics warp reaches the env from the command line; a training runs end to end on it, and the run's
    config keeps it."""
    from trpo_mimic.checkpoint import load_checkpoint
    from trpo_mimic.cli import parse
    from trpo_mimic.config import Config
    from trpo_mimic.train import Trainer
    _, opts = parse(["train", "--env_id", "DeepMimic-v0", "--physics", "warp"])
    assert opts["physics"] == "warp"
    with pytest.raises(SystemExit):
        parse(["train", "--env_id", "DeepMimic-v0", "--physics", "bullet"])
    cfg = Config(env_id="DeepMimic-v0", motion_file=[str(clip_path("walk"))], physics="warp", pd_clamp="total",
                 num_timesteps=16, num_envs=2, steps_per_env=8, vf_epochs=1, eval_freq=0, eval_episodes=0,
                 eval_video=False, checkpoint_dir=str(tmp_path), run_name="w", progress=False)
    tr = Trainer(cfg)
    assert tr.envs.unwrapped.core.physics_name == "warp" if hasattr(tr.envs, "unwrapped") else True
    tr.run()
    ckpt = load_checkpoint(tmp_path / "w")
    assert ckpt["timesteps"] == 16 and ckpt["config"]["physics"] == "warp"


def test_without_the_gpu_extra_warp_is_a_one_line_error(monkeypatch):
    from trpo_mimic.mimic.core import make_core
    monkeypatch.setitem(sys.modules, "mujoco_warp", None)  # as if not installed
    with pytest.raises(RuntimeError, match=r"^physics='warp' needs MuJoCo Warp, which is not installed "
                                           r"\(mujoco_warp missing\): install the gpu extra: pip install "
                                           r"'trpo-mimic\[gpu\]'"):
        make_core(1, motion_file=str(clip_path("walk")), physics="warp")
    with pytest.raises(ValueError, match="physics must be one of mujoco, warp, got 'bullet'"):
        make_core(1, motion_file=str(clip_path("walk")), physics="bullet")


def test_warp_has_no_per_character_mjdata_and_refuses_pushes():
    from trpo_mimic.mimic import DeepMimicEnv
    from trpo_mimic.mimic.push import Pushes
    env = DeepMimicEnv(motion_file=str(clip_path("walk")), physics="warp")
    env.reset(seed=0)
    ref = env.unwrapped.core.reference_qpos(0)
    np.testing.assert_allclose(env.data.qpos[7:], ref[7:], atol=1e-6)  # the host copy of the state, for drawing
    with pytest.raises(AttributeError, match="no MjData per character"):
        env.core.physics.datas
    with pytest.raises(ValueError, match="pushes need physics='mujoco'"):
        Pushes(env, 100.0)


def test_the_recorded_graph_steps_as_the_launches_do():
    """WarpPhysics replays one recorded graph per control step (the default); launching the kernels from
    Python instead gives the same state, bit for bit, and a recording does not step."""
    from trpo_mimic.mimic.core import make_core
    kw = dict(motion_file=str(clip_path("walk")), physics="warp", pd_clamp="total")
    core = make_core(2, **kw)
    plain = make_core(2, physics_options={"graph": False}, **kw).physics
    model = core.model
    assert core.physics._graph is not None and plain._graph is None
    clip = core.clips[0]
    for ph in (core.physics, plain):
        for i, t in enumerate((0.1, 0.6)):
            q = clip.qpos_at(t)
            ph.set_state(i, q, clip.qvel_at(t), q[core.index.hinge_qpos])
        ph.refresh([0, 1])
    start = core.physics.state.qpos.copy()
    np.testing.assert_array_equal(core.physics.wd.qpos.numpy(), plain.wd.qpos.numpy())  # nothing ran yet
    rng = np.random.default_rng(0)
    for _ in range(3):
        ctrl = core.physics.state.qpos[:, core.index.hinge_qpos] + rng.uniform(-0.2, 0.2, (2, model.nu))
        core.physics.step(ctrl)
        plain.step(ctrl)
        for a, b in zip(core.physics.state.arrays(), plain.state.arrays()):
            np.testing.assert_array_equal(a, b)
    assert np.abs(core.physics.state.qpos - start).max() > 1e-3


def test_too_small_a_contact_buffer_is_an_error_not_dropped_contacts():
    env = DeepMimicVectorEnv(2, motion_file=str(clip_path("walk")), physics="warp", physics_options={"nconmax": 1})
    env.reset(seed=0)
    with pytest.raises(RuntimeError, match=r"MuJoCo Warp dropped contacts: more than nconmax=1 per character; "
                                           r"give the env physics_options=\{'nconmax': ...\} with more"):
        env.step(np.zeros((2, env.single_action_space.shape[0])))
