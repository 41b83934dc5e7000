"""trpo_mimic.Controller: a trained character driven from a program (reset, step with a command, push), acting
as `trpo-mimic evaluate` plays the same policy."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from trpo_mimic import Command, Controller
from trpo_mimic.data import shipped


@pytest.fixture(scope="module")
def walk():
    c = Controller("walk")
    yield c
    c.close()


@pytest.fixture(scope="module")
def locomotion():
    c = Controller("locomotion")
    yield c
    c.close()


def _play(c: Controller, steps: int, seed: int, **reset) -> list:
    states = [c.reset(seed=seed, **reset)]
    for _ in range(steps):
        states.append(c.step())
    return states


def _same(a: list, b: list) -> None:
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.qpos, y.qpos)
        np.testing.assert_array_equal(x.body_pos, y.body_pos)
        assert (x.reward, x.clip_time, x.fell) == (y.reward, y.clip_time, y.fell)


def test_a_policy_by_name_by_file_and_by_run_directory_acts_the_same(walk, tmp_path):
    run = tmp_path / "runs" / "x"
    run.mkdir(parents=True)
    shutil.copy(shipped("walk"), run / "latest.pt")
    by_name = _play(walk, 30, seed=4)
    assert by_name[0].reward is None and by_name[-1].step == 30
    assert len({round(s.clip_time, 6) for s in by_name}) == 31  # it moved on
    for source in (str(shipped("walk")), run / "latest.pt", run):
        with Controller(source) as c:
            _same(_play(c, 30, seed=4), by_name)
    other = _play(walk, 30, seed=5)
    assert not np.array_equal(other[0].qpos, by_name[0].qpos)  # the seed picks the start


def test_a_walk_plays_300_steps_as_evaluate_plays_them(walk):
    """The controller's episode is evaluate's first episode of the same seed, step by step: the same poses,
    rewards and clip times (the same env, built in evaluation mode from the policy's config, the same
    deterministic actions through the same inference backend)."""
    from trpo_mimic.checkpoint import load_agent
    from trpo_mimic.evaluate import evaluate_policy
    agent, cfg, _ = load_agent("walk")
    result, arrays = evaluate_policy(agent, cfg, 1, seed=11, record=True, progress=False)
    assert result.lengths == [300] and result.terminated == [False]
    states = _play(walk, 300, seed=11)[1:]
    assert not any(s.fell or s.ended for s in states) and states[-1].time == pytest.approx(10.0)
    np.testing.assert_array_equal(np.array([s.qpos for s in states]), arrays["sim_qpos"])
    np.testing.assert_array_equal([s.reward for s in states], arrays["rewards"])
    np.testing.assert_array_equal([s.clip_time for s in states], arrays["time"])
    assert np.mean([s.reward for s in states]) == pytest.approx(result.reward_per_step, rel=1e-12)
    assert walk.step().step == 301  # no time limit unless max_steps is given


def test_the_state_holds_the_bodies_in_the_world(walk):
    s = walk.reset(seed=0)
    d = walk.env.unwrapped.data
    assert walk.body_names[:2] == ("root", "chest") and len(walk.body_names) == len(s.body_pos) == 15
    np.testing.assert_array_equal(s.body_pos[1], d.body("chest").xpos)
    np.testing.assert_array_equal(s.body_quat[0], d.body("root").xquat)
    np.testing.assert_array_equal(s.qpos[:3], s.body_pos[0])  # the root's free joint sits at the root body
    assert s.qpos.shape == (35,) and s.qvel.shape == (34,) and s.skill == "walk" and walk.skills == ("walk",)
    s.qpos[:] = 0  # a copy, not the simulation's
    assert d.qpos[2] > 0.5


def test_switching_skill_switches_the_clip_the_reference_follows(locomotion, monkeypatch):
    c, u = locomotion, locomotion.env.unwrapped
    assert c.skills == ("walk", "jog", "run")
    calls = []
    switch = u.switch_clip
    monkeypatch.setattr(u, "switch_clip", lambda clip: calls.append(clip) or switch(clip))
    s = c.reset(seed=1, skill="walk")
    assert s.skill == "walk" and u.clip.name == "humanoid3d_walk.txt"
    for _ in range(10):
        s = c.step()
    assert not s.fell and calls == []
    s = c.step({"skill": "run"})
    assert calls == [2] and u.clip_index == 2 and u.clip.name == "humanoid3d_run.txt" and s.skill == c.skill == "run"
    assert u.observation()[-3:].tolist() == [0, 0, 1]  # the policy sees the skill asked for
    core = u.core
    assert core.options.switch_blend == 1.0 and s.clip_time < core.blend_end[0]  # the walk fading into the run
    while s.clip_time < core.blend_end[0]:
        s = c.step()
    assert calls == [2] and not s.fell
    hinges = c.reference_qpos()[7:]
    np.testing.assert_allclose(hinges, u.clips[2].qpos_at(s.clip_time)[7:], atol=1e-9)  # the run's pose, the blend over
    assert np.abs(hinges - u.clips[0].qpos_at(s.clip_time)[7:]).max() > 0.1  # not the walk's
    s = c.step(Command(skill="run"))  # the skill already imitated: no switch
    s = c.step({"skill": "humanoid3d_jog.txt"})  # a clip file name works too
    assert calls == [2, 1] and s.skill == "jog" and u.clip_index == 1
    assert c.reset(seed=1, skill="run").skill == "run" and u.clip_index == 2
    with pytest.raises(ValueError, match="unknown skill 'fly': this policy's skills are walk, jog, run"):
        c.step({"skill": "fly"})
    with pytest.raises(ValueError, match="unknown skill 'fly'"):
        c.reset(skill="fly")


def test_a_policy_trained_with_random_switches_switches_only_when_told(tmp_path):
    """A policy trained with --switch_interval keeps it in its config; a Controller, and `evaluate --clip_sequence`,
    switch only when told (the caller, the sequence), never at random."""
    import torch
    from trpo_mimic.checkpoint import load_checkpoint
    from trpo_mimic.config import Config
    from trpo_mimic.envs import env_kwargs_from_config
    ckpt = load_checkpoint(shipped("locomotion"))
    ckpt["config"] = {**ckpt["config"], "switch_interval": [0.1, 0.1]}  # a switch every 3 steps, were it on
    torch.save(ckpt, tmp_path / "switching.pt")
    c = Controller(tmp_path / "switching.pt")
    try:
        s = c.reset(seed=0, skill="jog")
        for _ in range(30):
            s = c.step()
        assert s.skill == "jog" and c.env.unwrapped.clip.name == "humanoid3d_jog.txt"
    finally:
        c.close()
    cfg = Config.from_dict(ckpt["config"])
    assert env_kwargs_from_config(cfg, training=False)["switch_interval"] == [0.1, 0.1]  # evaluation as trained
    cfg.clip_sequence = ["walk", "run"]
    assert env_kwargs_from_config(cfg, training=False)["switch_interval"] is None


def test_a_single_skill_policy_refuses_other_skills(walk):
    assert walk.reset(seed=0, skill="walk").skill == "walk"
    assert walk.step({"skill": "walk"}).skill == "walk"
    with pytest.raises(ValueError, match="this policy's skills are walk$"):
        walk.step({"skill": "run"})
    assert walk.step().step == 2  # the refused command took no step


def test_a_push_moves_the_character_and_then_stops(walk):
    def run(force: float | None, direction=0.0) -> list:
        states = _play(walk, 5, seed=2, time=0.0)
        if force is not None:
            f = walk.push(force, direction)
            assert np.linalg.norm(f) == pytest.approx(force) and f[2] == 0
        return states + [walk.step() for _ in range(7)]

    plain, zero, east, north = run(None), run(0.0), run(400.0), run(400.0, (0.0, 2.0, 5.0))
    _same(zero, plain)  # 0 N: nothing happens
    _same(east[:6], plain[:6])
    u = walk.env.unwrapped
    dv = east[11].qvel[:2] - plain[11].qvel[:2]  # 0.2 s = 6 steps of 400 N: 80 N s on a 45 kg body
    assert dv[0] > 0.5 and abs(dv[1]) < dv[0] / 2, dv
    dv = north[11].qvel[:2] - plain[11].qvel[:2]
    assert dv[1] > 0.5 and abs(dv[0]) < dv[1] / 2, dv
    assert not np.any(u.data.xfrc_applied)  # the push ended after its 6 steps
    walk.reset(seed=3)
    f = walk.push(100.0)
    walk.reset(seed=3)
    np.testing.assert_array_equal(walk.push(100.0), f)  # a random direction, repeated with the seed
    walk.reset(seed=3)
    assert not np.any(u.data.xfrc_applied)  # a reset ends a push


def test_a_hard_push_fells_the_character_and_the_episode_must_be_reset(walk):
    walk.reset(seed=0)
    walk.push(3000.0, direction=np.pi / 2, seconds=0.5)
    for _ in range(90):
        s = walk.step()
        if s.ended:
            break
    assert s.fell and s.ended and s.step < 90
    with pytest.raises(RuntimeError, match="call reset"):
        walk.step()
    with pytest.raises(RuntimeError, match="call reset"):
        walk.push(100.0)
    assert not np.any(walk.env.unwrapped.data.xfrc_applied)
    assert not walk.reset(seed=0).ended


def test_bad_inputs_raise_clear_errors(walk, tmp_path):
    from trpo_mimic.checkpoint import CheckpointError
    with pytest.raises(CheckpointError, match="shipped policies"):
        Controller("no_such_policy")
    with pytest.raises(ValueError, match="max_steps"):
        Controller("walk", max_steps=0)
    with Controller("walk", max_steps=3) as c:
        with pytest.raises(RuntimeError, match=r"call reset\(\) before step"):
            c.step()
        c.reset(seed=0)
        states = [c.step() for _ in range(3)]
        assert [s.ended for s in states] == [False, False, True] and not states[-1].fell
    walk.reset(seed=0)
    with pytest.raises(ValueError, match="unknown command key 'heading': this policy takes skill"):
        walk.step({"heading": 0.5})
    with pytest.raises(TypeError, match="a command is a dict"):
        walk.step("run")
    with pytest.raises(TypeError, match="a skill is a name"):
        walk.step({"skill": 3})
    for kwargs, match in (({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"), ({"time": -1.0}, "time"),
                          ({"time": float("nan")}, "time"), ({"time": "soon"}, "time")):
        with pytest.raises(ValueError, match=match):
            walk.reset(**kwargs)
    for args, kwargs in (((-1.0,), {}), ((float("nan"),), {}), (("a lot",), {})):
        with pytest.raises(ValueError, match="push force must be a non-negative number"):
            walk.push(*args, **kwargs)
    with pytest.raises(ValueError, match="push seconds"):
        walk.push(100.0, seconds=0)
    for direction in ((0.0, 0.0), "north", (1.0,), float("inf")):
        with pytest.raises(ValueError, match="push direction"):
            walk.push(100.0, direction)


def test_a_policy_of_another_environment_is_refused(tmp_path):
    from trpo_mimic.checkpoint import build_agent, save_checkpoint
    from trpo_mimic.config import Config
    from trpo_mimic.envs import make_env
    cfg = Config(env_id="Pendulum-v1")
    env = make_env(cfg.env_id)
    agent = build_agent(cfg, env.observation_space, env.action_space)
    env.close()
    path = save_checkpoint(tmp_path / "p.pt", {"actor": agent.actor.state_dict(), "critic": agent.critic.state_dict(),
                                               "obs_normalizer": agent.obs_normalizer.state_dict(),
                                               "config": cfg.to_dict()})
    with pytest.raises(ValueError, match="a policy of Pendulum-v1; a Controller drives DeepMimic characters"):
        Controller(path)


def test_import_trpo_mimic_stays_light():
    import subprocess
    import sys
    code = "import sys, trpo_mimic; print(sorted({'torch', 'mujoco'} & set(sys.modules))); trpo_mimic.Controller"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_the_readme_example_runs():
    from pathlib import Path
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text.split("## Drive a character from a program", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    drawn = []
    exec(code, {"draw": lambda qpos, body_pos: drawn.append((qpos.shape, body_pos.shape))})
    assert drawn == [((35,), (15, 3))] * 300
