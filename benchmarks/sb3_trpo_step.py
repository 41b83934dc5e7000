"""One TRPO step of sb3-contrib and of trpo-mimic on the same batch from the same weights, side by side.

    python benchmarks/sb3_trpo_step.py [--action_dim 3] [--max_kl 0.01] [--cg_damping 0.1]

sb3-contrib's TRPO measures the KL as the mean over the action's dimensions (torch's per-dimension Normal KL,
then ``.mean()``), where trpo-mimic sums them, as the TRPO paper's KL of the action distribution does. Its step
is therefore the step of a summed-KL bound d x max_kl with damping d x cg_damping (d the action's size), which
is what ``--kl_per_action_dim`` sets. This script builds one 64x64 tanh Gaussian policy, copies its weights into
an sb3-contrib policy, draws a batch (observations, actions from the policy, advantages correlated with them),
takes sb3-contrib's step (its own gradient, Hessian-vector product and CG solver, as in ``TRPO.train``) and ours
with and without the flag, and prints how far apart the parameter changes are.
Needs the bench extra (sb3-contrib).
"""
from __future__ import annotations

import argparse
import copy
from functools import partial

import gymnasium as gym
import numpy as np
import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--action_dim", type=int, default=3)
    p.add_argument("--obs_dim", type=int, default=11)
    p.add_argument("--max_kl", type=float, default=0.01)
    p.add_argument("--cg_damping", type=float, default=0.1)
    p.add_argument("--batch", type=int, default=1024)
    args = p.parse_args()
    from sb3_contrib import TRPO as SB3TRPO
    from sb3_contrib.common.utils import conjugate_gradient_solver
    from stable_baselines3.common.distributions import kl_divergence
    from trpo_mimic.algos.base import PolicyBatch
    from trpo_mimic.algos.trpo import TRPOSettings, kl_scale, update_policy
    from trpo_mimic.policies.networks import Actor

    torch.manual_seed(0)
    d, n = args.action_dim, args.batch
    obs_space = gym.spaces.Box(-np.inf, np.inf, (args.obs_dim,))
    act_space = gym.spaces.Box(-1.0, 1.0, (d,))
    actor = Actor(obs_space, act_space, (64, 64), 0.0)
    with torch.no_grad():  # away from the initialisation's near-zero head
        for prm in actor.parameters():
            prm.add_(0.05 * torch.randn_like(prm))
    obs = torch.randn(n, args.obs_dim)
    with torch.no_grad():
        acts = actor.distribution(obs).sample()
    adv = acts[:, 0] * obs[:, 0] - acts[:, -1] * obs[:, 1] + 0.5 * torch.randn(n)

    class _Env(gym.Env):  # only the spaces matter to build the sb3 policy
        observation_space, action_space = obs_space, act_space

    model = SB3TRPO("MlpPolicy", _Env(), device="cpu", target_kl=args.max_kl, cg_damping=args.cg_damping,
                    cg_max_steps=25, seed=0)
    pol = model.policy
    lin = [m for m in actor.body if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for dst, src in zip((pol.mlp_extractor.policy_net[0], pol.mlp_extractor.policy_net[2], pol.action_net), lin):
            dst.weight.copy_(src.weight)
            dst.bias.copy_(src.bias)
        pol.log_std.copy_(actor.log_std)
    old_logp = pol.get_distribution(obs).log_prob(acts).detach()
    assert torch.allclose(old_logp, actor.distribution(obs).log_prob(acts), atol=1e-5), "the two policies differ"

    # sb3-contrib's step, as TRPO.train computes it (before its line search)
    with torch.no_grad():
        old_dist = copy.copy(pol.get_distribution(obs))
    dist = pol.get_distribution(obs)
    nadv = (adv - adv.mean()) / (adv.std() + 1e-8)
    objective = (nadv * torch.exp(dist.log_prob(acts) - old_logp)).mean()
    kl = kl_divergence(dist, old_dist).mean()
    params, grad, grad_kl, _ = model._compute_actor_grad(kl, objective)
    hvp = partial(model.hessian_vector_product, params, grad_kl)
    direction = conjugate_gradient_solver(hvp, grad, max_iter=25)
    sb3_step = float(np.sqrt(2 * args.max_kl / float(direction @ hvp(direction, retain_graph=False)))) * direction
    names = [name for name, prm in pol.named_parameters() if any(prm is q for q in params)]
    print(f"action dimensions {d}; sb3-contrib's actor parameters: {', '.join(names)}")

    def ours(per: int) -> torch.Tensor:
        a = copy.deepcopy(actor)
        before = torch.cat([q.detach().reshape(-1) for q in a.parameters()])
        settings = TRPOSettings(max_kl=args.max_kl * per, cg_iters=25, cg_damping=args.cg_damping * per)
        stats = update_policy(a, PolicyBatch(obs, acts, adv, torch.zeros(n)), settings)
        assert stats["line_search_steps"] == 1, "our full step was cut by the line search"
        return torch.cat([q.detach().reshape(-1) for q in a.parameters()]) - before

    # both list log_std first, then the layers' weights and biases in order
    for label, per in (("trpo-mimic", 1), ("trpo-mimic --kl_per_action_dim", kl_scale(actor))):
        step = ours(per)
        rel = float((step - sb3_step).norm() / sb3_step.norm())
        print(f"{label:32s} |step| {float(step.norm()):.5f}  sb3-contrib |step| {float(sb3_step.norm()):.5f}  "
              f"relative difference {rel:.2e}")


if __name__ == "__main__":
    main()
