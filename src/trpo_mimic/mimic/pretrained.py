"""Shipped policies found by name, and their cards.

A shipped policy is a weights-only policy file in the package, ``trpo_mimic/data/pretrained/<name>.pt``
(``pretrained/`` in a source checkout). Wherever a checkpoint is read (``evaluate --load_model_path``,
``evaluate --pretrained``, ``train --pretrained_weight_path``, ``export``) a bare name that is not a file or
folder of the working directory names one of them.

Its **card** lives in the file (key ``"card"``): the skill, the character, the samples and training wall time,
the figures of one evaluation (reward per step, falls with a 95% interval, body-position error, success), the
evaluation's protocol (episodes, steps, seed) so that ``trpo-mimic evaluate`` reproduces them, the command that
trained it, and the sha256 of each clip it was trained on. ``trpo-mimic pretrained`` lists them.
"""
from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

from ..data import PRETRAINED_DIR, names

CARD_KEY = "card"
CARD_EPISODES, CARD_STEPS, CARD_SEED = 100, 300, 1234
"""The cards' evaluation: 100 deterministic 10 s episodes from random phases, seed 1234, which no training or
choice of checkpoint uses (training's own evaluations draw other seeds)."""
GOAL_CARD_EPISODES, GOAL_CARD_STEPS = 32, 600
"""A goal policy's card (an AMP scene: heading, target, strike): 32 deterministic 20 s episodes (issue 41's
benchmark, the paper's protocol), seed CARD_SEED, with the normalised task return and the motion-set distance."""


def card_protocol(cfg: Any) -> tuple[int, int, int]:
    """(episodes, steps, seed) of the card of a policy trained with ``cfg``."""
    from .registration import SCENE_IDS
    scene = getattr(cfg, "scene", None) not in (None, "imitate") or cfg.env_id.split("/")[-1] in SCENE_IDS
    if scene or getattr(cfg, "amp", False):
        return GOAL_CARD_EPISODES, GOAL_CARD_STEPS, CARD_SEED
    return CARD_EPISODES, CARD_STEPS, CARD_SEED


