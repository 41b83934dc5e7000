"""Run directories, TensorBoard scalars, videos, evaluation statistics and plots (issue 4)."""
import re
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from deepmimic_util import motions_dir

FAST = ["--num_envs", "2", "--steps_per_env", "64", "--vf_epochs", "2", "--no-progress"]


@pytest.fixture(scope="module")
def pendulum_run(tmp_path_factory):
    from conftest import run_cli
    root = tmp_path_factory.mktemp("runs")
    r = run_cli("train", "--env_id", "Pendulum-v1", "--num_timesteps", "256", "--save_per_iter", "1",
                "--eval_freq", "1", "--eval_episodes", "2", "--eval_video_budget", "1", "--checkpoint_dir", str(root), "--seed", "3",
                "--max_episode_steps", "50", *FAST)
    assert r.returncode == 0, r.stderr
    line = next(l for l in r.stdout.splitlines() if l.startswith("run directory: "))
    return Path(line.split(": ", 1)[1]), r


def test_run_directory_holds_expected_files(pendulum_run):
    run, r = pendulum_run
    assert run.name.startswith("Pendulum-v1-trpo-3-")
    names = {p.name for p in run.iterdir()}
    for f in ("config.json", "progress.csv", "iter_1.pt", "iter_2.pt", "latest.pt", "learning_curve.png"):
        assert f in names
    assert any(n.startswith("events.out.tfevents") for n in names)
    assert sorted(p.name for p in (run / "videos").iterdir()) == ["final.mp4", "iter_1.mp4", "iter_2.mp4"]
    assert "final eval: return" in r.stdout


def test_tensorboard_holds_named_scalars(pendulum_run):
    run, _ = pendulum_run
    acc = EventAccumulator(str(run))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    for tag in ("TRPO/surrogate", "TRPO/value_loss", "TRPO/kl", "TRPO/entropy", "TRPO/improvement",
                "TRPO/line_search_steps", "TRPO/value_steps_skipped", "TRPO/value_fit_undone", "Rollout/EpisodeReturn", "Rollout/EpisodeLength",
                "Perf/SamplesPerSecond", "Eval/Return"):
        assert tag in tags, tag
    kl = [e.value for e in acc.Scalars("TRPO/kl")]
    assert len(kl) == 2 and all(0 < v <= 0.01 * (1 + 1e-6) for v in kl)
    assert [e.step for e in acc.Scalars("Eval/Return")] == [128, 256, 256]
    assert "hyperparameters/text_summary" in acc.Tags()["tensors"]


def test_training_video_decodes(pendulum_run):
    run, _ = pendulum_run
    frames = [f for f in imageio.get_reader(run / "videos" / "final.mp4")]
    # the preview: at most PREVIEW_FPS (15) frames a second of Pendulum's 30: the reset frame + every 2nd of 50 steps
    assert len(frames) == 26 and frames[0].shape == (500, 500, 3)


