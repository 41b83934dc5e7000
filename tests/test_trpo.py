import copy
import math
import numpy as np
import pytest
import torch

from trpo_mimic.algos.linalg import flat_grad, flat_params
from trpo_mimic.algos.trpo import (PolicyBatch, TRPOSettings, line_search, mean_kl, normalize_advantages,
                                   surrogate_loss, update_critic, update_policy)
from trpo_mimic.envs import make_vector_env
from trpo_mimic.policies.agent import Agent
from trpo_mimic.rollout import RolloutCollector, compute_gae

from rollout_util import real_batch


@pytest.mark.parametrize("env_id,fvp_subsample", [("Pendulum-v1", 1.0), ("CartPole-v1", 1.0), ("Pendulum-v1", 0.25)])
def test_update_respects_trust_region_and_leaves_critic_alone(env_id, fvp_subsample):
    agent, batch = real_batch(env_id)
    max_kl = 0.01
    critic_before = [p.detach().clone() for p in agent.critic.parameters()]
    actor_before = flat_params(agent.actor.parameters())
    with torch.no_grad():
        old = agent.actor.distribution(batch.obs)
    stats = update_policy(agent.actor, batch, TRPOSettings(max_kl=max_kl, fvp_subsample=fvp_subsample))
    with torch.no_grad():
        kl = mean_kl(old, agent.actor.distribution(batch.obs)).item()
    assert stats["line_search_accepted"] == 1.0
    assert 0.0 < kl <= max_kl * (1 + 1e-6)
    assert abs(kl - stats["kl"]) < 1e-6
    assert stats["improvement"] > 0
    assert not torch.equal(flat_params(agent.actor.parameters()), actor_before)
    for a, b in zip(critic_before, agent.critic.parameters()):
        assert torch.equal(a, b)


def test_full_step_uses_most_of_the_trust_region():
    # the max step sqrt(2 max_kl / s'Fs) puts the quadratic KL model at max_kl, so the true KL is close
    agent, batch = real_batch()
    with torch.no_grad():
        old = agent.actor.distribution(batch.obs)
    update_policy(agent.actor, batch, TRPOSettings(max_kl=0.001))
    with torch.no_grad():
        kl = mean_kl(old, agent.actor.distribution(batch.obs)).item()
    assert 0.0001 < kl <= 0.001 * (1 + 1e-6)


def test_the_kl_tolerance_accepts_a_full_step_a_little_over_max_kl():
    """At max_kl 0.05 this batch's full step measures a KL about 7% over the quadratic model's 0.05: strictly
    it is halved (the KL about a quarter), with ls_kl_tolerance 1.5 (OpenAI Baselines' acceptance) it is taken
    whole."""
    agent, batch = real_batch()
    start = copy.deepcopy(agent.actor.state_dict())
    max_kl = 0.05
    with torch.no_grad():
        old = agent.actor.distribution(batch.obs)
    tolerant = update_policy(agent.actor, batch, TRPOSettings(max_kl=max_kl, ls_kl_tolerance=1.5))
    assert tolerant["line_search_steps"] == 1 and 1.01 * max_kl < tolerant["kl"] <= 1.5 * max_kl
    with torch.no_grad():
        assert abs(mean_kl(old, agent.actor.distribution(batch.obs)).item() - tolerant["kl"]) < 1e-6
    agent.actor.load_state_dict(start)
    strict = update_policy(agent.actor, batch, TRPOSettings(max_kl=max_kl))
    assert strict["line_search_steps"] == 2 and strict["kl"] < 0.3 * tolerant["kl"]


def test_line_search_with_only_worse_steps_restores_parameters_exactly():
    agent, batch = real_batch()
    actor = agent.actor
    params = list(actor.parameters())
    adv = normalize_advantages(batch.advantages)
    with torch.no_grad():
        old = actor.distribution(batch.obs)
        old_logp = old.log_prob(batch.actions)
    surr, _ = surrogate_loss(actor, batch, old_logp, adv, 0.0)
    g = flat_grad(surr, params)
    before = [p.detach().clone() for p in params]

    def evaluate():
        with torch.no_grad():
            s, d = surrogate_loss(actor, batch, old_logp, adv, 0.0)
            return s, mean_kl(old, d)

    accepted, steps, _, _ = line_search(actor, params, flat_params(params), -g / g.norm() * 0.1, evaluate,
                                        float(surr.detach()), max_kl=1.0, max_steps=10, backtrack=0.5)
    assert not accepted and steps == 10
    for a, b in zip(before, params):
        assert torch.equal(a, b)


