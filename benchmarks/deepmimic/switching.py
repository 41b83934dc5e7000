"""Skill switching on command (issue 42, part 1): a several-skill policy told to change clip at random times.

    python benchmarks/deepmimic/switching.py POLICY [--singles walk=walk jog=jog run=run] [--episodes 10]
        [--seconds 20] [--interval 2 4] [--seed 1234]

POLICY (a run directory, a policy file or a shipped name) was trained on a motion set with ``--clip_id_obs``.
Three figures, each over ``--episodes`` deterministic episodes of ``--seconds`` (the same seeds throughout):
1. switching: every episode switches to another clip (by the set's weights) after a time drawn uniformly in
   ``--interval`` seconds, again and again (``--switch_interval``, 4-8 switches in 20 s at 2-4 s): falls (and
   those within 1 s of a switch), reward per step; target **0 falls**;
2. the same episodes without switches: reward per step; target: switching within **0.05** of it;
3. per clip, the several-skill policy on that clip alone (10 s episodes) over the clip's single-skill policy
   (``--singles CLIP=POLICY ...``): target **0.95** or more each.
"""
from __future__ import annotations

import argparse
import copy
from collections import defaultdict

import numpy as np

from trpo_mimic.checkpoint import load_agent
from trpo_mimic.envs import env_kwargs_from_config, make_vector_env
from trpo_mimic.evaluate import evaluate_policy

CONTROL_HZ = 30
FALL_WINDOW_STEPS = CONTROL_HZ  # a fall within 1 s of a switch is a fall at the switch
TOLERANCE, RATIO = 0.05, 0.95


def play(agent, cfg, episodes: int, seed: int, interval) -> dict:
    """One episode per sub-env (sub-env i seeded seed + i), batched: reward per step, per clip, falls, switches."""
    cfg = copy.deepcopy(cfg)
    cfg.switch_interval = list(interval) if interval else None
    kwargs = env_kwargs_from_config(cfg, training=False)
    limit = cfg.max_episode_steps
    envs = make_vector_env(cfg.env_id, episodes, "native", limit, training=False, **kwargs)
    policy = agent.inference()
    obs, info = envs.reset(seed=seed)
    active = np.ones(episodes, dtype=bool)
    last_clip = np.asarray(info["clip"]).copy()
    since = np.full(episodes, 10**9)  # steps since the last switch
    total, steps, switches, falls, at_switch = 0.0, 0, np.zeros(episodes, int), 0, 0
    per_clip = defaultdict(lambda: [0.0, 0])
    try:
        while active.any():
            obs, reward, term, trunc, info = envs.step(policy.act(obs, True)[0])
            done = term | trunc
            clip = np.asarray(info["clip"]).copy()
            if done.any():  # an ended episode's row is its next episode's: its own last step is in final_info
                clip[done] = np.asarray(info["final_info"]["clip"])[done]
            for i in np.flatnonzero(active):
                if clip[i] != last_clip[i]:
                    switches[i] += 1
                    since[i] = 0
                since[i] += 1
                total += float(reward[i])
                steps += 1
                per_clip[int(clip[i])][0] += float(reward[i])
                per_clip[int(clip[i])][1] += 1
                if term[i]:
                    falls += 1
                    at_switch += int(switches[i] > 0 and since[i] <= FALL_WINDOW_STEPS)
            last_clip = np.where(done, -1, clip)
            active &= ~done
        names = [c.name for c in envs.core.clips]
    finally:
        envs.close()
    return {"rps": total / steps, "falls": falls, "at_switch": at_switch, "switches": switches,
            "per_clip": {names[k]: v[0] / v[1] for k, v in sorted(per_clip.items())}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("policy")
    p.add_argument("--singles", nargs="*", default=["walk=walk", "jog=jog", "run=run"], metavar="CLIP=POLICY")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--interval", type=float, nargs=2, default=[2.0, 4.0])
    p.add_argument("--seed", type=int, default=1234)
    a = p.parse_args()
    agent, cfg, _ = load_agent(a.policy, "cpu")
    cfg.max_episode_steps = round(a.seconds * CONTROL_HZ)
    sw = play(agent, cfg, a.episodes, a.seed, a.interval)
    plain = play(agent, cfg, a.episodes, a.seed, None)
    print(f"{a.policy}: {a.episodes} episodes of {a.seconds:g} s, seed {a.seed}")
    print(f"switching every {a.interval[0]:g}-{a.interval[1]:g} s: {sw['rps']:.4f} per step, {sw['falls']} falls "
          f"({sw['at_switch']} within 1 s of a switch), switches per episode "
          f"{sw['switches'].min()}-{sw['switches'].max()} (mean {sw['switches'].mean():.1f})")
    print("  per clip: " + ", ".join(f"{k} {v:.4f}" for k, v in sw["per_clip"].items()))
    print(f"without switches: {plain['rps']:.4f} per step, {plain['falls']} falls")
    gap = plain["rps"] - sw["rps"]
    ok = [sw["falls"] == 0, gap <= TOLERANCE]
    print(f"  falls with switches: {sw['falls']} ({'met' if ok[0] else 'NOT MET'}; target 0)")
    print(f"  reward per step lost to switching: {gap:.4f} ({'met' if ok[1] else 'NOT MET'}; target <= {TOLERANCE})")
    for item in a.singles:
        clip, path = item.split("=", 1)
        single, scfg, _ = load_agent(path, "cpu")
        scfg.max_episode_steps = 300
        own, _ = evaluate_policy(single, scfg, a.episodes, a.seed, progress=False)
        one = copy.deepcopy(cfg)  # the several-skill policy on this clip only: a sequence of one clip
        one.max_episode_steps, one.clip_sequence, one.switch_seconds = 300, [clip], 10.0  # no random switches
        both, _ = evaluate_policy(agent, one, a.episodes, a.seed, progress=False)
        ratio = both.reward_per_step / own.reward_per_step
        ok.append(ratio >= RATIO)
        print(f"  {clip} alone: {both.reward_per_step:.4f} ({sum(both.terminated)} falls) against its single-skill "
              f"policy's {own.reward_per_step:.4f} ({sum(own.terminated)} falls): ratio {ratio:.3f} "
              f"({'met' if ratio >= RATIO else 'NOT MET'}; target {RATIO})")
    print(f"switching skills: {'MET' if all(ok) else 'NOT MET'} ({sum(ok)} of {len(ok)} criteria)")


if __name__ == "__main__":
    main()
