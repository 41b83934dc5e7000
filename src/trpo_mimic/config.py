"""Run configuration: one dataclass whose documented fields are the command-line flags.

The fields are declared in groups (run, environment, algorithm, evaluation: `GROUPS`, the group in each
field's metadata); the CLI shows one argparse group each, YAML files may nest keys under a group's name,
and the dataclass stays flat (`cfg.max_kl`), so saved configs and checkpoints read as before."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, make_dataclass
from functools import partial
from typing import Any

GROUPS = {
    "run": "what is trained for how long, where it is written, on which device and backend",
    "environment": "the environments and the options of their tasks (DeepMimic: the clips and the episode rules)",
    "algorithm": "TRPO (default) or PPO (--algo ppo; the PPO-only flags say so), and the networks",
    "evaluation": "evaluation during training, and the `evaluate` command",
}


from .options import FINITE, NON_NEGATIVE, POSITIVE, UNIT, Range  # noqa: F401 (the ranges fields declare)


def _f(default: Any, help: str, group: str, **kw: Any) -> Any:
    meta = {"help": help, "group": group, **kw}
    if isinstance(default, list):
        return field(default_factory=lambda d=default: list(d), metadata=meta)
    return field(default=default, metadata=meta)


_run, _env, _algo, _eval = (partial(_f, group=g) for g in GROUPS)


@dataclass
class EngineConfig:
    """The engine's settings of a training or evaluation run (:data:`Config` adds the tasks' options)."""

    # ---- run ----
    seed: int = _run(0, "Random seed for torch, numpy, python and the environments.", range=Range(0, 2**32 - 1))
    num_timesteps: int = _run(1_000_000, "Total environment steps to train for.", range=POSITIVE)
    checkpoint_dir: str = _run("runs", "Parent directory of run directories (logs and checkpoints).")
    run_name: str | None = _run(None, "Run directory name (default <env>-<algo>-<seed>-<timestamp>).")
    save_per_iter: int = _run(10, "Write iter_<N>.pt and latest.pt every this many iterations.", range=POSITIVE)
    keep_checkpoints: int = _run(5, "Keep the last K iter_<N>.pt files (0 keeps all); latest.pt is always kept.",
                                 range=NON_NEGATIVE)
    pretrained_weight_path: str | None = _run(None, (
        "Checkpoint whose weights initialise the networks. When its observation differs from this run's, the parts "
        "both environments name alike carry over (e.g. a DeepMimic heading policy's character state into a strike "
        "run; the new goal starts at zero weight)."))
    resume: str | None = _run(None, "Continue a run: a checkpoint file or run directory.")
    overwrite: bool = _run(False, "Start afresh in a run directory that holds a run (--run_name): its checkpoints, "
                           "logs, config, videos and learning curve are removed first, so two runs never mix. "
                           "Without it (or --resume, to continue it) such a run name is refused.")
    device: str = _run("auto", "Device for networks and updates.", choices=["auto", "cpu", "cuda"])
    cpu: bool = _run(False, "Force the CPU (same as --device cpu).")
    backend: str = _run("auto", "How the rollout's inference and the critic fit run: numpy (tanh-MLP networks on the "
                        "CPU: the fast path), torch (the modules; any network, any device) or auto (numpy where it "
                        "applies). Chosen once per run and printed at its start.", choices=["auto", "torch", "numpy"])
    torch_threads: int = _run(1, "torch intra-op threads and numpy BLAS threads per process.", range=POSITIVE)
    dist_timeout: float = _run(300.0, "Under torchrun: seconds a rank waits for the others in a collective (and to "
                               "join them) before it gives up; a rank that died or hangs then ends the run with one "
                               "line instead of a hang, and --resume continues from the last checkpoint.",
                               range=POSITIVE)
    progress: bool = _run(True, "Show a progress bar.")
    wandb: bool = _run(False, "Also log to Weights & Biases (offline unless WANDB_MODE says otherwise).")
    wandb_project: str = _run("trpo-mimic", "Weights & Biases project name.")

    # ---- environment ----
    env_id: str = _env("Pendulum-v1", "Gymnasium environment id (any id with Box or Discrete actions).")
    num_envs: int = _env(8, "Number of vectorised environments.", range=POSITIVE)
    vec_env: str = _env("auto", "Vector environment: sync, async (a process per env), native (batched "
                        "physics in threads: DeepMimic and Gymnasium's MuJoCo v5 ids: Hopper, Walker2d, HalfCheetah, "
                        "Swimmer, Ant, Humanoid, HumanoidStandup, InvertedPendulum, InvertedDoublePendulum, Reacher, "
                        "Pusher-v5) or auto (native for those, async for Atari, sync otherwise).", choices=["auto", "sync", "async", "native"])
    env_threads: int | None = _env(None, "Threads stepping a native vector env (default: all cores).", range=POSITIVE)
    steps_per_env: int = _env(256, "Rollout length per environment per iteration (batch = num_envs * steps_per_env).",
                              range=POSITIVE)
    max_episode_steps: int | None = _env(None, "Override the environment's time limit (a truncation).", range=POSITIVE)
    nonfinite: str = _env("raise", "On a NaN/inf observation or reward: raise an error naming the env and step, "
                          "or terminate that episode and count it.", choices=["raise", "terminate"])

    # ---- algorithm ----
    algo: str = _algo("trpo", "Algorithm: trpo, or ppo on the same rollouts, policies and checkpoints.",
                      choices=["trpo", "ppo"])
    policy_hidden_size: list = _algo([64, 64], "Hidden layer sizes of the policy; one number means two layers.",
                                     nargs="+", type=int, range=POSITIVE)
    value_hidden_size: list | None = _algo(None, "Hidden sizes of the critic (default: as the policy).",
                                           nargs="+", type=int, range=POSITIVE)
    init_log_std: float = _algo(0.0, "Initial log standard deviation of the Gaussian policy.", range=FINITE)
    reset_log_std: bool = _algo(False, "With --pretrained_weight_path: the policy's log standard deviation starts "
                                "again at --init_log_std instead of the warm start's (e.g. a smaller exploration "
                                "noise for fine-tuning).")
    use_sde: bool = _algo(False, "Generalised state-dependent exploration (gSDE, as Stable-Baselines3's use_sde): the "
                          "noise is the last hidden layer's output times a random matrix held for several steps.")
    sde_sample_freq: int = _algo(-1, "With --use_sde: draw new exploration matrices every this many steps (-1: once "
                                 "per rollout).", range=Range(-1))
    normalize_obs: bool = _algo(True, "Normalise observations by running statistics (not for images).")
    normalize_reward: bool = _algo(False, "Divide rewards by the running standard deviation of the discounted "
                                   "return, clipped to +-10 (as VecNormalize(norm_reward=True)); the critic learns "
                                   "in those units, logged returns stay in the env's.")
    # TRPO
    max_kl: float = _algo(0.01, "Trust-region bound on the mean KL(old || new).", range=POSITIVE)
    policy_entcoeff: float = _algo(0.0, "Entropy bonus coefficient in the surrogate objective (0.01 for Atari ids).",
                                   range=FINITE)
    gamma: float = _algo(0.99, "Discount factor.", range=UNIT)
    lam: float = _algo(0.95, "GAE lambda.", range=UNIT)
    kl_per_action_dim: bool = _algo(False, "Hold --max_kl and --cg_damping per action dimension, as sb3-contrib's TRPO "
                                    "does (its KL is the mean over the action's dimensions, not their sum): the "
                                    "step's summed KL bound and damping are both scaled by the action's size.")
    cg_iters: int = _algo(10, "Conjugate-gradient iterations.", range=POSITIVE)
    cg_damping: float = _algo(0.1, "Damping added to the Fisher-vector product.", range=NON_NEGATIVE)
    fvp_subsample: float = _algo(1.0, "Fraction of the batch used for Fisher-vector products in CG (as the original "
                                 "TRPO's subsampling; the gradient and line search use the whole batch).",
                                 range=Range(0, 1, low_open=True))
    grad_chunk: int = _algo(0, "Accumulate the policy gradient over chunks of this many samples to save memory "
                            "(0: the whole batch; image policies use 1024).", range=NON_NEGATIVE)
    ls_max_steps: int = _algo(10, "Maximum backtracking line-search steps.", range=POSITIVE)
    ls_backtrack: float = _algo(0.5, "Step shrink factor of the line search.",
                                range=Range(0, 1, low_open=True, high_open=True))
    ls_kl_tolerance: float = _algo(1.0, "The line search accepts a step whose measured KL is at most this many times "
                                   "--max_kl (1: strictly within, as Spinning Up and garage; OpenAI Baselines and "
                                   "modular_rl accept up to 1.5). The full step is sized so that the KL's quadratic "
                                   "model equals --max_kl, and the measured KL often comes out a few percent over it: "
                                   "strictly, that step is halved and the KL quartered.", range=Range(1))
    vf_lr: float = _algo(1e-3, "Critic Adam learning rate.", range=POSITIVE)
    vf_epochs: int = _algo(10, "Critic epochs per iteration.", range=NON_NEGATIVE)
    vf_batch_size: int = _algo(128, "Critic minibatch size.", range=POSITIVE)
    critic_thread: bool = _algo(True, "TRPO on the CPU with a tanh-MLP critic: fit the critic in a second thread "
                                "while the policy step runs (they share no state, both release the GIL in their "
                                "matrix maths; across ranks the critic's all-reduces use their own gloo group). "
                                "Off: one after the other.")
    # PPO (--algo ppo)
    lr: float = _algo(3e-4, "PPO: Adam learning rate of actor and critic together.", range=POSITIVE)
    clip_range: float = _algo(0.2, "PPO: clipping of the probability ratio.", range=POSITIVE)
    clip_range_vf: float | None = _algo(None, "PPO: clipping of the value change (off by default).", range=NON_NEGATIVE)
    ppo_epochs: int = _algo(10, "PPO: epochs over the batch per iteration.", range=POSITIVE)
    minibatch_size: int = _algo(64, "PPO: minibatch size.", range=POSITIVE)
    target_kl: float | None = _algo(0.015, "PPO: stop the epochs early once the approximate KL exceeds this.",
                                    range=POSITIVE)
    vf_coef: float = _algo(0.5, "PPO: weight of the value loss.", range=NON_NEGATIVE)
    max_grad_norm: float = _algo(0.5, "PPO: gradient-norm clipping over actor and critic.", range=POSITIVE)

    # ---- evaluation ----
    eval_freq: int = _eval(50, "Evaluate (deterministic) every this many iterations during training; 0 turns it off.",
                           range=NON_NEGATIVE)
    eval_episodes: int = _eval(5, "Episodes of each evaluation during training (and at its end); 0 turns them off.",
                               range=NON_NEGATIVE)
    stop_reward_per_step: float | None = _eval(None, "Stop training once an evaluation during training reaches this "
                                               "mean reward per step with no episode ended early (a skill learned: "
                                               "e.g. a DeepMimic skill's bar), confirmed by --num_eval_episodes "
                                               "fresh episodes; None: train to --num_timesteps.", range=FINITE)
    eval_video: bool = _eval(True, "Record a video of the first episode of each evaluation during training.")
    eval_video_size: list = _eval([320, 240], "Width and height of the videos of evaluations during training (a "
                                  "preview, drawn without shadows and reflections at up to 15 frames per second; "
                                  "`evaluate --record_video` draws the whole episode at the environment's own size "
                                  "and quality).", nargs=2, type=int, range=POSITIVE)
    eval_video_budget: float = _eval(0.03, "At most about this fraction of the run's wall time goes to the preview "
                                     "videos of evaluations during training: an evaluation's video is skipped while "
                                     "the videos so far took more (the evaluation itself still runs); the final "
                                     "evaluation's is always drawn. 1: a video at every evaluation.", range=UNIT)
    eval_video_seconds: float = _eval(5.0, "Seconds of the first episode that the videos of evaluations during "
                                      "training show, at most.", range=POSITIVE)
    load_model_path: str | None = _eval(None, "Checkpoint file or run directory to evaluate.")
    num_eval_episodes: int = _eval(10, "Episodes to run in evaluation.", range=POSITIVE)
    stochastic_policy: bool = _eval(False, "Sample actions in evaluation instead of taking the mean.")
    save_sample: bool = _eval(False, "Write evaluation trajectories to an .npz file.")
    record_video: bool = _eval(False, "Write a video of the first evaluation episode to --video_dir.")
    video_format: str = _eval("mp4", "Video container (gif: a small looping preview at a third of the frame rate).",
                              choices=["mp4", "avi", "gif"])
    video_dir: str = _eval("render", "Directory for evaluation videos.")
    render: bool = _eval(False, "Show the evaluation live in a viewer window (needs a display).")

    @staticmethod
    def group_fields(group: str) -> list[str]:
        """Names of the fields declared in one of `GROUPS`."""
        return [f.name for f in fields(Config) if f.metadata["group"] == group]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Any:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def resolved_device(self) -> str:
        import torch
        if self.cpu or self.device == "cpu":
            return "cpu"
        if self.device == "cuda":
            if not torch.cuda.is_available():
                raise ValueError("--device cuda was asked for, but torch sees no CUDA device")
            return "cuda"
        return "cuda" if torch.cuda.is_available() else "cpu"


def _with_task_options(base: type) -> type:
    """The configuration: the engine's fields and, after them, every registered task's options
    (:func:`.tasks.task_options`, each declared once as an :class:`.options.Option`)."""
    from .tasks import task_options
    extra = []
    for o in task_options():
        d = o.config_default
        default = field(default_factory=lambda d=d: list(d), metadata=o.metadata()) if isinstance(d, list) else \
            field(default=d, metadata=o.metadata())
        extra.append((o.name, o.annotation, default))
    cls = make_dataclass("Config", extra, bases=(base,))
    cls.__module__ = __name__
    cls.__doc__ = "Every setting of a training or evaluation run. Field names are the CLI flag names."
    return cls


Config = _with_task_options(EngineConfig)
