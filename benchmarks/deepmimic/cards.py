"""The shipped policies' cards, and the robustness bar (issues 37 and 39), from fresh evaluations.

    python benchmarks/deepmimic/cards.py                 # evaluate every shipped policy, print the table and bar
    python benchmarks/deepmimic/cards.py walk jump       # only these
    python benchmarks/deepmimic/cards.py --write         # ... and write each card into its policy file
    python benchmarks/deepmimic/cards.py --check         # exit 1 unless every card equals a fresh evaluation
    python benchmarks/deepmimic/cards.py --readme        # README's, pretrained/README's and the gallery's figures
                                                         # from the cards
    python benchmarks/deepmimic/cards.py --baselines c067e20   # issue 39's reward baselines: the files of that
                                                         # revision, evaluated as the cards are today

Each policy is evaluated as a user would (``trpo-mimic evaluate --pretrained NAME --num_eval_episodes 100
--max_episode_steps 300 --seed 1234``): 100 deterministic 10 s episodes from random phases, a seed that no
training uses for stopping and no choice of checkpoint uses. Beside each row: the fall rate's 95% interval
(Wilson) and the robustness bar of issue 39: at most 1 fall in 100 (for the getup and the roll, which cannot
fall, at most 1 failed episode in 100) and a reward per step not below the shipped file's figure on the same 100
episodes before issue 39.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import targets  # noqa: E402
from targets import DEEPMIMIC, allowed_fails, cannot_fall  # noqa: E402

from trpo_mimic.checkpoint import load_checkpoint  # noqa: E402
from trpo_mimic.config import Config  # noqa: E402
from trpo_mimic.evaluate import evaluate  # noqa: E402
from trpo_mimic.data import names, shipped  # noqa: E402
from trpo_mimic.mimic.pretrained import (CARD_KEY, card_from, card_lines, card_protocol,  # noqa: E402
                                         falls_interval, read_card, write_card)
import amp_scenes  # noqa: E402

LOCOMOTION_REPRODUCE = ("TRPO_MIMIC_STOP=none benchmarks/deepmimic_train.sh locomotion 20000000 (the skill file of "
                        "then, without switches; stopped at 4.80M: locomotion-t1), then switches trained in by warm "
                        "starts (--pretrained_weight_path, benchmarks/deepmimic/NOTES.md): --switch_interval 1 3 "
                        "without the pose termination (locomotion-s6, 10.0M), with it (s7, 3.81M), --switch_interval "
                        "2 6 (s8, 2.54M), --switch_blend 1.0 before its fix (b2, 3.9M), then trpo-mimic train --skill "
                        "locomotion --ls_kl_tolerance 1.5 --run_name locomotion-b3 (the skill file as it is now, whole "
                        "TRPO steps; iteration 850, 3.48M, the best of its checkpoints on 30 switching episodes of "
                        "seed 77), then trpo-mimic train --skill locomotion --ls_kl_tolerance 1.5 "
                        "--pretrained_weight_path locomotion --run_name locomotion-v1 (the clip velocities one-sided "
                        "at the seam; its iter_1050.pt, 4.30M more: of its checkpoints, the best on 100 episodes of "
                        "seed 77)")
HEADING_REPRODUCE = ("trpo-mimic train --env_id DeepMimicHeading-v0 --run_name heading-a2 (the AMP preset of then, "
                     "stopped at 5.25M), then --pretrained_weight_path runs/heading-a2 --reset_log_std --init_log_std "
                     "-3.0 --run_name heading-n1 (to 12.3M), then --pretrained_weight_path runs/heading-n1 --max_kl "
                     "0.05 --run_name heading-n2 (to 16.0M), then --pretrained_weight_path runs/heading-n2 --gamma 0.99 "
                     "--run_name heading-g1 (the preset as it is now, stopped at 3.38M: 19.4M in all; of heading-n1's "
                     "end and heading-n2's and heading-g1's last checkpoints, the best on 32 episodes of seed 77; "
                     "benchmarks/deepmimic/NOTES.md)")
SHIPPED = {  # name: (skill, the command that trained it, the reward per step over the cards' 100 episodes of
    # the file shipped when the cards were first written (c067e20): the figure a retraining must not fall below.
    # Measured with today's reward, `cards.py --baselines c067e20`: the clip velocities changed at the seam of a
    # looping clip on 2026-12-07, which moved each file's figure by -0.011 to +0.004; benchmarks/deepmimic/NOTES.md)
    "walk": ("walk", "trpo-mimic train --skill walk --num_timesteps 5000000 --stop_reward_per_step none --run_name "
             "walk-t1 (the preset as it is, stopped by hand at 3.35M)", 0.9558),
    "jog": ("jog", "benchmarks/deepmimic_train.sh jog 20000000 (resumed twice, stopped by hand at 6.01M)", 0.9215),
    "run": ("run", "benchmarks/deepmimic_train.sh run 20000000 (resumed three times, stopped by hand at 10.21M)",
            0.9139),
    "jump": ("jump", "benchmarks/deepmimic_train.sh jump 20000000 (stopped by hand; the run's iter_1640.pt, 6.72M), "
             "then trpo-mimic train --skill jump --pretrained_weight_path jump --run_name jump-v1 (the clip "
             "velocities one-sided at the seam; its iter_900.pt, 3.69M more: of its checkpoints, the best on 100 "
             "episodes of seed 77)", 0.9257),
    "backflip": ("backflip", "benchmarks/deepmimic_train.sh backflip 20000000 (resumed once, stopped by hand at "
                 "15.68M)", 0.8361),
    "spinkick": ("spinkick", "benchmarks/deepmimic_train.sh spinkick 20000000, then TRPO_MIMIC_STOP=none "
                 "benchmarks/deepmimic_train.sh spinkick 4000000 --stop_reward_per_step 0.95 (resumes; 4.00M), then "
                 "trpo-mimic train --skill spinkick --pretrained_weight_path spinkick --run_name spinkick-r1 (3.78M "
                 "more), then --pretrained_weight_path benchmarks/deepmimic/policies/spinkick-r1.pt --run_name "
                 "spinkick-v1 (the clip velocities one-sided at the seam; its iter_1200.pt, 4.92M more: of its "
                 "checkpoints, the best on 100 episodes of seed 77)", 0.8677),
    "cartwheel": ("cartwheel", "benchmarks/deepmimic_train.sh cartwheel 20000000 (2.25M), then trpo-mimic train "
                  "--skill cartwheel --pretrained_weight_path cartwheel --run_name cartwheel-r1 (its iter_980.pt, "
                  "4.01M more: of its checkpoints from 800 on, the best on 100 episodes of seed 77)", 0.8961),
    "crawl": ("crawl", "trpo-mimic train --skill crawl --num_timesteps 5000000 --stop_reward_per_step none --run_name "
              "crawl-t1 (the preset as it is, stopped by hand at 3.23M; its iter_760.pt, the best of the last five "
              "on 100 episodes of seed 77)", 0.9083),
    "roll": ("roll", "benchmarks/deepmimic_train.sh roll 20000000, resumed with TRPO_MIMIC_STOP=none ... "
             "--stop_reward_per_step none, stopped by hand at 12.96M", 0.8190),
    "dance_a": ("dance_a", "TRPO_MIMIC_STOP=none benchmarks/deepmimic_train.sh dance_a 6000000 "
                "--stop_reward_per_step none (stopped by hand at 3.88M)", 0.8757),
    "punch": ("punch", "trpo-mimic train --skill punch --num_timesteps 4000000 --run_name punch-t1 (the preset as "
              "it is, stopped by hand at 0.95M)", 0.8416),
    "getup_faceup": ("getup_faceup", "benchmarks/deepmimic_train.sh getup_faceup 20000000", 0.9153),
    "dog_trot": ("dog_trot", "trpo-mimic train --skill dog_trot --num_timesteps 6000000 --stop_reward_per_step none "
                 "--run_name dog_trot-t1 (the preset as it is, stopped by hand at 2.39M; its iter_580.pt, the best of "
                 "the last five on 100 episodes of seed 77)", 0.8022),
    "dog_pace": ("dog_pace", "trpo-mimic train --skill dog_pace --num_timesteps 8000000 --run_name dog_pace-t1 "
                 "(the preset as it is; resumed once, stopped by hand at 2.07M)", 0.8263),
    "dog_canter": ("dog_canter", "benchmarks/deepmimic_train.sh dog_canter 20000000", 0.8328),
    "locomotion": ("walk, jog, run", LOCOMOTION_REPRODUCE, None),
    "heading": ("heading", HEADING_REPRODUCE, None),
}
PAPER = {"heading": 0.90, "target": 0.63}
"""The AMP paper's normalised task return on its locomotion set (docs/amp.md, Table 1)."""
GOALS = {"heading"}
"""The goal policies (issue 41): their cards hold the normalised task return and the motion-set distance, their
bar is issue 41's (amp_scenes.TARGETS, 0 falls, and for heading the distance within DISTANCE_RATIO of the set's)."""


