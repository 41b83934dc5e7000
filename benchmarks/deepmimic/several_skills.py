"""One policy for several skills against one policy per skill (issue 20): per clip, the reward per step of the
several-skill policy over that of the clip's own single-skill policy (target: 0.95 or more on each), then the
several-skill policy on a clip sequence (falls at the switches).

    python benchmarks/deepmimic/several_skills.py MULTI_RUN walk=RUN_OR_PT jog=RUN_OR_PT run=RUN_OR_PT \
        [--episodes 10] [--sequence walk run walk] [--switch_seconds 3]

MULTI_RUN was trained with configs/skills/locomotion.txt (its clips: walk, jog, run; --clip_id_obs); each single-
skill policy is a run directory or a pretrained file. Every evaluation: deterministic 10 s episodes from random
phases (the same seeds for both policies of a clip), DeepMimic's reward.
"""
from __future__ import annotations

import argparse
import copy

from trpo_mimic.checkpoint import load_agent
from trpo_mimic.evaluate import evaluate_policy

TARGET = 0.95


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("multi")
    p.add_argument("singles", nargs="+", metavar="CLIP=POLICY")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--sequence", nargs="+", default=["walk", "run", "walk"])
    p.add_argument("--switch_seconds", type=float, default=3.0)
    a = p.parse_args()
    multi, mcfg, _ = load_agent(a.multi, "cpu")
    rows = []
    for item in a.singles:
        clip, path = item.split("=", 1)
        single, scfg, _ = load_agent(path, "cpu")
        scfg.max_episode_steps = a.steps
        own, _ = evaluate_policy(single, scfg, a.episodes, 0, progress=False)
        cfg = copy.deepcopy(mcfg)  # the several-skill policy on this clip only: a sequence of one clip
        cfg.clip_sequence, cfg.switch_seconds = [clip], a.steps / 30
        both, _ = evaluate_policy(multi, cfg, a.episodes, 0, progress=False)
        ratio = both.reward_per_step / own.reward_per_step
        rows.append(ratio >= TARGET)
        print(f"{clip}: several-skill {both.reward_per_step:.3f} ({sum(both.terminated)} falls), single-skill "
              f"{own.reward_per_step:.3f} ({sum(own.terminated)} falls): ratio {ratio:.3f} "
              f"({'met' if ratio >= TARGET else 'not met'}; target {TARGET})")
    cfg = copy.deepcopy(mcfg)
    cfg.clip_sequence, cfg.switch_seconds = a.sequence, a.switch_seconds
    seq, _ = evaluate_policy(multi, cfg, a.episodes, 0, progress=False)
    print(f"sequence {' -> '.join(a.sequence)} ({a.switch_seconds:g} s each): {seq.reward_per_step:.3f} per step, "
          f"{sum(seq.terminated)} falls of {a.episodes} episodes, {seq.switch_falls} at a switch")
    for name, c in seq.per_clip().items():
        print(f"  {name}: {c['reward_per_step']:.3f} per step over {c['steps']} steps, {c['falls']} falls")
    print(f"several skills on one policy: {'MET' if all(rows) else 'NOT MET'} ({sum(rows)} of {len(rows)} clips)")


if __name__ == "__main__":
    main()
