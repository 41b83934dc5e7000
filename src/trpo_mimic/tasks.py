"""The one interface through which a task family plugs into the engine: a :class:`Task` (its options, its
environments, its evaluation extras, its checkpoint upgrades, its metric names, its sub-commands).

The engine (training, evaluation, checkpoints, the CLI) asks :func:`task_for` about an environment id and never
names a task: a plain Gymnasium id gets the base :class:`Task`, which adds nothing. A task family registers one
subclass (:func:`register_task`) where the package is put together (``trpo_mimic/__init__.py``); its options
become configuration fields, flags and YAML keys (:mod:`.config`) because they are declared on it. This module
imports nothing of the package but :mod:`.options`, so declaring a task stays light (no torch, no MuJoCo)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from .options import EVAL, TRAIN, Option, env_kwargs, given

if TYPE_CHECKING:  # pragma: no cover
    import argparse


class Command:
    """A sub-command of ``trpo-mimic``: ``add_arguments`` fills its parser, ``run`` does it (the options as a
    dict); ``errors`` are exception types ``run`` raises for bad input (one line, exit code 2); ``output``
    names the option holding the one file it writes, if any (removed when a full disk cuts it short)."""

    name: str = ""
    help: str = ""
    description: str | None = None
    output: str | None = None

    def add_arguments(self, parser: "argparse.ArgumentParser") -> None:
        pass

    def errors(self) -> tuple[type[BaseException], ...]:
        return ()

    def run(self, opts: dict[str, Any]) -> None:
        raise NotImplementedError


class TrainingExtension:
    """What a task (or a learning method beside the algorithm: a discriminator's reward, as adversarial motion
    priors) adds to each training iteration; every method may be left as it is. The collector keeps the per-step
    info arrays named by :attr:`info_keys` in the rollout (``rollout.extras[key]``, (steps, envs, ...): an ended
    episode's last step, not the next one's reset); the trainer calls :meth:`rewards` on each rollout before
    advantages (to replace or mix the environment's reward), :meth:`update` after the algorithm's update (its own
    optimisation; scalars to log), and saves :meth:`state_dict` in every checkpoint under :attr:`key` (restored
    by :meth:`load_state_dict` on a resume); its :meth:`weights` go into policy files and warm starts."""

    key: str = ""
    info_keys: tuple[str, ...] = ()
    """The env's per-step info keys it needs whole (e.g. the transition observations a discriminator scores)."""

    def rewards(self, rollout: Any, rewards: Any) -> Any:
        """The rewards (steps, envs) the advantages are computed from, given the rollout's."""
        return rewards

    def update(self, rollout: Any, batch: Any) -> dict[str, float]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def weights(self) -> dict[str, Any]:
        """What a weights-only policy file keeps of it (``export --pretrained``): the trained networks a new run
        warm-starts from (``--pretrained_weight_path``, :meth:`load_weights`), without optimiser state or buffers.
        Empty: nothing worth keeping."""
        return {}

    def load_weights(self, weights: dict[str, Any]) -> None:
        """Start from :meth:`weights` of another run (``--pretrained_weight_path``)."""

    def close(self) -> None:
        pass


class Task:
    """The base task: a Gymnasium id as Gymnasium makes it, nothing added. A task family overrides what it
    needs; every method has the plain answer here."""

    name = "Gymnasium"
    metric_prefix = "RewardTerms"
    """Per-step info terms (``reward_*``, ``error_*``) are logged under ``<metric_prefix>/<key>``."""
    per_step_curve = False
    """Learning curves show reward per step (a return normalised by episode length) instead of the return."""
    default_episode_steps: int | None = None
    has_vector_env = False
    """It has a natively batched vector env of its own (:meth:`vector_env`), which ``--vec_env auto`` picks."""
    options: tuple[Option, ...] = ()

    def owns(self, env_id: str) -> bool:
        return False

    # ---- environments
    def env_kwargs(self, cfg: Any, training: bool) -> dict[str, Any]:
        """The keyword arguments of its environments that ``cfg`` gives (training or evaluation mode)."""
        return env_kwargs(self.options, cfg)

    def vector_env(self, env_id: str, num_envs: int, max_episode_steps: int | None, nthread: int | None,
                   **kwargs: Any) -> Any:
        """Its own batched vector env for ``--vec_env native`` (where :attr:`has_vector_env`)."""
        raise NotImplementedError

    def input_files(self, cfg: Any) -> list[tuple[str, Any]]:
        """(flag, path) of the files a run reads (a new run in their directory must not remove them)."""
        return []

    # ---- configurations and checkpoints
    def run_config(self, cfg: Any) -> Any:
        """The configuration a new run records (e.g. a default whose change must not alter a saved run)."""
        return cfg

    def upgrade_config(self, saved: dict[str, Any]) -> dict[str, Any]:
        """A saved configuration as today's code must read it to rebuild the same run."""
        return saved

    def preset(self, env_id: str, algo: str) -> Path | None:
        """Its tuned arg file for ``env_id`` and ``algo`` (None: the generic lookup)."""
        return None

    def extensions(self, cfg: Any, envs: Any, agent: Any) -> list[TrainingExtension]:
        """What it adds to each training iteration (:class:`TrainingExtension`)."""
        return []

    def episodes_end_early(self, cfg: Any) -> bool:
        """Whether an episode can end before its time (a fall): if not, a goal reached needs every episode to
        succeed too."""
        return True

    # ---- evaluation
    def episode_limit(self, cfg: Any) -> int | None:
        """Steps an evaluation episode lasts at most."""
        return cfg.max_episode_steps

    def plays_one_env(self, cfg: Any, opts: dict[str, Any]) -> bool:
        """Whether an evaluation must play its episodes one after another on one env (wrappers of its own)."""
        return False

    def render_kwargs(self, cfg: Any) -> dict[str, Any]:
        """Keyword arguments of a rendering (video or live) environment."""
        return {}

    def wrap_eval_env(self, env: Any, cfg: Any, opts: dict[str, Any]) -> Any:
        """The one evaluation env, wrapped by the task's extras (``opts``: the evaluation's, e.g. ``push``)."""
        return env

    def tally_clips(self, env: Any) -> Sequence[Any]:
        """The clips (anything with a ``name``) whose statistics an evaluation keeps apart, by info["clip"]."""
        return ()

    def result_lines(self, result: Any) -> list[str] | None:
        """The task's lines of an evaluation's results block (None: the generic ones)."""
        return None

    def evaluate(self, agent: Any, cfg: Any, opts: dict[str, Any], path: Any) -> Any:
        """A whole evaluation of its own (e.g. a sweep) for these options, or None for the usual one."""
        return None

    def before_evaluation(self, ckpt: dict[str, Any], cfg: Any, opts: dict[str, Any]) -> list[str]:
        """Notes to print before an evaluation (e.g. a clip that is not the one the policy learned)."""
        return []

    def evaluation_header(self, opts: dict[str, Any]) -> list[str]:
        """Lines that say how the evaluation was played (e.g. its pushes), after the line naming the policy."""
        return []

    def live_viewer_extra(self, env: Any) -> Callable[[Any], None] | None:
        """What a live window (MuJoCo's viewer) draws of the task each frame, given the viewer's handle."""
        return None

    # ---- the command line
    def commands(self) -> list[Command]:
        return []


_TASKS: list[Task] = []
_PLAIN = Task()


def register_task(task: Task) -> None:
    """Add a task family (once; its options join the configuration when :mod:`.config` is first imported)."""
    if any(type(t) is type(task) for t in _TASKS):
        return
    clash = {o.name for o in task.options} & {o.name for t in _TASKS for o in t.options}
    if clash:
        raise ValueError(f"task {task.name}: option {sorted(clash)[0]!r} is declared by another task")
    _TASKS.append(task)


def tasks() -> list[Task]:
    return list(_TASKS)


def task_for(env_id: str) -> Task:
    """The task an environment id belongs to (the plain :class:`Task` for any other Gymnasium id)."""
    for t in _TASKS:
        if t.owns(env_id):
            return t
    return _PLAIN


def task_options() -> list[Option]:
    """Every registered task's options, in registration order."""
    return [o for t in _TASKS for o in t.options]


def foreign_options(env_id: str, cfg: Any, kinds: Sequence[str] = ("env", "arg", EVAL, TRAIN)) -> list[tuple[str, str]]:
    """(option, task name) of the options ``cfg`` gives that belong to a task other than ``env_id``'s."""
    own = task_for(env_id)
    return [(name, t.name) for t in _TASKS if t is not own
            for name in given([o for o in t.options if o.kind in kinds], cfg)]
