"""DeepMimic env speed vs the raw physics limit, and stability at several sim rates.

    PYTHONPATH=src python benchmarks/deepmimic_env_speed.py [--steps 3000] [--sim-hz 240]
    PYTHONPATH=src python benchmarks/deepmimic_env_speed.py --stability

Speed: env steps/s with random actions (unwrapped env and the registered, wrapped
one) against the physics limit measured in the same process: 1 / (time of
``mujoco.mj_step`` alone x substeps per control step), on states from the same
rollouts.  Prints both and the ratio (goal >= 85%).  Not a test: it never fails.

Vector env (``--vector-sizes 8 16``): ``DeepMimicVectorEnv`` steps/s (sub-env steps,
random actions, autoresets included) against (a) the single-thread physics limit and
(b) the two-core physics limit: ``--threads`` threads (default 2) each running
``physics_rate``'s loop on its own MjData at the same time in this process, the
limit being the sum of their rates with only ``mj_step`` timed.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import warnings

import gymnasium as gym
import mujoco
import numpy as np

from trpo_mimic.mimic import MotionWarning, register_envs
from trpo_mimic.mimic.env import DeepMimicEnv
from trpo_mimic.mimic.vector import DeepMimicVectorEnv


def env_rate(env, steps: int, seed: int = 0) -> float:
    """Env steps per second with uniform random actions (resets included)."""
    rng = np.random.default_rng(seed)
    actions = rng.uniform(-1, 1, size=(steps, env.action_space.shape[0])).astype(np.float32)
    env.reset(seed=seed)
    t = time.perf_counter()
    for a in actions:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    return steps / (time.perf_counter() - t)


def physics_rate(env: DeepMimicEnv, steps: int, seed: int = 0) -> float:
    """Control steps/s if only mj_step ran: same states, same substeps, timed alone."""
    rng = np.random.default_rng(seed)
    m, d, core = env.model, env.data, env.core
    fall = core.physics.fall_geom
    env.reset(seed=seed)
    total = 0.0
    for _ in range(steps):
        d.ctrl[:] = core.act_center + core.act_half * rng.uniform(-1, 1, m.nu)
        t = time.perf_counter()
        mujoco.mj_step(m, d, nstep=env.frame_skip)
        total += time.perf_counter() - t
        if d.ncon and fall[d.contact.geom].any():
            env.reset()
    return steps / total


def threaded_physics_rate(envs: list[DeepMimicEnv], steps: int) -> float:
    """Sum over threads of physics_rate, all threads running at once (mj_step releases the GIL)."""
    rates = [0.0] * len(envs)
    start = threading.Barrier(len(envs))

    def run(k):
        start.wait()
        rates[k] = physics_rate(envs[k], steps, seed=k)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(envs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(rates)


def vector_rate(venv: DeepMimicVectorEnv, steps: int, seed: int = 0) -> float:
    """Sub-env steps per second of a vector env with uniform random actions."""
    rng = np.random.default_rng(seed)
    n = venv.num_envs
    batches = max(1, steps // n)
    actions = rng.uniform(-1, 1, size=(batches, n, venv.single_action_space.shape[0])).astype(np.float32)
    venv.reset(seed=seed)
    t = time.perf_counter()
    for a in actions:
        venv.step(a)
    return batches * n / (time.perf_counter() - t)


def speed(args) -> dict:
    register_envs()
    raw = DeepMimicEnv(motion_file=args.motion, sim_hz=args.sim_hz, obs_mode=args.obs_mode)
    wrapped = gym.make("DeepMimic-v0", motion_file=args.motion, sim_hz=args.sim_hz, obs_mode=args.obs_mode)
    env_rate(raw, 300)  # warm up
    res = {"sim_hz": raw.sim_hz, "substeps": raw.frame_skip, "obs_mode": args.obs_mode}
    res["physics_limit_steps_per_s"] = physics_rate(raw, args.steps)
    res["env_steps_per_s"] = env_rate(raw, args.steps)
    res["wrapped_env_steps_per_s"] = env_rate(wrapped, args.steps)
    res["ratio"] = res["env_steps_per_s"] / res["physics_limit_steps_per_s"]
    res["wrapped_ratio"] = res["wrapped_env_steps_per_s"] / res["physics_limit_steps_per_s"]
    print(f"sim {res['sim_hz']} Hz ({res['substeps']} substeps), obs {args.obs_mode}")
    print(f"physics limit (mj_step only): {res['physics_limit_steps_per_s']:8.0f} control steps/s")
    print(f"env.step (unwrapped):         {res['env_steps_per_s']:8.0f} steps/s  ratio {res['ratio']:.1%}")
    print(f"env.step (gymnasium.make):    {res['wrapped_env_steps_per_s']:8.0f} steps/s  "
          f"ratio {res['wrapped_ratio']:.1%}")
    if args.vector_sizes:
        # The limit is re-measured right before each vector run and the pair repeated
        # (--rounds), since a shared machine's background load changes within seconds;
        # the reported ratio is the median over rounds of (rate / limit of that round).
        envs = [DeepMimicEnv(motion_file=args.motion, sim_hz=args.sim_hz) for _ in range(args.threads)]
        for e in envs:
            physics_rate(e, 200)  # warm up
        one = res["physics_limit_steps_per_s"]
        for n in args.vector_sizes:
            venv = DeepMimicVectorEnv(n, motion_file=args.motion, sim_hz=args.sim_hz, obs_mode=args.obs_mode,
                                      nthread=args.threads)
            vector_rate(venv, 20 * n)  # warm up
            rounds = []
            for _ in range(args.rounds):
                limit = threaded_physics_rate(envs, args.steps // 2)
                rate = vector_rate(venv, args.steps)
                rounds.append((rate, limit))
            venv.close()
            rate, limit = sorted(rounds, key=lambda r: r[0] / r[1])[len(rounds) // 2]
            res[f"vector_{n}"] = {"steps_per_s": rate, f"physics_limit_{args.threads}_threads": limit,
                                  "rounds": rounds}
            print(f"vector env N={n:<3d} ({args.threads} threads): {rate:8.0f} steps/s; {args.threads}-thread "
                  f"physics limit {limit:6.0f} ({limit / one:.2f}x one thread); ratio {rate / one:.1%} of "
                  f"1-thread limit, {rate / limit:.1%} of {args.threads}-thread limit (median of {len(rounds)})")
    return res


def stability(args) -> dict:
    """Per rate: unstable episodes with reference PD targets and with random actions,
    mean pose reward while tracking the reference open-loop, and env speed."""
    clips = ["humanoid3d_walk.txt", "humanoid3d_run.txt", "humanoid3d_jump.txt", "humanoid3d_backflip.txt"]
    out = {}
    for hz in args.rates:
        row = {"unstable_ref": 0, "unstable_random": 0, "episodes": 0, "pose_reward_ref": [],
               "max_qvel": 0.0}
        for clip in clips:
            env = DeepMimicEnv(clip_name=clip, motion_dir=args.motion_dir, sim_hz=hz)
            rng = np.random.default_rng(0)
            for ep in range(args.episodes):
                for mode in ("ref", "random"):
                    env.reset(seed=ep)
                    for _ in range(90):
                        if mode == "ref":
                            q = env.clip.qpos_at(env._t + env.control_dt)[7:]
                            a = (q - env._act_center) / env._act_half
                        else:
                            a = rng.uniform(-1, 1, 28)
                        _, _, term, _, info = env.step(a)
                        row["max_qvel"] = max(row["max_qvel"], float(np.abs(env.data.qvel).max()))
                        if mode == "ref" and not info["sim_unstable"]:
                            row["pose_reward_ref"].append(info["reward_pose"])
                        if info["sim_unstable"]:
                            row[f"unstable_{mode}"] += 1
                        if term:
                            break
                row["episodes"] += 1
        row["pose_reward_ref"] = float(np.mean(row["pose_reward_ref"]))
        env = DeepMimicEnv(motion_file="humanoid3d_walk.txt", motion_dir=args.motion_dir, sim_hz=hz)
        row["env_steps_per_s"] = env_rate(env, 1500)
        out[hz] = row
        print(f"{hz:4d} Hz: unstable ref {row['unstable_ref']}/{row['episodes']}, random "
              f"{row['unstable_random']}/{row['episodes']}, max |qvel| {row['max_qvel']:.1f}, "
              f"mean pose reward (ref targets, first 3 s) {row['pose_reward_ref']:.3f}, "
              f"{row['env_steps_per_s']:.0f} env steps/s")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--motion", default="builtin:walk")
    p.add_argument("--motion-dir", default=None, help="where bare clip names are looked for first (default: the "
                   "package's data)")
    p.add_argument("--sim-hz", type=int, default=240)
    p.add_argument("--obs-mode", default="deepmimic")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--stability", action="store_true")
    p.add_argument("--rates", type=int, nargs="+", default=[120, 180, 240, 300, 480, 600])
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--vector-sizes", type=int, nargs="*", default=[8, 16],
                   help="num_envs of the DeepMimicVectorEnv runs (none: skip)")
    p.add_argument("--threads", type=int, default=2, help="threads of the vector env and physics limit")
    p.add_argument("--rounds", type=int, default=3, help="(limit, vector env) measurement pairs per N")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args()
    warnings.simplefilter("ignore", MotionWarning)
    res = stability(args) if args.stability else speed(args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
