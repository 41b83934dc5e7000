"""The shipped pretrained DeepMimic policies (pretrained/<skill>.pt): small weights-only files, trained with the
one preset and the skill file of their name, that evaluate (and record) on a fresh clone without training."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from trpo_mimic.cli import parse

ROOT = Path(__file__).resolve().parents[1]
PRETRAINED = sorted((ROOT / "pretrained").glob("*.pt"))
RUN_LENGTH = {"num_timesteps", "save_per_iter", "eval_freq", "eval_episodes"}  # how long, not what, a run trains
BEFORE_TOTAL_CLAMP = {"pd_clamp": (None, "total")}
"""Policies trained before the preset took --pd_clamp total have no pd_clamp in their config: they were trained,
and evaluate, under the environment's default split law (their README rows say `--pd_clamp split`)."""


def test_pretrained_policies_are_shipped_with_their_table():
    assert PRETRAINED, "no pretrained policy in pretrained/"
    table = (ROOT / "pretrained" / "README.md").read_text()
    for f in PRETRAINED:
        assert f"| {f.stem} |" in table, f.name


GOAL_WARM_STARTS: dict[str, set[str]] = {}
"""What a shipped goal policy's last stage changed from the AMP preset (its card's reproduce line says how): none."""
WARM_STARTS = {"locomotion": {"ls_kl_tolerance"}}
"""What a shipped tracking policy's last stage changed from the preset and its skill file, a training setting, not an
episode rule (its card's reproduce line says how): the switching locomotion's whole TRPO steps."""


@pytest.mark.parametrize("path", PRETRAINED, ids=[p.stem for p in PRETRAINED])
def test_pretrained_policy_is_small_weights_only_and_trained_with_preset_and_skill_file(path):
    ckpt = torch.load(path, weights_only=True)
    trained = ckpt["config"]
    goal = trained.get("amp", False)
    assert path.stat().st_size < (2_500_000 if goal else 2_000_000)  # a goal policy keeps its discriminator
    assert ckpt["kind"] == "policy" and "critic_optimizer" not in ckpt and "rng" not in ckpt
    if goal:  # an AMP scene: the AMP preset and its scene's id, but for what its card's warm starts changed
        assert "amp" in ckpt.get("extension_weights", {}), f"{path.name} has no discriminator for a warm start"
        _, recipe = parse(["train", "--arg_file", str(ROOT / "configs" / "amp.txt"), "--env_id", trained["env_id"]])
        differs = {k: (trained.get(k), v) for k, v in recipe.items()
                   if k not in RUN_LENGTH | GOAL_WARM_STARTS.get(path.stem, set()) and trained.get(k) != v}
        assert not differs, f"{path.name} was not trained with configs/amp.txt: {differs}"
        return
    skill_file = ROOT / "configs" / "skills" / f"{path.stem}.txt"
    assert skill_file.is_file(), f"{path.name} has no skill file {skill_file.name}"
    _, recipe = parse(["train", "--arg_file", str(ROOT / "configs" / "deepmimic.txt"), "--arg_file", str(skill_file)])
    differs = {k: (trained.get(k), v) for k, v in recipe.items()
               if k not in RUN_LENGTH | WARM_STARTS.get(path.stem, set()) and trained.get(k) != v}
    if "pd_clamp" not in trained:
        assert differs.pop("pd_clamp", None) == BEFORE_TOTAL_CLAMP["pd_clamp"]
    assert not differs, f"{path.name} was not trained with configs/deepmimic.txt + {skill_file.name}: {differs}"


@pytest.mark.parametrize("path", PRETRAINED, ids=[p.stem for p in PRETRAINED])
def test_pretrained_policy_evaluates_on_a_fresh_clone(cli, path, tmp_path):
    r = cli("evaluate", "--load_model_path", str(path.relative_to(ROOT)), "--num_eval_episodes", "1",
            "--max_episode_steps", "60", "--seed", "3", "--record_video", "--video_format", "gif",
            "--video_dir", str(tmp_path), "--no-progress", cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "falls: 0 of 1" in r.stdout  # a trained policy: two seconds from a random phase without falling
    assert len(list(tmp_path.glob("*.gif"))) == 1


@pytest.mark.parametrize("path", PRETRAINED, ids=[p.stem for p in PRETRAINED])
def test_a_pretrained_policys_card_counts_the_samples_of_its_warm_starts(path):
    """The samples and minutes on a card are the policy's in all: its own run's and those of the runs it was
    warm-started from (their chain in the file), which its reproduce line names."""
    from trpo_mimic.checkpoint import WARM_STARTS, samples_in_all
    ckpt = torch.load(path, weights_only=True)
    card = ckpt["card"]
    samples, seconds = samples_in_all(ckpt)
    assert card["samples"] == samples and card["train_minutes"] == round(seconds / 60, 1)
    chain = ckpt.get(WARM_STARTS, [])
    assert ("--pretrained_weight_path" in card["reproduce"]) == bool(chain), path.name
    assert [w["samples"] for w in card.get("warm_starts", [])] == [w["samples"] for w in chain]
    assert all(w["samples"] > 0 and w["train_seconds"] > 0 for w in chain)
