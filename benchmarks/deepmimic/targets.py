"""The bar each DeepMimic skill is held to, and the verdict of one evaluation against it.

    python benchmarks/deepmimic/targets.py SKILL SAMPLES EVAL_TXT
    python benchmarks/deepmimic/targets.py --goal SKILL     # the reward per step a training may stop at

EVAL_TXT is what ``trpo-mimic evaluate`` printed for the verdict's episodes: 100 deterministic 10 s episodes from
random phases with the cards' seed (``trpo_mimic.mimic.pretrained.CARD_SEED``, 1234), which no training uses for stopping
(the trainer's evaluations draw other seeds) and no choice of checkpoint uses. The bar (issues 18 and 39): reward
per step within 0.03 of DeepMimic's figure or above it, at most MAX_FAILS falls in 100 episodes (reported with
Wilson's 95% interval), at most 20M samples (a quarter of DeepMimic's or less); the walk: 0.95 or more within 5M
samples. Where the skill file turns contact terminations off (the getup, the roll: no episode can fall) the
failed episodes (off the clip's path) count instead. DeepMimic's figures are its paper's normalised returns as
``../shared/docs/deepmimic.md`` recalls them (approximate), with the samples it reported.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from trpo_mimic.mimic.pretrained import falls_interval

DEEPMIMIC = {  # skill: (normalised return, samples)
    "walk": (0.985, 61e6), "jog": (0.951, 51e6), "run": (0.951, 53e6), "jump": (0.947, 86e6),
    "backflip": (0.729, 72e6), "spinkick": (0.748, 67e6), "cartwheel": (0.804, 51e6), "crawl": (0.932, 68e6),
    "roll": (0.735, 81e6), "dance_a": (0.863, 67e6), "punch": (0.812, 60e6), "getup_faceup": (0.838, 66e6),
}
DOG_BAR = 0.8
"""The dog's skills (issue 20): 0.8 reward per step or more, 0 falls, within MAX_SAMPLES."""
DOG = ("dog_trot", "dog_pace", "dog_canter")
MARGIN = 0.03
MAX_SAMPLES = 20e6
WALK_BAR, WALK_SAMPLES = 0.95, 5e6
MAX_FAILS_PER_100 = 1
"""Issue 39: at most this many falls (failed episodes, for skills that cannot fall) per 100 episodes."""
VERDICT_EPISODES = 100
GOAL_MARGIN = 0.01
"""A training stops (``--stop_reward_per_step``) once its 5-episode evaluation is this far above the bar,
so that the 10-episode verdict, on other phases, still clears it."""


def bar(skill: str) -> tuple[float, float]:
    """(reward per step to reach, samples allowed)."""
    if skill == "walk":
        return WALK_BAR, WALK_SAMPLES
    if skill in DOG:
        return DOG_BAR, MAX_SAMPLES
    return DEEPMIMIC[skill][0] - MARGIN, MAX_SAMPLES


def read_eval(text: str) -> dict[str, float]:
    """The figures of an `evaluate` printout."""
    falls = re.search(r"falls: (\d+) of (\d+)", text)
    out = {"reward": float(re.search(r"mean reward per step: ([0-9.]+)", text).group(1)),
           "falls": int(falls.group(1)), "episodes": int(falls.group(2))}
    m = re.search(r"body position error: ([0-9.]+) m mean per step \(relative to the root: ([0-9.]+) m\)", text)
    if m:
        out["error"], out["error_local"] = float(m.group(1)), float(m.group(2))
    m = re.search(r"success: (\d+) of (\d+) episodes", text)
    if m:
        out["success"] = int(m.group(1)) / int(m.group(2))
    return out


def cannot_fall(skill: str) -> bool:
    """The skill file turns contact terminations off (--no-early_termination: the getup, the roll): no episode
    can fall, so "0 falls" says nothing; every episode must succeed instead (no fall, and the body within the
    success error of the clip throughout: a character still lying when the clip stands up fails)."""
    path = Path(__file__).resolve().parents[2] / "configs" / "skills" / f"{skill}.txt"
    return path.is_file() and "--no-early_termination" in path.read_text().split()


def failures(skill: str, falls: int, episodes: int, successes: int) -> int:
    """What the bar counts: the falls, or, for a skill that cannot fall, the episodes that did not succeed."""
    return episodes - successes if cannot_fall(skill) else falls


def allowed_fails(episodes: int) -> int:
    """Falls (or failed episodes) a verdict of ``episodes`` episodes may hold: MAX_FAILS_PER_100, scaled down."""
    return int(MAX_FAILS_PER_100 * episodes // 100)


def verdict(skill: str, samples: float, figures: dict[str, float]) -> str:
    target, budget = bar(skill)
    n = int(figures.get("episodes", VERDICT_EPISODES))
    strict = cannot_fall(skill)
    fails = failures(skill, int(figures["falls"]), n, round(n * figures.get("success", 0.0)))
    ok = figures["reward"] >= target and fails <= allowed_fails(n) and samples <= budget
    lo, hi = falls_interval(fails, n)
    what = "failed episodes" if strict else "falls"
    ref = (f"DeepMimic {DEEPMIMIC[skill][0]:.3f} at {DEEPMIMIC[skill][1] / 1e6:.0f}M; " if skill in DEEPMIMIC
           else "")
    return (f"{skill}: {figures['reward']:.3f} per step at {samples / 1e6:.2f}M samples ({ref}"
            f"bar >= {target:.3f}, at most {allowed_fails(n)} {what} in {n}, <= {budget / 1e6:.0f}M): "
            f"{'MET' if ok else 'NOT MET'}; {what} {fails} of {n} (95% interval {100 * lo:.1f}-{100 * hi:.1f}%)"
            + (f", body error {figures['error']:.3f} m" if "error" in figures else "")
            + (f", success {figures['success']:.0%}" if "success" in figures else ""))


if __name__ == "__main__":
    if sys.argv[1] == "--goal":
        skill = sys.argv[2]
        if skill not in (*DEEPMIMIC, *DOG):
            sys.exit(f"unknown skill {skill!r}; known: {', '.join((*DEEPMIMIC, *DOG))}")
        print(f"{bar(skill)[0] + GOAL_MARGIN:.3f}")
        sys.exit(0)
    skill, samples, path = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    if skill not in (*DEEPMIMIC, *DOG):
        sys.exit(f"unknown skill {skill!r}; known: {', '.join((*DEEPMIMIC, *DOG))}")
    print(verdict(skill, samples, read_eval(Path(path).read_text())))