def test_non_finite_advantages_reject_the_update():
    agent, batch = real_batch()
    before = flat_params(agent.actor.parameters())
    batch.advantages[3] = float("nan")
    stats = update_policy(agent.actor, batch, TRPOSettings())
    assert stats["update_rejected"] == 1.0
    assert torch.equal(flat_params(agent.actor.parameters()), before)


def test_critic_fit_reduces_value_loss():
    agent, batch = real_batch()
    opt = torch.optim.Adam(agent.critic.parameters(), lr=1e-2)
    with torch.no_grad():
        before = (agent.critic(batch.obs) - batch.returns).pow(2).mean().item()
    update_critic(agent.critic, opt, batch.obs, batch.returns, epochs=30, batch_size=64)
    with torch.no_grad():
        after = (agent.critic(batch.obs) - batch.returns).pow(2).mean().item()
    assert after < 0.8 * before


def test_truncated_steps_are_bootstrapped_in_rollouts():
    torch.manual_seed(0)
    envs = make_vector_env("Pendulum-v1", 2, max_episode_steps=10)
    agent = Agent(envs.single_observation_space, envs.single_action_space)
    roll = RolloutCollector(envs, agent, "Pendulum-v1", seed=0).collect(25)
    envs.close()
    assert roll.truncated[9].all() and roll.truncated[19].all() and roll.truncated.sum() == 4
    assert not roll.terminated.any()
    assert np.all(roll.final_values[9] != 0) and np.all(roll.final_values[0] == 0)
    assert roll.episode_lengths == [10, 10, 10, 10]


@pytest.mark.parametrize("vec", ["auto", "sync"])
def test_a_rollouts_reward_terms_are_those_of_its_steps(vec):
    """Hopper's reward is the sum of its terms (forward + healthy + control), so their per-step means over a rollout
    add up to its mean reward, when the last step of each ended episode counts with its own terms (the
    vector env's final_info), not with the reset info that autoreset puts in its place. Falls and truncations
    both end episodes here; the native batched env (auto) and Gymnasium's SyncVectorEnv agree."""
    torch.manual_seed(0)
    envs = make_vector_env("Hopper-v5", 3, vec, max_episode_steps=15)
    agent = Agent(envs.single_observation_space, envs.single_action_space, init_log_std=1.0)
    roll = RolloutCollector(envs, agent, "Hopper-v5", seed=0).collect(40)
    envs.close()
    assert roll.terminated.any() and roll.truncated.any()
    terms = roll.step_info_means
    assert sum(terms[k] for k in ("reward_forward", "reward_survive", "reward_ctrl")) == pytest.approx(
        float(roll.rewards.mean()), rel=1e-6, abs=1e-9)


def test_batched_rollout_values_equal_per_step_critic_calls():
    """The numpy path values the whole rollout in one pass after it; the torch path calls the critic
    step by step (and on each truncated episode's final observation). Same seed, same values."""
    def rollout(fast: bool):
        torch.manual_seed(0)
        envs = make_vector_env("Pendulum-v1", 3, max_episode_steps=7)
        agent = Agent(envs.single_observation_space, envs.single_action_space, [32, 32])
        agent.obs_normalizer.update(torch.as_tensor(np.random.default_rng(0).normal(0.5, 2.0, (50, 3))))
        with torch.no_grad():
            for p in agent.critic.parameters():
                p.add_(0.3 * torch.randn_like(p))
        agent.set_backend("numpy" if fast else "torch")
        roll = RolloutCollector(envs, agent, "Pendulum-v1", seed=0).collect(20)
        envs.close()
        return roll

    batched, per_step = rollout(True), rollout(False)
    assert per_step.truncated.sum() == 6 and np.abs(per_step.final_values[6]).min() > 1e-3
    np.testing.assert_allclose(batched.actions, per_step.actions, rtol=1e-4, atol=1e-4)
    for name in ("values", "final_values", "last_values"):
        np.testing.assert_allclose(getattr(batched, name), getattr(per_step, name), rtol=1e-4, atol=1e-4)
    assert np.array_equal(batched.final_values != 0, per_step.final_values != 0)