def evaluated(path):
    """(evaluation result, checkpoint, config, episodes, steps, seed) of a policy file evaluated as its card is,
    as `trpo-mimic evaluate` runs it (the protocol: ``card_protocol``)."""
    ckpt = load_checkpoint(path)
    cfg = Config.from_dict(ckpt["config"])
    episodes, steps, seed = card_protocol(cfg)
    opts = {"load_model_path": str(path), "num_eval_episodes": episodes, "max_episode_steps": steps,
            "seed": seed, "progress": False}
    with contextlib.redirect_stdout(io.StringIO()):
        result = evaluate(opts)
    cfg.max_episode_steps = steps
    return result, ckpt, cfg, episodes, steps, seed


def baselines(names: list[str], rev: str) -> None:
    """The reward per step of each policy file as it was at git revision ``rev``, evaluated as today's cards
    are (issue 39's baseline: the files shipped when the cards were first written, c067e20)."""
    import subprocess
    import tempfile
    for name in names:
        if SHIPPED[name][2] is None:
            continue
        blob = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:src/trpo_mimic/data/pretrained/{name}.pt"],
                              capture_output=True, check=True).stdout
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{name}.pt"
            path.write_bytes(blob)
            result = evaluated(path)[0]
        print(f"{name}: {result.reward_per_step:.4f} per step at {rev} (the table: {SHIPPED[name][2]:.4f})",
              flush=True)


