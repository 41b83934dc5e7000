import json
import warnings

import numpy as np
import pytest
import torch

from trpo_mimic.checkpoint import rng_state, save_checkpoint
from trpo_mimic.config import Config
from trpo_mimic.envs import make_env
from trpo_mimic.export import ANET_FILE, CNET_FILE, export_checkpoint
from trpo_mimic.algos import TRPO, TRPOSettings
from trpo_mimic.checkpoint import build_agent

import onnxruntime as ort  # noqa: E402  (required: this test must fail, not skip, without it)


def make_checkpoint(tmp_path, cfg: Config, seed: int = 0):
    """A checkpoint in the trainer's format, for an untrained agent with non-trivial statistics."""
    torch.manual_seed(seed)
    env = make_env(cfg.env_id, **({"obs_mode": cfg.obs_mode} if cfg.obs_mode else {}))
    agent = build_agent(cfg, env.observation_space, env.action_space)
    env.close()
    shape = agent.obs_normalizer.mean.shape
    rng = np.random.default_rng(seed)
    agent.obs_normalizer.update(torch.as_tensor(rng.normal(3.0, 2.5, size=(500, *shape))))
    with torch.no_grad():  # larger outputs than the initial 0.01-gain head, so some actions clip
        for p in agent.actor.parameters():
            p.add_(0.5 * torch.randn_like(p))
    payload = {  # as Trainer.checkpoint_payload
        "actor": agent.actor.state_dict(), "critic": agent.critic.state_dict(),
        "obs_normalizer": agent.obs_normalizer.state_dict(),
        "critic_optimizer": TRPO(agent, TRPOSettings(vf_lr=cfg.vf_lr)).state_dict()["critic_optimizer"],
        "config": cfg.to_dict(), "iteration": 3, "timesteps": 3000, "rng": rng_state(), "saved_at": 0.0,
    }
    path = save_checkpoint(tmp_path / "run" / "latest.pt", payload)
    obs = rng.normal(3.0, 4.0, size=(7, *shape))
    obs[0] = 1e3  # clipped by the normaliser
    return agent, path, obs


CASES = [
    Config(env_id="Pendulum-v1", policy_hidden_size=[16, 16]),
    Config(env_id="DeepMimicBuiltinWalk-v0", obs_mode="compact", policy_hidden_size=[32, 32]),  # Box(56) -> Box(28)
    Config(env_id="CartPole-v1", policy_hidden_size=[16]),
]


@pytest.mark.parametrize("cfg", CASES, ids=lambda c: c.env_id)
def test_exported_policies_match_the_agent(tmp_path, cfg):
    agent, ckpt, obs = make_checkpoint(tmp_path, cfg)
    obs32 = obs.astype(np.float32)
    want = agent.act(obs32, deterministic=True)
    paths = export_checkpoint(ckpt.parent, tmp_path / "export")  # a run directory works as well as a file
    assert set(paths) == {"anet", "cnet", "torchscript", "onnx", "meta"}

    # state dicts load back into fresh networks
    anet = torch.load(paths["anet"], weights_only=True)
    cnet = torch.load(paths["cnet"], weights_only=True)
    assert paths["anet"].name == ANET_FILE and paths["cnet"].name == CNET_FILE
    for k, v in agent.actor.state_dict().items():
        assert torch.equal(anet[k], v)
    for k, v in agent.critic.state_dict().items():
        assert torch.equal(cnet[k], v)

    discrete = cfg.env_id == "CartPole-v1"
    if not discrete:
        high = agent.action_high.numpy()
        assert np.any(np.abs(want) == high)  # some actions are clipped: the bounds are exercised

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated in favour of torch.export
        ts = torch.jit.load(str(paths["torchscript"]))
    got_ts = ts(torch.from_numpy(obs32)).numpy()
    sess = ort.InferenceSession(str(paths["onnx"]), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["obs"]
    got_onnx = sess.run(["action"], {"obs": obs32})[0]
    got_onnx_one = sess.run(["action"], {"obs": obs32[:1]})[0]  # the batch axis is dynamic
    for got in (got_ts, got_onnx):
        assert got.shape == want.shape
        if discrete:
            np.testing.assert_array_equal(got, want)
        else:
            np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    np.testing.assert_allclose(got_onnx_one, want[:1], atol=1e-5, rtol=0)

    meta = json.loads(paths["meta"].read_text())
    assert meta["env_id"] == cfg.env_id and meta["observation_shape"] == list(obs.shape[1:])


def test_policy_file_is_small_weights_only_and_evaluates_like_its_checkpoint(tmp_path, cli):
    """`export --pretrained`: networks, normaliser and config only; evaluate reads it as it reads the run;
    it can start a new run (--pretrained_weight_path) but not resume one."""
    cfg = Config(env_id="Pendulum-v1", policy_hidden_size=[16, 16], checkpoint_dir=str(tmp_path), run_name="run")
    _, path, _ = make_checkpoint(tmp_path, cfg)
    out = tmp_path / "pretrained" / "pendulum.pt"
    r = cli("export", str(path), "--pretrained", str(out))
    assert r.returncode == 0, r.stderr
    data = torch.load(out, weights_only=True)
    assert data["kind"] == "policy" and "critic_optimizer" not in data and "rng" not in data
    assert data["config"]["run_name"] is None and data["config"]["env_id"] == "Pendulum-v1"
    assert out.stat().st_size < path.stat().st_size
    runs = [cli("evaluate", "--load_model_path", str(p), "--num_eval_episodes", "2", "--max_episode_steps", "20")
            for p in (path, out)]
    assert all(x.returncode == 0 for x in runs), runs[1].stderr
    pick = [next(line for line in x.stdout.splitlines() if line.startswith("return:")) for x in runs]
    assert pick[0] == pick[1]
    r = cli("train", "--resume", str(out), "--num_timesteps", "10")
    assert r.returncode == 2 and "a policy file (weights only) cannot resume a run" in r.stderr
    r = cli("train", "--env_id", "Pendulum-v1", "--policy_hidden_size", "16", "16", "--pretrained_weight_path",
            str(out), "--num_timesteps", "64", "--num_envs", "2", "--steps_per_env", "32", "--eval_episodes", "0",
            "--checkpoint_dir", str(tmp_path / "new"), "--no-progress")
    assert r.returncode == 0, r.stderr
