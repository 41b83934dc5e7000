"""The motion-set distance (issue 41): exact nearest windows, frame invariance, the set's own spread."""

from __future__ import annotations

import numpy as np
import pytest

from trpo_mimic.mimic.motion_set_distance import MotionSet, nearest, relative_poses, windows


def test_nearest_is_the_mean_of_body_distances_by_brute_force():
    rng = np.random.default_rng(0)
    q, b = rng.normal(size=(300, 4, 3)), rng.normal(size=(50, 4, 3))
    d, i = nearest(q, b)
    brute = np.linalg.norm(q[:, None] - b[None], axis=-1).mean(axis=-1)  # (300, 50)
    np.testing.assert_array_equal(i, brute.argmin(axis=1))
    np.testing.assert_allclose(d, brute.min(axis=1), atol=1e-9)


def test_a_hand_made_pair():
    a = np.zeros((1, 2, 3))
    b = np.array([[[3.0, 4.0, 0.0], [0.0, 0.0, 1.0]]])  # 5 m and 1 m: mean 3 m
    d, _ = nearest(a, b)
    assert d[0] == pytest.approx(3.0)


def test_place_and_heading_do_not_matter():
    rng = np.random.default_rng(1)
    body = rng.normal(size=(5, 6, 3))
    root = rng.normal(size=(5, 3))
    yaw = 0.7
    quat = np.tile([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)], (5, 1))
    base = relative_poses(body, root, quat)
    c, s = np.cos(0.4), np.sin(0.4)
    rz = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    moved = (body - root[:, None]) @ rz.T + root[:, None] + [2.0, -1.0, 0.0]
    q2 = np.tile([np.cos((yaw + 0.4) / 2), 0.0, 0.0, np.sin((yaw + 0.4) / 2)], (5, 1))
    np.testing.assert_allclose(relative_poses(moved, root + [2.0, -1.0, 0.0], q2), base, atol=1e-12)
    assert windows(base).shape == (4, 12, 3)


def test_a_clip_is_at_distance_zero_from_its_set_and_the_set_has_a_spread():
    from trpo_mimic.mimic.core import load_clips
    from trpo_mimic.mimic.layout import StateLayout
    clips, _ = load_clips(["humanoid3d_walk.txt", "humanoid3d_run.txt"])
    model = clips[0].model
    layout = StateLayout.of(model, clips[0].index)
    ms = MotionSet(clips, layout)
    own = ms.distance(ms.clip_windows[0])
    assert own.mean < 1e-6 and own.coverage == 0.5  # walk's windows find themselves
    loo = ms.leave_one_clip_out()
    assert 0.02 < loo.mean < 0.5 and loo.p95 >= loo.mean and loo.coverage == 1.0  # walk vs run: different


def test_a_simulated_pose_is_measured_as_the_clips_own():
    """A character placed in a clip's pose is at that pose's place in the set: its root-relative body positions,
    read from the simulation, equal the clip's at that time (the reference's packed bodies are root-relative
    already; subtracting the root a second time once put every clip frame metres away)."""
    from trpo_mimic.envs import make_vector_env
    from trpo_mimic.mimic.motion_set_distance import clip_poses
    envs = make_vector_env("DeepMimic-v0", 3, "native", 300, training=False, motion_file=["humanoid3d_run.txt"])
    try:
        envs.reset(seed=5)
        core = envs.core
        s, idx = core.physics.state, core.index
        sim = relative_poses(s.xpos[:, idx.bodies], s.xpos[:, idx.root_body], s.xquat[:, idx.root_body])
        np.testing.assert_allclose(sim, clip_poses(core.clips[0], core.layout, core.t), atol=1e-3)  # tabulated kinematics
        assert np.abs(sim[:, 1:]).max() > 0.1  # not trivially zero
    finally:
        envs.close()