def fresh(name: str):
    """(card, checkpoint) of the card's evaluation, run as `trpo-mimic evaluate` runs it (its protocol:
    ``card_protocol``); a goal policy's card adds the motion-set distance of the same episodes."""
    path = shipped(name)
    result, ckpt, cfg, episodes, steps, seed = evaluated(path)
    skill, reproduce, _ = SHIPPED[name]
    card = card_from(result, ckpt, cfg, skill, reproduce, episodes, steps, seed)
    if name in GOALS:
        card["motion_set"] = motion_set_card(path, episodes, seed, steps)
    return card, ckpt


def motion_set_card(path, episodes: int, seed: int, steps: int) -> dict:
    """The motion-set distance of a goal policy's card episodes, beside its set's own (leave one clip out)."""
    from trpo_mimic.checkpoint import load_agent
    from trpo_mimic.mimic.goal_eval import play_goal
    from trpo_mimic.mimic.motion_set_distance import MotionSet
    agent, cfg, _ = load_agent(path, "cpu")
    g = play_goal(agent, cfg, episodes, seed, steps)
    ms = MotionSet(g.clips, g.layout)
    d, own = g.distance(ms), ms.leave_one_clip_out()
    return {"mean_m": round(d.mean, 4), "p95_m": round(d.p95, 4), "coverage": round(d.coverage, 4),
            "own_mean_m": round(own.mean, 4), "own_p95_m": round(own.p95, 4), "ratio": round(d.mean / own.mean, 4)}


def failures(name: str, card: dict) -> int:
    return targets.failures(SHIPPED[name][0], card["falls"], card["eval"]["episodes"], card.get("successes", 0))


def goal_verdict(card: dict) -> str:
    """Issue 41's bar: the scene's normalised task return, 0 falls, and for heading the motion-set distance."""
    skill, checks = card["skill"], [("falls 0", card["falls"] == 0)]
    if skill in amp_scenes.TARGETS:
        checks.append((f"task return {card['task_return']:.4f} >= {amp_scenes.TARGETS[skill]}",
                       card["task_return"] >= amp_scenes.TARGETS[skill]))
    if skill == "heading":
        ratio = card["motion_set"]["ratio"]
        checks.append((f"motion-set distance {ratio:.2f}x <= {amp_scenes.DISTANCE_RATIO}x",
                       ratio <= amp_scenes.DISTANCE_RATIO))
    ok = all(c for _, c in checks)
    return f"{'MET' if ok else 'NOT MET'} (" + "; ".join(f"{w}: {'yes' if c else 'no'}" for w, c in checks) + ")"


