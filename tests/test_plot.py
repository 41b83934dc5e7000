"""Learning curves (issue 37, part 5): DeepMimic runs plot reward per step for training and evaluation on one
0-1 scale with the episode length under it; other runs keep the episode return. The progress.csv files are
written by the trainer's own RunLogger, rows as train.py logs them (an iteration's row, an evaluation's row)."""
from __future__ import annotations

from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest

from trpo_mimic.logger import RunLogger
from trpo_mimic.plot import figure, per_step_run, per_step_curves, plot_runs

# a DeepMimic run: short training episodes (the pose termination ends them), evaluations that run to the limit
TRAIN = [(4096, 61.2, 72.0), (8192, 80.5, 91.0), (12288, 120.0, 130.0), (16384, 150.4, 160.0)]
EVALS = [(8192, 270.0, 300.0, 2.0), (16384, 285.0, 300.0, 0.0)]


def write_run(run_dir: Path, config: dict, train=TRAIN, evals=EVALS, deepmimic_terms: bool = True) -> Path:
    log = RunLogger(run_dir, config, tensorboard=False)
    ev = {step: (r, l, t) for step, r, l, t in evals}
    for i, (step, ret, length) in enumerate(train):
        row = {"TRPO/kl": 0.01, "Rollout/NonFiniteEpisodes": 0.0, "iteration": float(i + 1),
               "Rollout/EpisodeReturn": ret, "Rollout/EpisodeLength": length}
        if deepmimic_terms:
            row["DeepMimic/reward_pose"] = 0.9
        log.log(row, step)
        if step in ev:
            r, l, t = ev[step]
            log.log({"Eval/Return": r, "Eval/ReturnStd": 1.0, "Eval/EpisodeLength": l, "Eval/Terminated": t,
                     "Eval/RewardPerStep": r / l}, step)
    log.close()
    return run_dir


def lines_and_points(ax):
    """(each line's (x, y) without the horizontal limit line, the scatter points (x, y))."""
    lines = [(np.asarray(l.get_xdata(), float), np.asarray(l.get_ydata(), float)) for l in ax.get_lines()
             if l.get_linestyle() != "--"]
    from matplotlib.collections import PathCollection  # scatter's; fill_between's band is another kind
    pts = np.concatenate([c.get_offsets() for c in ax.collections if isinstance(c, PathCollection)]
                         or [np.zeros((0, 2))])
    return lines, pts


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt
    plt.close("all")


def test_deepmimic_run_plots_reward_per_step_over_episode_length(tmp_path):
    run = write_run(tmp_path / "DeepMimic-v0-trpo-1-x", {"env_id": "DeepMimic-v0", "max_episode_steps": None})
    assert per_step_run(run)
    fig = figure([run])
    assert len(fig.axes) == 2
    top, bottom = fig.axes
    assert top.get_ylabel() == "reward per step" and bottom.get_ylabel() == "episode length (steps)"
    (line,), pts = lines_and_points(top)
    steps = [s for s, _, _ in TRAIN]
    per_step = [r / l for _, r, l in TRAIN]  # 0.85, 0.8846, 0.9231, 0.94
    np.testing.assert_allclose(line[0], steps)
    np.testing.assert_allclose(line[1], per_step)
    np.testing.assert_allclose(pts, [[8192, 0.9], [16384, 0.95]])
    # one scale: the raw returns (61-285) would not fit it
    assert top.get_ylim()[0] == 0 and 1.0 <= top.get_ylim()[1] < 1.1
    assert all(0 <= v <= 1 for v in [*line[1], *pts[:, 1]])
    (length,), len_pts = lines_and_points(bottom)
    np.testing.assert_allclose(length[1], [l for _, _, l in TRAIN])
    np.testing.assert_allclose(len_pts, [[8192, 300.0], [16384, 300.0]])
    (limit,) = [l for l in bottom.get_lines() if l.get_linestyle() == "--"]
    assert set(limit.get_ydata()) == {300}  # the DeepMimic ids' limit where the run set none


def test_deepmimic_series_are_return_over_length(tmp_path):
    run = write_run(tmp_path / "r", {"env_id": "DeepMimicWalk-v0", "max_episode_steps": 120},
                    evals=[(12288, 60.0, 120.0, 0.0)])
    s = per_step_curves(run)
    np.testing.assert_allclose(s["train"][1], [61.2 / 72, 80.5 / 91, 120 / 130, 150.4 / 160])
    np.testing.assert_allclose(s["train_length"][1], [72, 91, 130, 160])
    np.testing.assert_allclose(s["eval"][0], [12288])
    np.testing.assert_allclose(s["eval"][1], [0.5])
    np.testing.assert_allclose(s["eval_length"][1], [120])
    fig = figure([run])
    (limit,) = [l for l in fig.axes[1].get_lines() if l.get_linestyle() == "--"]
    assert set(limit.get_ydata()) == {120}  # --max_episode_steps


