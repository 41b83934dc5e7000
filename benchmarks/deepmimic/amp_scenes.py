"""A goal-scene policy (issue 41) by the figures the field reads, on deterministic 20 s episodes:

    python benchmarks/deepmimic/amp_scenes.py POLICY [--episodes 32] [--seconds 20] [--seed 1234] [--tracking POLICY]

- the normalised task return: the task reward summed over an episode over its step limit (a fall forfeits the
  rest), mean and standard deviation over the episodes;
- falls;
- for strike, the episodes with a hit;
- the motion-set distance: for each simulated window of two frames, the distance to its nearest window of the
  policy's motion set (root-relative body positions in the heading frame, metres: ``mimic/motion_set_distance``),
  mean and 95th percentile, beside the set's own figure (each clip against the others) and the coverage (the
  share of the set's clips that are some window's nearest);
- the samples and training time the policy took (its checkpoint's);
- with ``--tracking POLICY`` (imitate-AMP on one clip, the paper's imitation table): the same distance for a
  policy that tracks that clip (its root-relative pose error, each frame against the clip's nearest).

Targets (issue 41): heading >= 0.85 normalised return, 0 falls, motion-set distance within 1.5x the set's; target
location >= 0.63, 0 falls; strike a hit in >= 24 of 32, 0 falls.
"""
from __future__ import annotations

import argparse

import torch

from trpo_mimic.checkpoint import WARM_STARTS, load_agent, resolve_checkpoint, samples_in_all
from trpo_mimic.mimic.goal_eval import play_goal
from trpo_mimic.mimic.motion_set_distance import MotionSet

CONTROL_HZ = 30
TARGETS = {"heading": 0.85, "target": 0.63}
STRIKE_HITS = 24 / 32
DISTANCE_RATIO = 1.5


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("policy")
    p.add_argument("--episodes", type=int, default=32)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--tracking", metavar="POLICY", default=None,
                   help="imitate-AMP: a policy tracking the same clip (e.g. walk), measured alike beside it")
    a = p.parse_args()
    agent, cfg, _ = load_agent(a.policy, "cpu")
    ckpt = torch.load(resolve_checkpoint(a.policy), map_location="cpu", weights_only=True)
    steps = round(a.seconds * CONTROL_HZ)
    try:
        g = play_goal(agent, cfg, a.episodes, a.seed, steps)
    except ValueError as e:
        raise SystemExit(str(e))
    ret, fell, hit, scene = g.task_return, g.fell, g.hit, g.scene
    samples, seconds = samples_in_all(ckpt)
    in_all = f" ({samples / 1e6:.2f}M and {seconds / 60:.0f} min in all, with its warm starts)"
    print(f"{a.policy}: {cfg.env_id} (scene {scene}), {ckpt.get('timesteps', 0) / 1e6:.2f}M samples, "
          f"{ckpt.get('train_seconds', 0) / 60:.0f} min of training{in_all if ckpt.get(WARM_STARTS) else ''}"
          f"{f' (after its warm start, {cfg.pretrained_weight_path})' if cfg.pretrained_weight_path else ''}; "
          f"{a.episodes} deterministic {a.seconds:g} s episodes, seed {a.seed}")
    print(f"normalised task return: {ret.mean():.3f} +- {ret.std():.3f}; falls: {int(fell.sum())} of {a.episodes}")
    ok = [int(fell.sum()) == 0]
    if scene in TARGETS:
        ok.append(ret.mean() >= TARGETS[scene])
        print(f"  target: >= {TARGETS[scene]} and 0 falls: {'MET' if all(ok) else 'NOT MET'}")
    if scene == "strike":
        ok.append(hit.mean() >= STRIKE_HITS)
        print(f"hits: {int(hit.sum())} of {a.episodes} (target >= {STRIKE_HITS * a.episodes:.0f}, 0 falls): "
              f"{'MET' if all(ok) else 'NOT MET'}")
    ms = MotionSet(g.clips, g.layout)
    d = g.distance(ms)
    own = ms.leave_one_clip_out() if len(g.clips) > 1 else None
    line = f"motion-set distance: mean {d.mean:.3f} m, 95th percentile {d.p95:.3f} m, coverage {d.coverage:.2f}"
    if own is not None:
        ratio = d.mean / own.mean
        line += f"; the set's own (leave one clip out): mean {own.mean:.3f} m, 95th {own.p95:.3f} m: ratio {ratio:.2f}"
        if scene == "heading":
            ok.append(ratio <= DISTANCE_RATIO)
            line += f" (target <= {DISTANCE_RATIO}: {'met' if ratio <= DISTANCE_RATIO else 'NOT MET'})"
    print(line)
    if a.tracking:  # the paper's imitation table: the same figure for a policy that tracks the clip
        t_agent, t_cfg, _ = load_agent(a.tracking, "cpu")
        tg = play_goal(t_agent, t_cfg, a.episodes, a.seed, steps, tracking=True)
        t = tg.distance(ms)
        print(f"the tracking policy {a.tracking} on the same measure: mean {t.mean:.3f} m, 95th percentile "
              f"{t.p95:.3f} m, {int(tg.fell.sum())} falls; AMP over tracking: {d.mean / t.mean:.2f}x")
    print(f"{scene}: {'MET' if all(ok) else 'NOT MET'} ({sum(ok)} of {len(ok)} criteria)")


if __name__ == "__main__":
    main()