def verdict(name: str, card: dict) -> str:
    if name in GOALS:
        return goal_verdict(card)
    fails, baseline, allowed = failures(name, card), SHIPPED[name][2], allowed_fails(card["eval"]["episodes"])
    ok_falls = fails <= allowed
    ok_reward = baseline is None or card["reward_per_step"] >= baseline
    what = "failed episodes" if cannot_fall(SHIPPED[name][0]) else "falls"
    reward = "" if baseline is None else f", reward {card['reward_per_step']:.4f} vs {baseline:.4f} shipped"
    return (f"{'MET' if ok_falls and ok_reward else 'NOT MET'} ({what} {fails} <= {allowed}: "
            f"{'yes' if ok_falls else 'no'}{reward})")


def compare(old: dict, new: dict) -> list[str]:
    """The fields where a card and a fresh one differ (4 decimals: the cards' rounding)."""
    keys = ("reward_per_step", "falls", "falls_ci95", "body_error_m", "body_error_root_m", "successes",
            "per_clip", "samples", "train_minutes", "warm_starts", "clips", "eval", "task_return", "motion_set")
    return [f"{k}: card {old.get(k)!r}, fresh {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]


def readme_rows() -> list[str]:
    """README's results table, from the cards."""
    rows = ["| skill | reward per step (DeepMimic's) | falls in 100 episodes (95% interval) | samples | minutes |",
            "|---|---|---|---|---|"]
    goals = []
    for name in names():
        card = read_card(shipped(name))
        if card is None:
            continue
        if name in GOALS:
            goals.append((name, card))
            continue
        skill = SHIPPED.get(name, (name,))[0]
        ref = f" ({DEEPMIMIC[skill][0]:.3f})" if skill in DEEPMIMIC else ""
        if "per_clip" in card:
            reward = ", ".join(f"{c.removeprefix('humanoid3d_').removesuffix('.txt')} {v['reward_per_step']:.3f}"
                               for c, v in card["per_clip"].items())
        else:
            reward = f"{card['reward_per_step']:.3f}{ref}"
        strict = name in SHIPPED and cannot_fall(skill)  # failed episodes counted: their interval, not the card's
        fails = failures(name, card) if name in SHIPPED else card["falls"]
        lo, hi = falls_interval(fails, card["eval"]["episodes"]) if strict else card["falls_ci95"]
        what = f"{fails} failed" if strict else f"{fails}"
        rows.append(f"| {name} | {reward} | {what} ({100 * lo:.1f}-{100 * hi:.1f}%) | {card['samples'] / 1e6:.2f}M "
                    f"| {card['train_minutes']:.0f} |")
    if goals:
        rows += ["", "| goal policy | normalised task return (paper's) | falls (95% interval) | motion-set distance "
                     "(x the set's) | samples | minutes |", "|---|---|---|---|---|---|"]
    for name, card in goals:
        lo, hi = card["falls_ci95"]
        paper = f" ({PAPER[card['skill']]:.2f})" if card["skill"] in PAPER else ""
        m = card["motion_set"]
        rows.append(f"| {name} | {card['task_return']:.3f}{paper} | {card['falls']} of {card['eval']['episodes']} "
                    f"({100 * lo:.1f}-{100 * hi:.1f}%) | {m['mean_m']:.3f} m ({m['ratio']:.2f}x) | "
                    f"{card['samples'] / 1e6:.2f}M | {card['train_minutes']:.0f} |")
    return rows


def gallery_text(name: str, card: dict) -> str:
    """The figures of a policy's section in docs/gallery.md, from its card."""
    n, (lo, hi) = card["eval"]["episodes"], card["falls_ci95"]
    done = f"after {card['samples'] / 1e6:.2f}M samples ({card['train_minutes']:.0f} min of training)"
    if name in GOALS:
        m = card["motion_set"]
        paper = f" (the paper's {PAPER[card['skill']]:.2f} on its larger set)" if card["skill"] in PAPER else ""
        text = (f"Normalised task return {card['task_return']:.3f}{paper} {done}; {card['falls']} falls in {n} "
                f"deterministic 20 s episodes (95% interval {100 * lo:.1f}-{100 * hi:.1f}%); motion-set distance "
                f"{m['mean_m']:.3f} m, {m['ratio']:.2f}x the set's own. Issue 41's bar: {goal_verdict(card)}.")
        return textwrap.fill(text, 115)
    skill = SHIPPED.get(name, (name,))[0]
    if "per_clip" in card:
        reward = "per clip " + ", ".join(f"{c.removeprefix('humanoid3d_').removesuffix('.txt')} "
                                         f"{v['reward_per_step']:.3f}" for c, v in card["per_clip"].items())
        reward += f" reward per step ({card['reward_per_step']:.3f} over all)"
    else:
        ref = (f" (DeepMimic {DEEPMIMIC[skill][0]:.3f} at {DEEPMIMIC[skill][1] / 1e6:.0f}M samples)"
               if skill in DEEPMIMIC else " (DeepMimic reports no figure)")
        reward = f"{card['reward_per_step']:.3f} reward per step{ref}"
    if name in SHIPPED and cannot_fall(skill):
        fails = failures(name, card)
        lo, hi = falls_interval(fails, n)
        falls = f"{fails} of {n} fresh episodes failed (95% interval {100 * lo:.1f}-{100 * hi:.1f}%; none can fall)"
    else:
        falls = f"{card['falls']} falls in {n} fresh episodes (95% interval {100 * lo:.1f}-{100 * hi:.1f}%)"
    text = (f"{reward} {done}; body error {card['body_error_m']:.3f} m ({card['body_error_root_m']:.3f} m relative "
            f"to the root); {falls}; {card['successes']} of {n} within 0.5 m of the clip throughout.")
    if name in SHIPPED:
        text += f" Issue 39's bar (at most 1 in 100): {verdict(name, card)}."
    return textwrap.fill(text, 115)


GALLERY_CARD = re.compile(r"<!-- card:(\w+) -->\n.*?<!-- /card -->", re.S)


def gallery(text: str) -> str:
    """docs/gallery.md's text with every ``<!-- card:NAME -->`` block written from NAME's card."""
    def block(m: re.Match) -> str:
        name = m.group(1)
        path = shipped(name)
        if path is None or read_card(path) is None:
            raise SystemExit(f"docs/gallery.md: no shipped policy with a card named {name!r}")
        return f"<!-- card:{name} -->\n{gallery_text(name, read_card(path))}\n<!-- /card -->"
    return GALLERY_CARD.sub(block, text)


def write_readme(path: Path) -> None:
    text = path.read_text()
    begin, end = "<!-- results:begin -->", "<!-- results:end -->"
    if begin not in text or end not in text:
        sys.exit(f"{path}: no {begin} ... {end} markers")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    path.write_text(head + begin + "\n" + "\n".join(readme_rows()) + "\n" + end + tail)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="shipped policies (default: all)")
    ap.add_argument("--write", action="store_true", help="write each fresh card into its policy file")
    ap.add_argument("--check", action="store_true", help="exit 1 unless every card equals a fresh evaluation")
    ap.add_argument("--readme", action="store_true",
                    help="rewrite the results tables of README.md and pretrained/README.md, and the figures of "
                         "docs/gallery.md, from the cards")
    ap.add_argument("--baselines", metavar="REV", default=None,
                    help="print the reward per step of each policy file as it was at git revision REV (c067e20: "
                         "issue 39's baselines), evaluated as the cards are today")
    args = ap.parse_args()
    if args.baselines:
        baselines(args.names or [n for n in SHIPPED if n not in GOALS], args.baselines)
        return 0
    if args.readme:
        for path in (ROOT / "README.md", ROOT / "pretrained" / "README.md"):
            write_readme(path)
        page = ROOT / "docs" / "gallery.md"
        page.write_text(gallery(page.read_text()))
        print("\n".join(readme_rows()))
        return 0
    todo = args.names or names()
    unknown = [n for n in todo if n not in SHIPPED or shipped(n) is None]
    if unknown:
        sys.exit(f"unknown or unshipped policies: {', '.join(unknown)} (shipped: {', '.join(names())})")
    bad = 0
    for name in todo:
        card, ckpt = fresh(name)
        print("\n".join(card_lines(name, card)))
        print(f"  bar: {verdict(name, card)}", flush=True)
        if args.check:
            diff = compare(ckpt.get(CARD_KEY) or {}, card)
            print("  card: " + ("equals the fresh evaluation" if not diff else "DIFFERS: " + "; ".join(diff)))
            bad += bool(diff)
        if args.write:
            write_card(shipped(name), card)
            print(f"  card written to {shipped(name)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
