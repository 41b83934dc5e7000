"""The package's own data (issue 37): DeepMimic's files with their provenance, skills and policies by name, the
policy cards, and no path to a folder outside the package."""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from trpo_mimic.cli import parse
from trpo_mimic.data import MOTIONS_DIR, PRETRAINED_DIR, names, resolve, shipped
from trpo_mimic.config import Config
from trpo_mimic.mimic.pretrained import (CARD_EPISODES, CARD_KEY, CARD_SEED, CARD_STEPS, GOAL_CARD_EPISODES,
                                         GOAL_CARD_STEPS, card_protocol, falls_interval)

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "trpo_mimic"


def test_no_code_path_refers_to_the_shared_folder():
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in SRC.rglob("*.py")
            for i, line in enumerate(p.read_text().splitlines(), 1) if re.search(r"shared[/\\\"' ]+motions", line)]
    hits += [f"Makefile:{i}" for i, line in enumerate((ROOT / "Makefile").read_text().splitlines(), 1)
             if "shared" in line]
    assert not hits, hits


def test_every_shipped_file_matches_its_provenance_and_carries_the_license():
    text = (MOTIONS_DIR / "PROVENANCE.txt").read_text()
    listed = {line.split()[0].rsplit("/", 1)[-1]: line.split()[2] for line in text.splitlines()
              if len(line.split()) == 3 and re.fullmatch(r"[0-9a-f]{64}", line.split()[2])}
    shipped_files = sorted(p.name for p in MOTIONS_DIR.iterdir() if p.name != "PROVENANCE.txt")
    assert "LICENSE" in shipped_files and "MIT" in (MOTIONS_DIR / "LICENSE").read_text()
    for name in shipped_files:
        data = (MOTIONS_DIR / name).read_bytes()
        if name.endswith(".gz"):  # compressed clips: the provenance is the uncompressed file's
            name, data = name[:-3], gzip.decompress(data)
        assert name in listed, f"{name} ships without a provenance line"
        assert hashlib.sha256(data).hexdigest() == listed[name], name


def test_every_skill_file_and_policy_finds_its_clips_and_character_in_the_package():
    for skill in (SRC / "configs" / "skills").glob("*.txt"):
        words = " ".join(line.split("#", 1)[0] for line in skill.read_text().splitlines()).split()
        i = words.index("--motion_file")
        clips = []
        for w in words[i + 1:]:
            if w.startswith("--"):
                break
            clips.append(w)
        assert clips, skill.name
        for w in clips:
            assert (MOTIONS_DIR / w).is_file(), f"{skill.name}: {w} is not in the package"
        if "--character_file" in words:
            assert (MOTIONS_DIR / words[words.index("--character_file") + 1]).is_file(), skill.name


def test_a_skill_by_name_is_the_preset_and_its_skill_file():
    _, by_name = parse(["train", "--skill", "backflip", "--seed", "3"])
    _, by_files = parse(["train", "--arg_file", str(SRC / "configs" / "deepmimic.txt"), "--arg_file",
                         str(SRC / "configs" / "skills" / "backflip.txt"), "--seed", "3"])
    assert by_name == by_files and by_name["motion_file"] == ["humanoid3d_backflip.txt"]
    _, later = parse(["train", "--skill", "walk", "--max_kl", "0.005"])  # the command line overrides the files
    assert later["max_kl"] == 0.005


@pytest.mark.parametrize("argv, message", [
    (["train", "--skill", "moonwalk"], "--skill 'moonwalk': no such skill (skills: backflip,"),
    (["evaluate", "--pretrained", "moonwalk"], "--pretrained 'moonwalk': no such policy"),
    (["evaluate", "--pretrained", "walk", "--load_model_path", "x.pt"], "not both"),
    (["evaluate", "--load_model_path", "moonwalk"], "checkpoint not found: moonwalk"),
    (["pretrained", "moonwalk"], "'moonwalk': no such policy"),
])
def test_unknown_names_are_one_line_errors(cli, argv, message, tmp_path):
    r = cli(*argv, cwd=tmp_path)
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_a_bare_name_is_a_shipped_policy_unless_a_file_of_that_name_is_here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve("walk") == PRETRAINED_DIR / "walk.pt" and resolve("walk.pt") == PRETRAINED_DIR / "walk.pt"
    (tmp_path / "walk").mkdir()
    assert resolve("walk") == Path("walk")  # a run directory of the user's own comes first
    assert resolve("sub/walk") == Path("sub/walk") and shipped("../walk") is None
    assert set(names()) >= {"walk", "backflip", "dog_trot", "locomotion"}


def test_falls_interval_is_wilsons():
    lo, hi = falls_interval(0, 100)
    assert lo == 0 and hi == pytest.approx(1.96 ** 2 / (100 + 1.96 ** 2), abs=1e-12)  # 0.0370
    lo, hi = falls_interval(11, 100)  # by hand: (0.11 + 0.019208 -/+ 1.96 sqrt(0.0009790 + 0.00009604)) / 1.038416
    assert (lo, hi) == (pytest.approx(0.06253, abs=1e-4), pytest.approx(0.18632, abs=1e-4))
    assert falls_interval(5, 5)[1] == 1.0