@pytest.mark.parametrize("fmt", ["mp4", "avi"])
def test_evaluate_records_video(cli, pendulum_run, tmp_path, fmt):
    run, _ = pendulum_run
    r = cli("evaluate", "--load_model_path", str(run), "--num_eval_episodes", "1", "--max_episode_steps", "30",
            "--record_video", "--video_format", fmt, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    videos = list((tmp_path / "render").glob(f"Pendulum-v1-*.{fmt}"))
    assert len(videos) == 1
    frames = [f for f in imageio.get_reader(videos[0])]
    assert len(frames) == 31 and frames[0].shape == (500, 500, 3)


def test_evaluate_records_a_small_looping_gif(cli, pendulum_run, tmp_path):
    run, _ = pendulum_run
    r = cli("evaluate", "--load_model_path", str(run), "--num_eval_episodes", "1", "--max_episode_steps", "30",
            "--record_video", "--video_format", "gif", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (gif,) = (tmp_path / "render").glob("Pendulum-v1-*.gif")
    frames = imageio.mimread(gif)
    # every third of the 31 frames, scaled from 500 to 240 pixels wide
    assert len(frames) == 11 and frames[0].shape[:2] == (240, 240)


def test_printed_statistics_equal_hand_computation(cli, pendulum_run):
    run, _ = pendulum_run
    r = cli("evaluate", "--load_model_path", str(run), "--num_eval_episodes", "4",
            "--stochastic_policy", "--save_sample", "--seed", "11")
    assert r.returncode == 0, r.stderr
    data = np.load(run / "samples_Pendulum-v1.npz")
    assert data["obs"].shape == (200, 3) and data["actions"].shape == (200, 1)
    returns = np.array([data["rewards"][data["episode"] == e].sum() for e in range(4)])
    line = next(l for l in r.stdout.splitlines() if l.startswith("return:"))
    expected = (f"return:   {returns.mean():.3f} ± {returns.std():.3f}  "
                f"(min {returns.min():.3f}, max {returns.max():.3f})")
    assert line == expected


def test_render_without_display_is_a_clear_error(cli, pendulum_run):
    run, _ = pendulum_run
    r = cli("evaluate", "--load_model_path", str(run), "--render", env={"DISPLAY": "", "WAYLAND_DISPLAY": ""})
    assert r.returncode == 2 and "--render needs a display" in r.stderr


def test_plot_from_two_runs(cli, pendulum_run, tmp_path):
    run, _ = pendulum_run
    r = cli("train", "--env_id", "Pendulum-v1", "--num_timesteps", "256", "--seed", "4", "--eval_freq", "0",
            "--no-eval_video", "--checkpoint_dir", str(tmp_path), "--run_name", "second", *FAST)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "curve.png"
    r = cli("plot", str(run), str(tmp_path / "second"), "--out", str(out))
    assert r.returncode == 0, r.stderr
    img = imageio.imread(out)
    assert img.shape[0] > 200 and img.shape[1] > 300 and img.std() > 5


def test_wandb_missing_is_a_clear_error(tmp_path, monkeypatch):
    import sys
    from trpo_mimic.logger import RunLogger
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if it were not installed
    with pytest.raises(ValueError, match="--wandb needs the wandb package"):
        RunLogger(tmp_path, {}, tensorboard=False, wandb_project="p")


def test_deepmimic_evaluation_reports_terms_falls_and_poses(cli, tmp_path):
    motions = motions_dir()
    r = cli("train", "--env_id", "DeepMimicWalk-v0", "--motion_dir", str(motions), "--num_timesteps", "64",
            "--num_envs", "2", "--steps_per_env", "32", "--vf_epochs", "1", "--eval_freq", "0", "--no-eval_video",
            "--eval_episodes", "1", "--checkpoint_dir", str(tmp_path), "--run_name", "dm", "--no-progress")
    assert r.returncode == 0, r.stderr
    acc = EventAccumulator(str(tmp_path / "dm"))
    acc.Reload()
    for key in ("reward_pose", "reward_velocity", "reward_end_effector", "reward_root", "reward_com_vel",
                "error_body_pos", "error_body_pos_local"):
        assert f"DeepMimic/{key}" in acc.Tags()["scalars"]
    assert "Eval/SuccessRate" in acc.Tags()["scalars"] and "Eval/error_body_pos" in acc.Tags()["scalars"]
    r = cli("evaluate", "--load_model_path", str(tmp_path / "dm"), "--num_eval_episodes", "2",
            "--max_episode_steps", "15", "--save_sample", "--record_video")
    assert r.returncode == 0, r.stderr
    assert "falls:" in r.stdout and "reward_pose" in r.stdout and "mean reward per step" in r.stdout
    data = np.load(tmp_path / "dm" / "samples_DeepMimicWalk-v0.npz")
    n = len(data["rewards"])
    assert data["sim_qpos"].shape == (n, 35) and data["ref_qpos"].shape == (n, 35)
    err, local = data["error_body_pos"], data["error_body_pos_local"]
    assert err.shape == (n,) and local.shape == (n,) and (err >= 0).all() and err.max() > 0
    m = re.search(r"body position error: ([0-9.]+) m mean per step \(relative to the root: ([0-9.]+) m\)", r.stdout)
    assert m and float(m.group(1)) == pytest.approx(err.mean(), abs=1e-3), r.stdout
    assert float(m.group(2)) == pytest.approx(local.mean(), abs=1e-3)
    assert re.search(r"success: \d of 2 episodes \(no fall, body position error under 0.5 m throughout\)", r.stdout)


def test_success_needs_no_fall_and_a_small_error_throughout():
    from trpo_mimic.evaluation.stats import EvalResult
    from trpo_mimic.tasks import task_for
    res = EvalResult([1.0, 1.0, 1.0, 1.0], [5, 5, 5, 5], [False, True, False, False], task=task_for("DeepMimic-v0"),
                     max_errors=[0.3, 0.2, 0.6, 0.49], term_means={"error_body_pos": 0.2})
    assert res.successes == 2 and res.summary()["success_rate"] == 0.5
    assert "success: 2 of 4 episodes" in res.format()
    assert EvalResult([1.0], [5], [False]).successes is None  # not DeepMimic: no error, no success rate


def test_live_render_mode_choice(monkeypatch):
    from trpo_mimic.envs import check_env_id
    from trpo_mimic.evaluation.live import render_mode_for
    monkeypatch.setenv("DISPLAY", ":99")
    check_env_id("DeepMimicWalk-v0")
    assert render_mode_for("Pendulum-v1", True, False) == "human"
    assert render_mode_for("DeepMimicWalk-v0", True, False) is None  # MuJoCo passive viewer instead
    assert render_mode_for("Pendulum-v1", False, True) == "rgb_array"
