"""Per-call cost of the rollout's policy inference: torch (Actor.sample + Critic) vs the numpy path.

    python benchmarks/inference_numpy_vs_torch.py

Pendulum sizes (3 observations, 1 action, 64x64 actor and critic), 8 observations per call as with
8 vectorised envs, one torch thread. Prints microseconds per call for both, twice, and the largest
difference between their outputs for the same torch seed.
"""
import time, numpy as np, torch, gymnasium as gym
from trpo_mimic.policies.agent import Agent
torch.set_num_threads(1)
obs_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32); act = gym.spaces.Box(-2, 2, (1,), np.float32)
agent = Agent(obs_space, act, (64, 64))
obs = np.random.randn(8, 3).astype(np.float32)
def torch_path(o):
    with torch.inference_mode():
        x = agent.obs_tensor(o)
        a = agent.actor.sample(x); v = agent.critic(x)
        return agent.to_env_action(a), a.numpy(), v.numpy()
norm = agent.obs_normalizer
mean, inv = norm.mean32.numpy(), norm.inv_std32.numpy()
al = [m for m in agent.actor.body if isinstance(m, torch.nn.Linear)]
cl = [m for m in agent.critic.body if isinstance(m, torch.nn.Linear)]
aw = [(m.weight.detach().numpy().T, m.bias.detach().numpy()) for m in al]
cw = [(m.weight.detach().numpy().T, m.bias.detach().numpy()) for m in cl]
std = agent.actor.log_std.detach().exp().numpy()
lo, hi = agent.action_low.numpy(), agent.action_high.numpy()
def mlp(x, ws):
    for W, b in ws[:-1]:
        x = np.tanh(x @ W + b)
    W, b = ws[-1]
    return x @ W + b
def np_path(o):
    x = np.clip((o - mean) * inv, -10, 10)
    mu = mlp(x, aw)
    a = mu + std * torch.randn(mu.shape).numpy()
    v = mlp(x, cw)[:, 0]
    return np.clip(a, lo, hi), a, v
for f in (torch_path, np_path, torch_path, np_path):
    t = time.perf_counter()
    for _ in range(2560): f(obs)
    print(f.__name__, (time.perf_counter() - t) / 2560 * 1e6, 'us per call')
torch.manual_seed(0); r1 = torch_path(obs); torch.manual_seed(0); r2 = np_path(obs)
print([np.abs(a - b).max() for a, b in zip(r1, r2)])
