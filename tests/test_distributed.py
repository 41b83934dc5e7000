"""torch.distributed (gloo, 2 ranks via torchrun): the update equals a single process on the combined batch."""
import copy
import os
import socket
import subprocess
import sys

import torch

from conftest import ROOT
from trpo_mimic.algos.trpo import PolicyBatch, TRPOSettings, update_critic, update_policy
from trpo_mimic.envs import make_vector_env
from trpo_mimic.policies.agent import Agent
from trpo_mimic.rollout import RolloutCollector, compute_gae


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")]),
               OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(free_port()), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def test_two_ranks_equal_single_process_on_combined_batch(tmp_path):
    torch.manual_seed(0)
    envs = make_vector_env("Pendulum-v1", 4)
    agent = Agent(envs.single_observation_space, envs.single_action_space, [32, 32])
    roll = RolloutCollector(envs, agent, "Pendulum-v1", seed=0).collect(128)
    envs.close()
    adv, ret = compute_gae(roll.rewards, roll.values, roll.terminated, roll.truncated, roll.last_values,
                           roll.final_values, 0.99, 0.95)
    data = {"obs": torch.as_tensor(roll.obs.reshape(-1, 3)), "actions": torch.as_tensor(roll.actions.reshape(-1, 1)),
            "adv": torch.as_tensor(adv.reshape(-1)), "ret": torch.as_tensor(ret.reshape(-1))}
    torch.save(data, tmp_path / "batch.pt")
    torch.save(agent, tmp_path / "agent.pt")

    single = copy.deepcopy(agent)
    single.obs_normalizer.update(data["obs"])
    batch = PolicyBatch(single.obs_normalizer(data["obs"]), data["actions"], data["adv"], data["ret"])
    stats = update_policy(single.actor, batch, TRPOSettings(max_kl=0.01), "written_out")
    update_critic(single.critic, torch.optim.Adam(single.critic.parameters(), lr=1e-3), batch.obs, batch.returns,
                  epochs=3, batch_size=10**6, backend="numpy")
    assert stats["line_search_accepted"] == 1.0

    r = torchrun(str(ROOT / "tests" / "dist_worker.py"), str(tmp_path / "batch.pt"), str(tmp_path / "agent.pt"),
                 str(tmp_path / "rank"))
    assert r.returncode == 0, r.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{i}.pt", weights_only=True) for i in range(2)]
    s0, s1 = ranks[0]["state"], ranks[1]["state"]
    for k in s0:
        assert torch.equal(s0[k], s1[k]), f"ranks differ in {k}"
    ref = single.state_dict()
    moved = 0.0
    for k in ref:
        assert torch.allclose(s0[k].double(), ref[k].double(), atol=2e-5, rtol=1e-4), k
        moved = max(moved, float((ref[k].double() - agent.state_dict()[k].double()).abs().max()))
    assert moved > 1e-3  # the update did change the parameters
    assert abs(ranks[0]["stats"]["kl"] - stats["kl"]) < 1e-5


def test_torchrun_training_from_cli(tmp_path):
    r = torchrun("-m", "trpo_mimic", "train", "--env_id", "Pendulum-v1", "--num_timesteps", "512", "--num_envs", "2",
                 "--steps_per_env", "64", "--vf_epochs", "1", "--checkpoint_dir", str(tmp_path), "--run_name", "d",
                 "--no-progress", "--eval_freq", "0", "--no-eval_video", "--normalize_obs")  # the preset's is off
    assert r.returncode == 0, r.stderr[-3000:]
    assert "(2 ranks)" in r.stdout and "iter 2 | steps 512" in r.stdout
    assert r.stdout.count("iter 1 |") == 1  # only rank 0 logs
    ckpt = torch.load(tmp_path / "d" / "latest.pt", weights_only=True)
    assert ckpt["timesteps"] == 512 and ckpt["obs_normalizer"]["count"].item() == 512
    # The critic fitted beside the policy step (the default; its all-reduces on their own gloo group)
    # trains exactly as the sequential order does, and the ranks still agree (checked at the end of run).
    r = torchrun("-m", "trpo_mimic", "train", "--env_id", "Pendulum-v1", "--num_timesteps", "512", "--num_envs", "2",
                 "--steps_per_env", "64", "--vf_epochs", "1", "--checkpoint_dir", str(tmp_path), "--run_name", "seq",
                 "--no-progress", "--eval_freq", "0", "--no-eval_video", "--normalize_obs", "--no-critic_thread")
    assert r.returncode == 0, r.stderr[-3000:]
    seq = torch.load(tmp_path / "seq" / "latest.pt", weights_only=True)
    for part in ("actor", "critic"):
        for k, v in ckpt[part].items():
            assert torch.equal(v, seq[part][k]), (part, k)