def test_chunked_gradient_gives_the_same_update():
    agent, batch = real_batch()
    import copy
    other = copy.deepcopy(agent)
    update_policy(agent.actor, batch, TRPOSettings())
    update_policy(other.actor, batch, TRPOSettings(grad_chunk=100))
    a, b = flat_params(agent.actor.parameters()), flat_params(other.actor.parameters())
    assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)


def test_critic_fit_beside_the_policy_step_gives_the_same_training(tmp_path, monkeypatch):
    """--critic_thread: the critic is fitted in a second thread while the policy step runs; the
    parameters, the critic's Adam state and the logged losses after 3 iterations equal those of
    the sequential order, and the thread really ran the fit."""
    import threading
    from trpo_mimic.algos import trpo as trpo_mod
    from trpo_mimic.config import Config
    from trpo_mimic.train import Trainer
    monkeypatch.setattr("os.cpu_count", lambda: 2)  # the threaded path also on a one-core machine
    fit_threads = []
    real_update_critic = trpo_mod.update_critic

    def spy(*a, **k):
        fit_threads.append(threading.current_thread().name)
        return real_update_critic(*a, **k)

    monkeypatch.setattr("trpo_mimic.algos.trpo.update_critic", spy)

    def train(threaded: bool):
        cfg = Config(env_id="Pendulum-v1", num_envs=2, steps_per_env=64, num_timesteps=384, seed=3,
                     policy_hidden_size=[16, 16], checkpoint_dir=str(tmp_path), run_name=f"t{threaded}",
                     progress=False, eval_freq=0, eval_episodes=0, critic_thread=threaded, vf_epochs=3)
        tr = Trainer(cfg)
        assert tr.algo.threaded == threaded
        tr.run()
        return tr, [row for row in (tmp_path / f"t{threaded}" / "progress.csv").read_text().splitlines()]

    seq, seq_rows = train(False)
    assert fit_threads and all(n == "MainThread" for n in fit_threads)
    fit_threads.clear()
    par, par_rows = train(True)
    assert fit_threads and all(n.startswith("critic-fit") for n in fit_threads)
    for a, b in zip(seq.agent.state_dict().values(), par.agent.state_dict().values()):
        assert torch.equal(a, b)
    sa, sb = seq.algo.optimizer.state_dict()["state"], par.algo.optimizer.state_dict()["state"]
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k]["exp_avg_sq"], sb[k]["exp_avg_sq"]) for k in sa)
    col = seq_rows[0].split(",").index("TRPO/value_loss")
    assert [r.split(",")[col] for r in seq_rows[1:]] == [r.split(",")[col] for r in par_rows[1:]]


@pytest.mark.parametrize("env_id,dims", [("Hopper-v5", 3), ("CartPole-v1", 1)])
def test_kl_per_action_dim_bounds_the_mean_over_dimensions(env_id, dims):
    """--kl_per_action_dim (sb3-contrib's TRPO): the bound holds for the KL averaged over the action's dimensions,
    so Hopper's 3-dimensional step may reach 3 x max_kl in the summed KL; the full step of the quadratic model then
    lands near the bound (small damping), which it must not pass. A categorical action is one dimension."""
    from trpo_mimic.algos.trpo import TRPO, kl_scale
    from trpo_mimic.config import Config
    agent, batch = real_batch(env_id, steps=256)
    assert kl_scale(agent.actor) == dims
    cfg = Config(env_id=env_id, max_kl=0.002, cg_damping=1e-3, cg_iters=30, kl_per_action_dim=True, vf_epochs=1)
    algo = TRPO.from_config(cfg, agent)
    assert algo.settings.max_kl == pytest.approx(0.002 * dims) and algo.settings.cg_damping == pytest.approx(1e-3 * dims)
    with torch.no_grad():
        old = agent.actor.distribution(batch.obs)
    stats = algo.update(batch)
    with torch.no_grad():
        summed = mean_kl(old, agent.actor.distribution(batch.obs)).item()
    assert stats["TRPO/line_search_steps"] == 1  # the full step was taken
    assert 0.7 * 0.002 < summed / dims <= 0.002 * (1 + 1e-6)  # per dimension: most of the bound, never past it
    if dims > 1:
        assert summed > 0.002 * 1.5  # beyond what the summed bound alone allows
    assert TRPO.from_config(Config(env_id=env_id, max_kl=0.002), agent).settings.max_kl == 0.002  # off by default