def test_deepmimic_run_is_told_by_its_columns_without_a_config(tmp_path):
    run = write_run(tmp_path / "r", {})
    (run / "config.json").unlink()
    assert per_step_run(run)
    assert len(figure([run]).axes) == 2
    other = write_run(tmp_path / "o", {}, deepmimic_terms=False)
    (other / "config.json").unlink()
    assert not per_step_run(other)


def test_gymnasium_run_keeps_one_axis_of_return(tmp_path):
    train = [(2000, -1200.0, 200.0), (4000, -900.0, 200.0), (6000, -400.0, 200.0)]
    run = write_run(tmp_path / "Pendulum-v1-trpo-1-x", {"env_id": "Pendulum-v1"}, train=train,
                    evals=[(4000, -800.0, 200.0, 0.0)], deepmimic_terms=False)
    assert not per_step_run(run)
    fig = figure([run])
    assert len(fig.axes) == 1
    (ax,) = fig.axes
    assert ax.get_ylabel() == "episode return"
    (line,), pts = lines_and_points(ax)
    np.testing.assert_allclose(line[1], [-1200, -900, -400])
    np.testing.assert_allclose(pts, [[4000, -800]])


def test_several_deepmimic_runs_give_mean_and_band_per_step(tmp_path):
    a = write_run(tmp_path / "a", {"env_id": "DeepMimic-v0"})
    b = write_run(tmp_path / "b", {"env_id": "DeepMimic-v0"},
                  train=[(s, 0.5 * l, l) for s, _, l in TRAIN])  # 0.5 per step throughout
    fig = figure([a, b])
    top, bottom = fig.axes
    lines, pts = lines_and_points(top)
    assert len(lines) == 3  # each run faint, and the mean
    grid, mean = lines[-1]
    expected = (np.interp(grid, [s for s, _, _ in TRAIN], [r / l for _, r, l in TRAIN]) + 0.5) / 2
    np.testing.assert_allclose(mean, expected)
    assert len(pts) == 4  # both runs' evaluations
    assert any(type(c).__name__ in ("PolyCollection", "FillBetweenPolyCollection") for c in top.collections)
    np.testing.assert_allclose(lines_and_points(bottom)[0][-1][1],
                               np.interp(grid, [s for s, _, _ in TRAIN], [l for _, _, l in TRAIN]))


def test_plot_command_writes_the_deepmimic_png(tmp_path):
    from conftest import run_cli_here
    run = write_run(tmp_path / "DeepMimic-v0-trpo-1-x", {"env_id": "DeepMimic-v0"})
    out = tmp_path / "curve.png"
    r = run_cli_here("plot", str(run), "--out", str(out))
    assert r.returncode == 0, r.stderr
    img = imageio.imread(out)
    assert img.shape[0] == 600 and img.shape[1] == 700  # the two-panel figure: 7 x 6 inches at 100 dpi


def test_a_run_without_returns_is_a_clear_error(tmp_path):
    run = write_run(tmp_path / "r", {"env_id": "DeepMimic-v0"}, train=[], evals=[])
    RunLogger(run, {"env_id": "DeepMimic-v0"}, tensorboard=False).log({"TRPO/kl": 0.01}, 10)
    with pytest.raises(ValueError, match="none of the runs has logged an episode return yet"):
        plot_runs([run], tmp_path / "x.png")


@pytest.mark.parametrize("content,message", [
    (b"\x80\x97\xff binary", r"progress\.csv: not a progress log \('utf-8' codec"),
    (b"timesteps,Rollout/EpisodeReturn\n4096,12.5\n8192,abc\n", r"progress\.csv, line 3: Rollout/EpisodeReturn is 'abc', "
                                                               r"not a number"),
    (b"timesteps,Rollout/EpisodeReturn\nlots,12.5\n", r"progress\.csv, line 2: timesteps is 'lots', not a number"),
])
def test_a_progress_log_that_is_not_one_is_one_line_naming_the_file(tmp_path, content, message):
    from conftest import run_cli_here
    run = tmp_path / "r"
    run.mkdir()
    (run / "progress.csv").write_bytes(content)
    with pytest.raises(ValueError, match=message):
        plot_runs([run], tmp_path / "x.png")
    r = run_cli_here("plot", str(run), "--out", str(tmp_path / "y.png"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and str(run / "progress.csv") in r.stderr, r.stderr
    assert not (tmp_path / "y.png").exists()
