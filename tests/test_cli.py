import pickle
from pathlib import Path

import pytest
import torch

from trpo_mimic.checkpoint import CheckpointError, load_checkpoint
from trpo_mimic.cli import parse

from conftest import ROOT, run_cli_here

FAST = ["--num_envs", "2", "--steps_per_env", "64", "--vf_epochs", "2", "--no-progress"]


def test_train_two_iterations_then_evaluate(cli, tmp_path):
    r = cli("train", "--env_id", "Pendulum-v1", "--num_timesteps", "256", "--save_per_iter", "1",
            "--checkpoint_dir", str(tmp_path), "--run_name", "run", "--policy_hidden_size", "100", *FAST)
    assert r.returncode == 0, r.stderr
    run = tmp_path / "run"
    assert (run / "iter_1.pt").exists() and (run / "iter_2.pt").exists() and (run / "latest.pt").exists()
    assert "iter 2 | steps 256" in r.stdout
    assert "TRPO on cpu, numpy backend" in r.stdout  # the path chosen once, in the run's header
    ckpt = torch.load(run / "latest.pt", weights_only=True)
    for key in ("actor", "critic", "critic_optimizer", "obs_normalizer", "config", "iteration", "timesteps", "rng"):
        assert key in ckpt
    assert ckpt["iteration"] == 2 and ckpt["timesteps"] == 256
    assert ckpt["obs_normalizer"]["count"].item() == 256
    assert ckpt["actor"]["body.0.weight"].shape == (100, 3) and ckpt["actor"]["body.2.weight"].shape == (100, 100)
    r = cli("--task", "evaluate", "--load_model_path", str(run), "--num_eval_episodes", "3", "--seed", "5")
    assert r.returncode == 0, r.stderr
    assert "episodes: 3" in r.stdout and "return:" in r.stdout and "length:   200.0" in r.stdout
    assert f"policy trained on 256 samples in {ckpt['train_seconds'] / 60:.0f} min of training" in r.stdout


