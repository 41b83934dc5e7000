"""A real rollout turned into a PolicyBatch, shared by the TRPO and PPO tests."""
import torch

from trpo_mimic.algos.trpo import PolicyBatch
from trpo_mimic.envs import make_vector_env
from trpo_mimic.policies.agent import Agent
from trpo_mimic.rollout import RolloutCollector, compute_gae


def real_batch(env_id: str = "Pendulum-v1", steps: int = 128, seed: int = 0):
    """(agent, batch): 4 envs x `steps` of a fresh 32x32 agent, normaliser updated, GAE(0.99, 0.95)."""
    torch.manual_seed(seed)
    envs = make_vector_env(env_id, 4)
    agent = Agent(envs.single_observation_space, envs.single_action_space, [32, 32])
    roll = RolloutCollector(envs, agent, env_id, seed=seed).collect(steps)
    envs.close()
    obs = torch.as_tensor(roll.obs.reshape(-1, *roll.obs.shape[2:]))
    agent.obs_normalizer.update(obs)
    adv, ret = compute_gae(roll.rewards, roll.values, roll.terminated, roll.truncated, roll.last_values,
                           roll.final_values, 0.99, 0.95)
    acts = torch.as_tensor(roll.actions.reshape(-1, *roll.actions.shape[2:]))
    batch = PolicyBatch(agent.obs_normalizer(obs), acts, torch.as_tensor(adv.reshape(-1)),
                        torch.as_tensor(ret.reshape(-1)))
    return agent, batch
