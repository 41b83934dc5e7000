"""A warm start across tasks whose observations share named parts (trpo_mimic.warm_start)."""
import gymnasium as gym
import numpy as np
import pytest
import torch

from trpo_mimic.checkpoint import CheckpointError, build_agent, load_checkpoint, load_weights
from trpo_mimic.config import Config
from trpo_mimic.envs import make_env
from trpo_mimic.warm_start import column_map, fit_observation, observation_parts, remap


def agent_for(obs_dim):
    cfg = Config(policy_hidden_size=[8, 8], value_hidden_size=[8, 8])
    box = gym.spaces.Box(-np.inf, np.inf, shape=(obs_dim,))
    return build_agent(cfg, box, gym.spaces.Box(-1.0, 1.0, shape=(2,)), backend="torch")


def ckpt_of(agent):
    with torch.no_grad():
        agent.obs_normalizer.mean.copy_(torch.arange(1.0, agent.obs_normalizer.mean.numel() + 1))
        agent.obs_normalizer.var.fill_(4.0)
        agent.obs_normalizer.count.fill_(100.0)
        agent.obs_normalizer._refresh()
    return {"actor": agent.actor.state_dict(), "critic": agent.critic.state_dict(),
            "obs_normalizer": agent.obs_normalizer.state_dict()}


def test_column_map_by_name_and_size():
    new_cols, old_cols, kept, added, dropped = column_map(
        [("state", 3), ("heading goal", 2), ("clip id", 2)], [("state", 3), ("clip id", 2), ("strike goal", 1)])
    assert new_cols.tolist() == [0, 1, 2, 3, 4]
    assert old_cols.tolist() == [0, 1, 2, 5, 6]
    assert kept == ["state (3)", "clip id (2)"] and added == ["strike goal (1)"] and dropped == ["heading goal (2)"]
    # a part of the same name and another size is not the same part
    _, _, kept, added, dropped = column_map([("state", 3), ("goal", 2)], [("state", 3), ("goal", 1)])
    assert kept == ["state (3)"] and added == ["goal (1)"] and dropped == ["goal (2)"]


def test_remapped_policy_acts_as_the_checkpoint_on_the_shared_part():
    old_agent, new_agent = agent_for(5), agent_for(4)
    ckpt = ckpt_of(old_agent)
    out, note = remap(new_agent, ckpt, [("state", 3), ("heading goal", 2)], [("state", 3), ("strike goal", 1)], "x.pt")
    assert note == ("warm start from x.pt: observation parts carried over: state (3); new (zero weights): "
                    "strike goal (1); dropped: heading goal (2)")
    load_weights(new_agent, out, "x.pt")
    assert new_agent.obs_normalizer.mean.tolist() == [1.0, 2.0, 3.0, 0.0]
    assert new_agent.obs_normalizer.var.tolist() == [4.0, 4.0, 4.0, 1.0]
    assert float(new_agent.obs_normalizer.count) == 100.0
    # with the dropped part's columns at zero input, the old networks see what the new ones see: the new part's
    # weights are zero, so its value does not matter
    x = torch.randn(6, 3)
    old_in = torch.cat([x, torch.zeros(6, 2)], 1)
    for goal in (0.0, 7.0):
        new_in = torch.cat([x, torch.full((6, 1), goal)], 1)
        torch.testing.assert_close(new_agent.critic(new_in), old_agent.critic(old_in))
        torch.testing.assert_close(new_agent.actor.body(new_in), old_agent.actor.body(old_in))
    # the checkpoint itself is unchanged
    assert ckpt["obs_normalizer"]["mean"].numel() == 5


def test_no_shared_part_is_an_error_naming_both():
    with pytest.raises(CheckpointError, match=r"x.pt: its observation \(a \(3\)\) shares no part with this run's "
                                              r"\(b \(3\), g \(1\)\)"):
        remap(agent_for(4), ckpt_of(agent_for(3)), [("a", 3)], [("b", 3), ("g", 1)], "x.pt")


def test_deepmimic_scenes_name_every_column():
    for env_id, goal in (("DeepMimicStrike-v0", ("strike goal", 4)), ("DeepMimicAMP-v0", None)):
        env = make_env(env_id)
        parts = observation_parts(env)
        assert sum(n for _, n in parts) == env.observation_space.shape[0]
        assert parts[0] == ("humanoid3d deepmimic state", 197)
        assert (parts[-1] if goal else None) == goal and len(parts) == (2 if goal else 1)
        env.close()


def test_shipped_heading_warm_starts_a_strike_policy():
    env = make_env("DeepMimicStrike-v0")
    cfg = Config.from_dict(load_checkpoint("heading")["config"])
    agent = build_agent(cfg, env.observation_space, env.action_space)
    ckpt = load_checkpoint("heading")
    out, note = fit_observation(agent, env, ckpt, "heading")
    assert "carried over: humanoid3d deepmimic state (197); new (zero weights): strike goal (4); dropped: " \
           "heading goal (3)" in note
    load_weights(agent, out, "heading")
    # a checkpoint of this run's size is taken as it is
    same, none = fit_observation(agent, env, out, "again")
    assert same is out and none is None
    env.close()