def test_training_stops_once_an_evaluation_reaches_the_goal(cli, tmp_path):
    base = ("train", "--env_id", "Pendulum-v1", "--num_timesteps", "512", "--eval_freq", "1", "--eval_episodes", "1",
            "--max_episode_steps", "50", "--checkpoint_dir", str(tmp_path), *FAST)
    r = cli(*base, "--run_name", "reached", "--stop_reward_per_step", "-1000")  # any evaluation reaches it
    assert r.returncode == 0, r.stderr
    assert "stopping: the evaluation reached" in r.stdout and "at 128 samples" in r.stdout
    assert "confirming with 10 episodes" in r.stdout  # --num_eval_episodes fresh episodes confirm the goal
    assert load_checkpoint(tmp_path / "reached")["timesteps"] == 128
    # the goal is part of the saved config: a resume keeps it, and `--stop_reward_per_step none` clears it
    r = cli("train", "--resume", str(tmp_path / "reached"), "--num_timesteps", "256", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "stopping: the evaluation reached" in r.stdout and load_checkpoint(tmp_path / "reached")["timesteps"] == 256
    r = cli("train", "--resume", str(tmp_path / "reached"), "--num_timesteps", "384", "--stop_reward_per_step", "none",
            "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "stopping" not in r.stdout and load_checkpoint(tmp_path / "reached")["timesteps"] == 384
    assert load_checkpoint(tmp_path / "reached")["config"]["stop_reward_per_step"] is None
    r = cli(*base, "--run_name", "never", "--stop_reward_per_step", "1")  # Pendulum's rewards are <= 0
    assert r.returncode == 0, r.stderr
    assert "stopping" not in r.stdout and load_checkpoint(tmp_path / "never")["timesteps"] == 512
    r = cli(*base, "--run_name", "x", "--stop_reward_per_step", "1", "--eval_freq", "0")
    assert r.returncode == 2 and "--stop_reward_per_step needs evaluations" in r.stderr


def test_train_starts_from_the_tuned_preset_of_its_env_and_says_which(cli, tmp_path):
    """As rl-baselines3-zoo: `train --env_id Pendulum-v1` takes configs/pendulum.txt (gamma 0.9, 8 envs); flags
    still override it; --preset none keeps the defaults; an id without a preset gets the defaults silently."""
    _, opts = parse(["train", "--env_id", "Pendulum-v1", "--num_envs", "3"])
    assert opts["preset"] == "configs/pendulum.txt" and opts["gamma"] == 0.9 and opts["num_envs"] == 3
    _, opts = parse(["train", "--env_id", "Pendulum-v1", "--algo", "ppo"])
    assert opts["preset"] == "configs/pendulum_ppo.txt"
    _, opts = parse(["train", "--env_id", "DeepMimicWalk-v0"])
    assert opts["preset"] == "configs/deepmimic.txt" and opts["pose_termination"] == 0.5
    _, opts = parse(["train", "--env_id", "Hopper-v5"])  # one file for the zoo's four MuJoCo tasks
    assert opts["preset"] == "configs/mujoco.txt" and opts["env_id"] == "Hopper-v5"
    assert opts["normalize_reward"] is True and opts["cg_iters"] == 25 and opts["num_envs"] * opts["steps_per_env"] == 1024
    _, opts = parse(["train", "--env_id", "Ant-v5", "--algo", "ppo"])
    assert "preset" not in opts
    for argv in (["--preset", "none"], ["--env_id", "HalfCheetah-v5"], ["--resume", "somewhere"]):
        _, opts = parse(["train", "--env_id", "Pendulum-v1", *argv] if argv[0] != "--env_id" else ["train", *argv])
        assert "preset" not in opts and "gamma" not in opts, argv
    r = cli("train", "--num_timesteps", "64", "--num_envs", "1", "--steps_per_env", "64", "--eval_episodes", "0",
            "--checkpoint_dir", str(tmp_path), "--run_name", "p", "--no-progress",
            "--preset", str(ROOT / "configs" / "pendulum.txt"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("preset: configs/pendulum.txt (--preset none for the raw defaults)")
    assert load_checkpoint(tmp_path / "p")["config"]["gamma"] == 0.9  # pendulum.txt's, not the default 0.99
    r = cli("train", "--preset", str(tmp_path / "nope.txt"))
    assert r.returncode == 2 and "cannot read argument file" in r.stderr


def test_module_task_form_and_resume(cli, tmp_path):
    r = cli("--task", "train", "--env_id", "CartPole-v1", "--num_timesteps", "128", "--save_per_iter", "1",
            "--checkpoint_dir", str(tmp_path), "--run_name", "cp", *FAST)
    assert r.returncode == 0, r.stderr
    before = load_checkpoint(tmp_path / "cp")
    assert before["train_seconds"] > 0
    torch.save({**before, "train_seconds": 1000.0}, tmp_path / "cp" / "latest.pt")  # as if it had trained long
    r = cli("train", "--resume", str(tmp_path / "cp"), "--num_timesteps", "384", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert f"resumed from {tmp_path / 'cp' / 'latest.pt'}: iteration 1, 128 samples, continuing to 384" in r.stdout
    after = load_checkpoint(tmp_path / "cp")
    assert after["iteration"] == 3 and after["timesteps"] == 384
    # the training wall time goes on from the stopped run's, not from zero
    assert 1000.0 < after["train_seconds"] < 1000.0 + 600
    assert after["obs_normalizer"]["count"].item() == before["obs_normalizer"]["count"].item() + 256
    assert after["config"]["env_id"] == "CartPole-v1" and after["config"]["num_envs"] == 2


@pytest.mark.parametrize("args,needle", [
    (["train", "--env_id", "NoSuchEnv-v0"], "unknown environment id 'NoSuchEnv-v0'"),
    (["train", "--num_timesteps", "0"], "--num_timesteps must be positive"),
    (["train", "--max_kl", "-0.1"], "--max_kl must be positive"),
    (["train", "--no_such_flag"], "unrecognized arguments: --no_such_flag"),
    (["evaluate", "--load_model_path", "/nonexistent/x.pt"], "checkpoint not found"),
])
def test_cli_mistakes_exit_2_with_one_line(cli, args, needle):
    r = cli(*args)
    assert r.returncode == 2
    assert needle in r.stderr
    assert "Traceback" not in r.stderr


def test_arg_file_and_override(tmp_path):
    f = tmp_path / "args.txt"
    f.write_text("# DeepMimic-style\n--env_id CartPole-v1 --max_kl 0.02\n\n--num_envs 3  # three\n")
    cmd, opts = parse(["train", "--arg_file", str(f), "--max_kl", "0.05"])
    assert cmd == "train" and opts["env_id"] == "CartPole-v1" and opts["num_envs"] == 3 and opts["max_kl"] == 0.05


def test_arg_file_unknown_key_names_file_and_line(cli, tmp_path):
    f = tmp_path / "bad.txt"
    f.write_text("--env_id CartPole-v1\n--not_a_flag 3\n")
    r = cli("train", "--arg_file", str(f))
    assert r.returncode == 2 and f"{f}:2: unknown key --not_a_flag" in r.stderr


class Boom:
    def __reduce__(self):
        return (print, ("PWNED-by-checkpoint",))


def test_crafted_pickle_checkpoint_is_refused(tmp_path, capsys):
    p = tmp_path / "evil.pt"
    torch.save({"actor": Boom(), "config": {}}, p)
    with pytest.raises(CheckpointError, match="Nothing was executed"):
        load_checkpoint(p)
    assert "PWNED" not in capsys.readouterr().out


def test_truncated_and_foreign_checkpoints_are_named(cli, tmp_path):
    r = cli("train", "--env_id", "Pendulum-v1", "--num_timesteps", "128", "--checkpoint_dir", str(tmp_path),
            "--run_name", "p", *FAST)
    assert r.returncode == 0, r.stderr
    data = (tmp_path / "p" / "latest.pt").read_bytes()
    bad = tmp_path / "trunc.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="trunc.pt: not a readable checkpoint"):
        load_checkpoint(bad)
    text = tmp_path / "notes.pt"  # not a torch file at all: said so, not taken for a pickle holding code
    text.write_text("walk policy, see README\n")
    with pytest.raises(CheckpointError, match="notes.pt: not a checkpoint: neither the zip archive nor the pickle"):
        load_checkpoint(text)
    # weights of a Pendulum policy into a CartPole run: names the mismatched sizes
    r = cli("train", "--env_id", "CartPole-v1", "--num_timesteps", "128", "--checkpoint_dir", str(tmp_path),
            "--pretrained_weight_path", str(tmp_path / "p" / "latest.pt"), *FAST)
    assert r.returncode == 2
    assert "does not match this model's architecture" in r.stderr and "(64, 3) vs model (64, 4)" in r.stderr


def test_same_seed_same_parameters(cli, tmp_path):
    outs = []
    for name in ("a", "b"):
        r = cli("train", "--env_id", "Pendulum-v1", "--num_timesteps", "256", "--seed", "7",
                "--checkpoint_dir", str(tmp_path), "--run_name", name, *FAST)
        assert r.returncode == 0, r.stderr
        outs.append(load_checkpoint(tmp_path / name))
    for k in outs[0]["actor"]:
        assert torch.equal(outs[0]["actor"][k], outs[1]["actor"][k])
    for k in outs[0]["critic"]:
        assert torch.equal(outs[0]["critic"][k], outs[1]["critic"][k])


def test_ppo_from_cli_logs_its_diagnostics_and_resumes(cli, tmp_path):
    r = cli("train", "--algo", "ppo", "--env_id", "Pendulum-v1", "--num_timesteps", "256", "--checkpoint_dir",
            str(tmp_path), "--run_name", "ppo", "--eval_episodes", "0", *FAST)
    assert r.returncode == 0, r.stderr
    assert "clip " in r.stdout and "ev " in r.stdout
    import csv
    rows = list(csv.DictReader(open(tmp_path / "ppo" / "progress.csv")))
    for key in ("PPO/approx_kl", "PPO/clip_fraction", "PPO/explained_variance", "PPO/clip_loss", "PPO/grad_norm",
                "PPO/early_stopped"):
        assert rows[-1][key] != ""
    first = load_checkpoint(tmp_path / "ppo")
    assert any(k.startswith("log_std") for k in first["actor"]) and first["critic_optimizer"]["state"]
    r = cli("train", "--resume", str(tmp_path / "ppo"), "--num_timesteps", "384", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert load_checkpoint(tmp_path / "ppo")["config"]["algo"] == "ppo"


def test_export_and_convert_bvh_commands(cli, tmp_path):
    r = cli("train", "--env_id", "CartPole-v1", "--num_timesteps", "128", "--checkpoint_dir", str(tmp_path),
            "--run_name", "e", "--eval_episodes", "0", *FAST)
    assert r.returncode == 0, r.stderr
    r = cli("export", str(tmp_path / "e"), "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"agent0_model_anet.pth", "agent0_model_cnet.pth", "actor.pt", "actor.onnx"} <= names
    # without the export extra's packages: the rest is written, and one line names what is missing
    import subprocess
    import sys
    code = ("import sys; sys.modules['onnxscript'] = None; from trpo_mimic.cli import main; "
            f"sys.exit(main(['export', {str(tmp_path / 'e')!r}, '--out', {str(tmp_path / 'out2')!r}]))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert {p.name for p in (tmp_path / "out2").iterdir()} >= {"agent0_model_anet.pth", "actor.pt"}
    assert not (tmp_path / "out2" / "actor.onnx").exists()
    assert "note: ONNX not written: onnxscript missing (pip install 'trpo-mimic[export]')" in r.stdout
    bad = tmp_path / "bad.bvh"
    bad.write_text("HIERARCHY\nROOT Hips\nOFFSET 0 0 0\n")
    r = cli("convert-bvh", str(bad), "--out", str(tmp_path / "x.txt"))
    assert r.returncode == 2 and "bad.bvh:3" in r.stderr and "Traceback" not in r.stderr


def test_yaml_config_sets_fields_and_names_unknown_keys(cli, tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("env_id: CartPole-v1\nmax_kl: 0.02\npolicy_hidden_size: [32, 16]\nnormalize_obs: false\n"
                 "stochastic_policy: true\n")
    cmd, opts = parse(["train", "--config", str(f), "--max_kl", "0.03"])
    assert opts["env_id"] == "CartPole-v1" and opts["max_kl"] == 0.03 and opts["policy_hidden_size"] == [32, 16]
    assert opts["normalize_obs"] is False and opts["stochastic_policy"] is True
    bad = tmp_path / "bad.yaml"
    bad.write_text("env_id: CartPole-v1\n\nmax_kll: 0.1\n")
    r = cli("train", "--config", str(bad))
    assert r.returncode == 2 and f"{bad}:3: unknown key 'max_kll'" in r.stderr


def test_yaml_keys_nest_under_their_group(cli, tmp_path):
    f = tmp_path / "g.yaml"
    f.write_text("environment:\n  env_id: CartPole-v1\nalgorithm:\n  max_kl: 0.02\n  policy_hidden_size: [8]\n"
                 "seed: 4\n")
    cmd, opts = parse(["train", "--config", str(f)])
    assert opts["env_id"] == "CartPole-v1" and opts["max_kl"] == 0.02 and opts["policy_hidden_size"] == [8]
    assert opts["seed"] == 4
    bad = tmp_path / "wrong_group.yaml"
    bad.write_text("run:\n  seed: 1\n  max_kl: 0.02\n")
    r = cli("train", "--config", str(bad))
    assert r.returncode == 2 and f"{bad}:3: 'max_kl' is not in the run group" in r.stderr


def test_help_shows_the_groups_and_imports_neither_torch_nor_mujoco(cli):
    import os
    import subprocess
    import sys
    from conftest import ROOT
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "trpo_mimic", "train", "--help"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0
    for title in ("run:", "environment:", "algorithm:", "evaluation:"):
        assert f"\n{title}\n" in r.stdout, title
    assert "--backend {auto,torch,numpy}" in r.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in r.stderr.splitlines() if "|" in line}
    # gymnasium is imported: `import trpo_mimic` registers its environment ids, as Gymnasium packages do
    assert not imported & {"torch", "mujoco"}, imported & {"torch", "mujoco"}
    cmd, opts = parse(["train", "--backend", "torch"])
    assert opts["backend"] == "torch"


def test_training_resuming_and_evaluating_never_import_torchs_compiler(tmp_path):
    """torch.optim imports torch._dynamo (2.5-5 s) on an optimiser's first add_param_group unless
    algos.quick_optim has cached the undecorated methods: a TRPO run (numpy backend, whose critic fit does Adam's
    step itself) with an evaluation, and its resume, leave the compiler unimported, and the optimiser still
    works (its state is saved and reloaded). (torch's own Adam.step, PPO's, imports it regardless.)"""
    import subprocess
    import sys
    code = f"""
import sys
from trpo_mimic.cli import main
d = {str(tmp_path)!r}
common = ["--env_id", "Pendulum-v1", "--num_envs", "1", "--steps_per_env", "64", "--vf_epochs", "1",
          "--checkpoint_dir", d, "--no-progress", "--preset", "none"]
assert main(["train", *common, "--num_timesteps", "64", "--run_name", "t", "--eval_freq", "1",
             "--eval_episodes", "1", "--no-eval_video", "--max_episode_steps", "20"]) == 0
assert main(["train", "--resume", d + "/t", "--num_timesteps", "128", "--no-progress"]) == 0
print("compiler imported:", "torch._dynamo" in sys.modules)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       env={**__import__("os").environ, "MUJOCO_GL": "egl", "PYTHONPATH": str(ROOT / "src")})
    assert r.returncode == 0, r.stderr
    assert "compiler imported: False" in r.stdout
    ckpt = load_checkpoint(tmp_path / "t")
    assert ckpt["timesteps"] == 128 and ckpt["critic_optimizer"]["state"]


def test_reset_log_std_restarts_a_warm_starts_noise(tmp_path):
    """--reset_log_std: the warm start's weights, but the policy's log std at --init_log_std; refused without a warm
    start, and on a policy over discrete actions."""
    from trpo_mimic.config import Config
    from trpo_mimic.train import Trainer, train
    base = dict(env_id="Pendulum-v1", num_envs=2, steps_per_env=64, vf_epochs=1, num_timesteps=128,
                checkpoint_dir=str(tmp_path), progress=False, eval_freq=0, eval_video=False)
    train(Config(**base, run_name="p", init_log_std=0.3))
    warm = load_checkpoint(tmp_path / "p")["actor"]
    trainer = Trainer(Config(**base, run_name="q", pretrained_weight_path=str(tmp_path / "p"), reset_log_std=True,
                             init_log_std=-3.0))
    try:
        actor = trainer.agent.actor.state_dict()
        assert torch.all(actor["log_std"] == -3.0) and not torch.all(warm["log_std"] == -3.0)
        assert all(torch.equal(actor[k], warm[k]) for k in warm if k != "log_std")
    finally:
        trainer.close({})
    r = run_cli_here("train", "--env_id", "Pendulum-v1", "--reset_log_std", "--checkpoint_dir", str(tmp_path),
                     *FAST)
    assert r.returncode == 2 and r.stderr.strip().endswith("it needs --pretrained_weight_path"), r.stderr
    train(Config(**{**base, "env_id": "CartPole-v1"}, run_name="c"))
    with pytest.raises(ValueError, match="a policy over discrete actions has no standard deviation"):
        Trainer(Config(**{**base, "env_id": "CartPole-v1"}, run_name="d", pretrained_weight_path=str(tmp_path / "c"),
                       reset_log_std=True))
    assert not (tmp_path / "d").exists()


def test_a_warm_started_run_counts_the_samples_of_every_run_before_it(tmp_path):
    """--pretrained_weight_path records the source's run (samples, training seconds) after the source's own warm
    starts; a resume keeps the chain, a policy file carries it, and the totals add them all."""
    from trpo_mimic.checkpoint import WARM_STARTS, samples_in_all, write_policy_file
    from trpo_mimic.config import Config
    from trpo_mimic.train import train
    base = dict(env_id="Pendulum-v1", num_envs=2, steps_per_env=64, vf_epochs=1, checkpoint_dir=str(tmp_path),
                progress=False, eval_freq=0, eval_video=False)
    train(Config(**base, run_name="a", num_timesteps=256))
    a = load_checkpoint(tmp_path / "a")
    assert WARM_STARTS not in a and samples_in_all(a) == (256, a["train_seconds"])
    write_policy_file(tmp_path / "a" / "latest.pt", tmp_path / "a.pt")
    train(Config(**base, run_name="b", num_timesteps=128, pretrained_weight_path=str(tmp_path / "a.pt")))
    train(Config(**base, run_name="b", num_timesteps=256, resume=str(tmp_path / "b")))  # resumed: chain kept
    b = load_checkpoint(tmp_path / "b")
    assert b["timesteps"] == 256
    assert b[WARM_STARTS] == [{"from": str(tmp_path / "a.pt"), "samples": 256, "train_seconds": a["train_seconds"]}]
    write_policy_file(tmp_path / "b" / "latest.pt", tmp_path / "b.pt")
    train(Config(**base, run_name="c", num_timesteps=128, pretrained_weight_path=str(tmp_path / "b.pt")))
    c = load_checkpoint(tmp_path / "c")
    assert [w["from"] for w in c[WARM_STARTS]] == [str(tmp_path / "a.pt"), str(tmp_path / "b.pt")]
    assert [w["samples"] for w in c[WARM_STARTS]] == [256, 256]
    samples, seconds = samples_in_all(c)
    assert samples == 128 + 256 + 256
    assert seconds == pytest.approx(c["train_seconds"] + b["train_seconds"] + a["train_seconds"])