@pytest.mark.parametrize("name", names())
def test_every_policy_has_a_complete_card(name):
    ckpt = torch.load(PRETRAINED_DIR / f"{name}.pt", weights_only=True)
    card, goal = ckpt[CARD_KEY], ckpt["config"].get("amp", False)
    episodes, steps, seed = card_protocol(Config.from_dict(ckpt["config"]))
    assert (episodes, steps, seed) == ((GOAL_CARD_EPISODES, GOAL_CARD_STEPS, CARD_SEED) if goal else
                                       (CARD_EPISODES, CARD_STEPS, CARD_SEED))
    assert card["eval"] == {"episodes": episodes, "max_episode_steps": steps, "seed": seed, "deterministic": True}
    for key in ("skill", "character", "samples", "train_minutes", "reward_per_step", "falls", "falls_ci95",
                *(("task_return", "motion_set") if goal else ("body_error_m", "successes")), "reproduce", "clips"):
        assert key in card, key
    assert card["falls_ci95"] == [round(x, 4) for x in falls_interval(card["falls"], episodes)]
    for clip, digest in card["clips"].items():
        assert hashlib.sha256((MOTIONS_DIR / clip).read_bytes()).hexdigest() == digest, clip


def test_the_readme_tables_are_the_cards():
    sys.path.insert(0, str(ROOT / "benchmarks" / "deepmimic"))
    try:
        from cards import readme_rows
    finally:
        sys.path.pop(0)
    rows = "\n".join(readme_rows())
    for page in (ROOT / "README.md", ROOT / "pretrained" / "README.md"):
        text = page.read_text()
        table = text.split("<!-- results:begin -->\n", 1)[1].split("<!-- results:end -->", 1)[0]
        assert table.strip() == rows.strip(), f"{page.name}: run python benchmarks/deepmimic/cards.py --readme"


def test_the_gallerys_figures_are_the_cards():
    sys.path.insert(0, str(ROOT / "benchmarks" / "deepmimic"))
    try:
        from cards import GALLERY_CARD, gallery
    finally:
        sys.path.pop(0)
    text = (ROOT / "docs" / "gallery.md").read_text()
    assert gallery(text) == text, "docs/gallery.md: run python benchmarks/deepmimic/cards.py --readme"
    assert {m.group(1) for m in GALLERY_CARD.finditer(text)} == set(names())  # every shipped policy, once
    assert len(GALLERY_CARD.findall(text)) == len(names())


def test_the_walks_card_equals_a_fresh_evaluation(cli, tmp_path):
    card = torch.load(PRETRAINED_DIR / "walk.pt", weights_only=True)[CARD_KEY]
    r = cli("evaluate", "--pretrained", "walk", "--num_eval_episodes", str(CARD_EPISODES), "--max_episode_steps",
            str(CARD_STEPS), "--seed", str(CARD_SEED), "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"mean reward per step: {card['reward_per_step']:.4f}" in r.stdout
    assert f"falls: {card['falls']} of {CARD_EPISODES}" in r.stdout
    assert f"body position error: {card['body_error_m']:.3f} m" in r.stdout
    assert f"success: {card['successes']} of {CARD_EPISODES}" in r.stdout


def test_a_changed_clip_is_named_with_both_hashes(cli, tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    text = (MOTIONS_DIR / "humanoid3d_walk.txt").read_text()
    (clips / "humanoid3d_walk.txt").write_text(text.replace("\n", "\n\n", 1))  # the same frames, other bytes
    r = cli("evaluate", "--pretrained", "walk", "--motion_dir", str(clips), "--num_eval_episodes", "1",
            "--max_episode_steps", "5", "--no-progress", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    card = torch.load(PRETRAINED_DIR / "walk.pt", weights_only=True)[CARD_KEY]
    new = hashlib.sha256((clips / "humanoid3d_walk.txt").read_bytes()).hexdigest()
    notes = [line for line in r.stdout.splitlines() if line.startswith("note: clip")]
    assert notes == [f"note: clip humanoid3d_walk.txt has sha256 {new}; the policy was trained on sha256 "
                     f"{card['clips']['humanoid3d_walk.txt']}"]
    r = cli("evaluate", "--pretrained", "walk", "--num_eval_episodes", "1", "--max_episode_steps", "5",
            "--no-progress", cwd=tmp_path)
    assert "note: clip" not in r.stdout


def test_pretrained_lists_every_policy_and_shows_one_card(cli, tmp_path):
    r = cli("pretrained", cwd=tmp_path)
    assert r.returncode == 0
    listed = [line.split()[0] for line in r.stdout.splitlines()[1:] if line and not line.startswith("(")]
    assert listed == names()
    r = cli("pretrained", "backflip", cwd=tmp_path)
    card = torch.load(PRETRAINED_DIR / "backflip.pt", weights_only=True)[CARD_KEY]
    assert f"reward per step: {card['reward_per_step']:.4f}" in r.stdout
    assert f"reproduce: {card['reproduce']}" in r.stdout and card["clips"]["humanoid3d_backflip.txt"] in r.stdout