def falls_interval(falls: int, episodes: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson's 95% interval of a fall rate (``falls`` of ``episodes``), as fractions."""
    if episodes <= 0:
        return 0.0, 1.0
    p = falls / episodes
    d = 1 + z * z / episodes
    centre = (p + z * z / (2 * episodes)) / d
    half = z * math.sqrt(p * (1 - p) / episodes + z * z / (4 * episodes * episodes)) / d
    return max(0.0, centre - half), min(1.0, centre + half)


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def clip_digests(cfg: Any) -> dict[str, str]:
    """{clip file name: sha256} of the clips the config's DeepMimic environment loads (empty for other envs and
    for generated clips)."""
    from .registration import is_deepmimic
    if not is_deepmimic(cfg.env_id) or cfg.motion_file is None:
        return {}
    from .clipfile import resolve_motion_set
    paths, _ = resolve_motion_set(cfg.motion_file, None, cfg.motion_dir)
    return {Path(p).name: file_sha256(p) for p in paths if not str(p).startswith("builtin:")}


def clip_mismatch(ckpt: dict[str, Any], cfg: Any) -> list[str]:
    """One line per clip whose file, as found now, differs from the one the card says the policy learned."""
    card = ckpt.get(CARD_KEY) or {}
    trained = card.get("clips") or {}
    if not trained:
        return []
    lines = []
    for name, digest in clip_digests(cfg).items():
        if name in trained and trained[name] != digest:
            lines.append(f"note: clip {name} has sha256 {digest}; the policy was trained on sha256 {trained[name]}")
    return lines


def card_from(result: Any, ckpt: dict[str, Any], cfg: Any, skill: str, reproduce: str,
              episodes: int, steps: int, seed: int) -> dict[str, Any]:
    """The card of a policy file from one evaluation of it (``result``: an ``EvalResult``)."""
    from ..evaluation.stats import BODY_ERROR_KEY
    from .scene import TASK_REWARD_KEY
    from ..checkpoint import WARM_STARTS, samples_in_all
    s = result.summary()
    samples, seconds = samples_in_all(ckpt)
    falls = int(s["terminated"])
    lo, hi = falls_interval(falls, int(s["episodes"]))
    card: dict[str, Any] = {
        "skill": skill,
        "env_id": cfg.env_id,
        "character": Path(cfg.character_file).name if getattr(cfg, "character_file", None) else "humanoid3d.txt",
        "samples": samples,  # in all: the policy's own run and the runs it was warm-started from
        "train_minutes": round(seconds / 60, 1),
        "eval": {"episodes": int(s["episodes"]), "max_episode_steps": int(steps), "seed": int(seed),
                 "deterministic": True},
        "reward_per_step": round(float(result.reward_per_step), 4),
        "falls": falls,
        "falls_ci95": [round(lo, 4), round(hi, 4)],
        "reproduce": reproduce,
        "clips": clip_digests(cfg),
    }
    if ckpt.get(WARM_STARTS):
        card["warm_starts"] = [{"from": w["from"], "samples": int(w["samples"]),
                                "train_minutes": round(float(w["train_seconds"]) / 60, 1)} for w in ckpt[WARM_STARTS]]
    if result.return_over_limit is not None and TASK_REWARD_KEY in s:
        card["task_return"] = round(float(result.return_over_limit), 4)
    if BODY_ERROR_KEY in s:  # a goal scene tracks no clip: no error, no success
        card["body_error_m"] = round(float(s[BODY_ERROR_KEY]), 4)
        card["body_error_root_m"] = round(float(s.get(BODY_ERROR_KEY + "_local", float("nan"))), 4)
        if result.successes is not None:
            card["successes"] = int(result.successes)
    per_clip = result.per_clip()
    if len(per_clip) > 1 and "task_return" not in card:  # a goal scene's clips are only where episodes start
        card["per_clip"] = {name: {"reward_per_step": round(float(c["reward_per_step"]), 4),
                                   "falls": int(c["falls"])} for name, c in per_clip.items()}
    return card


def write_card(path: str | Path, card: dict[str, Any]) -> Path:
    """Put ``card`` into the policy file ``path`` (rewritten atomically; weights unchanged)."""
    import torch

    from ..checkpoint import CheckpointError, load_checkpoint, save_checkpoint
    if load_checkpoint(path).get("kind") != "policy":  # checked as any checkpoint is; then kept as it is written
        raise CheckpointError(f"{path}: a card goes into a policy file (trpo-mimic export RUN --pretrained FILE)")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    ckpt.pop("format_version", None)
    return save_checkpoint(path, {**ckpt, CARD_KEY: card})


def read_card(path: str | Path) -> dict[str, Any] | None:
    from ..checkpoint import load_checkpoint
    return load_checkpoint(path).get(CARD_KEY)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def warm_start_text(card: dict[str, Any]) -> str:
    """How much of a card's training came before the policy's own run (its warm starts), or nothing."""
    chain = card.get("warm_starts", [])
    if not chain:
        return ""
    runs = ", then ".join(f"{w['from']} ({w['samples'] / 1e6:.2f}M, {w['train_minutes']:g} min)" for w in chain)
    return f" in all, from warm starts: {runs}"


def card_lines(name: str, card: dict[str, Any]) -> list[str]:
    """A card in full, one fact a line."""
    ev = card["eval"]
    lo, hi = card["falls_ci95"]
    lines = [f"{name}: skill {card['skill']} on {card['env_id']}, character {card['character']}",
             f"  trained on {card['samples']:,} samples in {card['train_minutes']:g} min of training"
             + warm_start_text(card),
             f"  evaluation: {ev['episodes']} deterministic episodes of at most {ev['max_episode_steps']} steps, "
             f"seed {ev['seed']} (trpo-mimic evaluate --pretrained {name} --num_eval_episodes {ev['episodes']} "
             f"--max_episode_steps {ev['max_episode_steps']} --seed {ev['seed']})",
             f"  reward per step: {card['reward_per_step']:.4f}",
             f"  falls: {card['falls']} of {ev['episodes']} (95% interval {_pct(lo)}-{_pct(hi)})"]
    if "task_return" in card:
        lines.append(f"  normalised task return: {card['task_return']:.4f} (the task reward summed over each "
                     f"episode over its {ev['max_episode_steps']} steps)")
    if "motion_set" in card:
        m = card["motion_set"]
        lines.append(f"  motion-set distance: {m['mean_m']:.3f} m mean, {m['p95_m']:.3f} m at the 95th percentile; "
                     f"the set's own (leave one clip out) {m['own_mean_m']:.3f} m: {m['ratio']:.2f}x "
                     f"(benchmarks/deepmimic/amp_scenes.py)")
    if "body_error_m" in card:
        lines.append(f"  body position error: {card['body_error_m']:.3f} m (relative to the root: "
                     f"{card['body_error_root_m']:.3f} m)")
    if "successes" in card:
        lines.append(f"  success: {card['successes']} of {ev['episodes']}")
    for clip, c in card.get("per_clip", {}).items():
        lines.append(f"  clip {clip}: {c['reward_per_step']:.4f} reward per step, falls {c['falls']}")
    lines.append(f"  reproduce: {card['reproduce']}")
    for clip, digest in card.get("clips", {}).items():
        lines.append(f"  trained on clip {clip}: sha256 {digest}")
    return lines


def table() -> str:
    """Every shipped policy, a row each; ``trpo-mimic pretrained NAME`` shows one card in full."""
    head = ("name", "skill", "character", "samples", "minutes", "reward/step", "falls (95% interval)",
            "body error", "success")
    rows = []
    for name in names():
        card = read_card(PRETRAINED_DIR / f"{name}.pt")
        if card is None:
            rows.append((name, "(no card)", "", "", "", "", "", "", ""))
            continue
        n = card["eval"]["episodes"]
        lo, hi = card["falls_ci95"]
        rows.append((name, card["skill"], card["character"].removesuffix(".txt"), f"{card['samples'] / 1e6:.2f}M",
                     f"{card['train_minutes']:.0f}", f"{card['reward_per_step']:.4f}",
                     f"{card['falls']}/{n} ({_pct(lo)}-{_pct(hi)})",
                     f"{card['body_error_m']:.3f} m" if "body_error_m" in card else "-",
                     f"{card['successes']}/{n}" if "successes" in card else "-"))
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*head), *(fmt.format(*r) for r in rows)]
    out.append(f"(folder: {PRETRAINED_DIR}; trpo-mimic pretrained NAME: a card in full; "
               f"trpo-mimic evaluate --pretrained NAME; trpo-mimic train --skill SKILL --pretrained_weight_path NAME)")
    return "\n".join(out)
