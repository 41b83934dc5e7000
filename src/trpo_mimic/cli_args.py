"""The run configuration on the command line: one flag per :class:`.config.Config` field, argument files
(DeepMimic style: one or more flags per line, ``#`` comments) and YAML files read into the same flags, presets,
and the checks every value passes (:func:`validate`). Light: imports neither torch nor MuJoCo."""
from __future__ import annotations

import argparse
import functools
import shlex
import typing
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from .config import GROUPS, Config


class UsageError(Exception):
    """A mistake on the command line or in an argument file (exit code 2)."""


@functools.cache
def _hints() -> dict[str, Any]:
    """Config's resolved annotations (resolving them is slow: once per process, not per flag)."""
    return typing.get_type_hints(Config)


def _field_type(f: Any) -> Any:
    t = _hints()[f.name]
    args = [a for a in typing.get_args(t) if a is not type(None)]
    return args[0] if args else t


def _optional(f: Any) -> bool:
    return type(None) in typing.get_args(_hints()[f.name])


def _or_none(t: type) -> Any:
    """A number or `none` (the field's unset value: e.g. a resumed run's saved `--stop_reward_per_step` cleared)."""
    def convert(s: str) -> Any:
        return None if s.lower() == "none" else t(s)
    convert.__name__ = t.__name__  # argparse names the type in its error: "invalid float value: 'x'"
    return convert


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per Config field, in one argument group per config group; defaults are suppressed so only
    flags actually given are seen."""
    groups = {name: parser.add_argument_group(name, description) for name, description in GROUPS.items()}
    for f in fields(Config):
        meta = dict(f.metadata)
        help_text = meta.pop("help", "")
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        rng = meta.pop("range", None)
        must = meta.pop("must", rng)
        help_text = f"{help_text} (default: {default}{'' if rng is None else f'; must be {must}'})"
        t = _field_type(f)
        kw: dict[str, Any] = {"default": argparse.SUPPRESS, "help": help_text}
        if t is bool:
            if default or default is None:  # --x / --no-x (None: not given, the environment's default)
                kw["action"] = argparse.BooleanOptionalAction
            else:
                kw["action"] = "store_true"
        elif "nargs" in meta:
            kw.update(nargs=meta["nargs"], type=meta.get("type", str))
        else:
            kw["type"] = t if t in (int, float, str) else str
            if t in (int, float) and _optional(f):
                kw["type"] = _or_none(t)
                kw["help"] = help_text.replace(" (default:", "; none: unset (default:", 1)
            if "choices" in meta:
                kw["choices"] = meta["choices"]
        if f.name == "resume":
            kw.update(nargs="?", const="latest",
                      help="Continue a run: a checkpoint file or run directory; alone, the latest run of --env_id.")
        groups[f.metadata["group"]].add_argument(f"--{f.name}", **kw)


CONTROL = {c: f"\\x{c:02x}" for c in [*range(32), 127]}
"""Control characters (a newline, a carriage return in a value or a path) shown escaped: an error is one line."""

class OneLineParser(argparse.ArgumentParser):
    """argparse with its errors in one line (not the whole usage block first), exit code 2; its sub-command
    parsers are of this class too."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message.translate(CONTROL)} (see {self.prog} --help)\n")

MAX_TEXT_BYTES = 1 << 20
"""An argument or config file larger than this is not one (a clip, a checkpoint or a video named by mistake)."""


def read_text_file(path: str, what: str) -> str:
    """The text of an argument or config file: UTF-8, no NUL bytes, at most MAX_TEXT_BYTES; else one line that
    names it (a UsageError)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_TEXT_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except ValueError as exc:  # an embedded NUL in the path
        raise UsageError(f"cannot read {what} {path!r}: {exc}") from None
    if len(data) > MAX_TEXT_BYTES:
        raise UsageError(f"{what} {path} is larger than {MAX_TEXT_BYTES >> 20} MiB: not a text of flags")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not a text {what}: byte {exc.start} ({data[exc.start]:#04x}) is not UTF-8 "
                         f"text") from None
    if "\0" in text:
        line = text.count("\n", 0, text.index("\0")) + 1
        raise UsageError(f"{path}:{line}: not a text {what}: a NUL byte")
    return text


def read_arg_file(path: str, parser: argparse.ArgumentParser) -> list[str]:
    """Flags from an argument file, validated line by line against the known flags."""
    text = read_text_file(path, "argument file")
    known = {s for a in parser._actions for s in a.option_strings}
    tokens: list[str] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"{path}:{lineno}: {exc}") from None
        for w in words:
            if w.startswith("--"):
                key = w.split("=", 1)[0]
                if key not in known or key in ("--arg_file", "--config"):
                    raise UsageError(f"{path}:{lineno}: unknown key {key}")
        tokens += words
    return tokens


def read_yaml_config(path: str, parser: argparse.ArgumentParser) -> list[str]:
    """A YAML mapping of Config fields -> the equivalent flags; an unknown key names file and line.

    Keys may also be nested under a group's name (`algorithm: {max_kl: 0.02}`), then they must belong to it."""
    import yaml
    text = read_text_file(path, "config file")
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UsageError(f"{path}{where}: not valid YAML ({problem})") from None
    if root is None:
        return []
    if not isinstance(root, yaml.MappingNode):
        raise UsageError(f"{path}:{root.start_mark.line + 1}: expected a mapping of flag names to values")
    actions = {a.dest: a for a in parser._actions}
    tokens: list[str] = []
    pairs = [(k, v, None) for k, v in root.value]
    while pairs:
        key_node, value_node, group = pairs.pop(0)
        key, line = str(key_node.value), key_node.start_mark.line + 1
        if group is None and key in GROUPS and isinstance(value_node, yaml.MappingNode):
            pairs = [(k, v, key) for k, v in value_node.value] + pairs
            continue
        action = actions.get(key)
        if action is None or key in ("arg_file", "config", "help"):
            raise UsageError(f"{path}:{line}: unknown key {key!r}")
        if group is not None and key not in Config.group_fields(group):
            raise UsageError(f"{path}:{line}: {key!r} is not in the {group} group")
        try:
            value = yaml.SafeLoader("").construct_document(value_node)
        except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:  # e.g. a date that is none
            raise UsageError(f"{path}:{line}: {key}: not a value ({str(exc).strip().splitlines()[0]})") from None
        flag = f"--{key}"
        if isinstance(action, argparse.BooleanOptionalAction) or action.nargs == 0:
            if not isinstance(value, bool):
                raise UsageError(f"{path}:{line}: {key} must be true or false, got {value!r}")
            if isinstance(action, argparse.BooleanOptionalAction):
                tokens.append(flag if value else f"--no-{key}")
            elif value:
                tokens.append(flag)
        elif value is None:
            continue
        elif isinstance(value, list):
            tokens += [flag, *map(str, value)]
        else:
            tokens += [flag, str(value)]
    return tokens

def skill_files(name: str) -> list[Path]:
    """``--skill NAME``: the DeepMimic preset and ``configs/skills/NAME.txt``, both inside the package."""
    from .presets import DEEPMIMIC_PRESET, PRESET_DIR
    skills = sorted(p.stem for p in (PRESET_DIR / "skills").glob("*.txt"))
    if name not in skills:
        raise UsageError(f"--skill {name!r}: no such skill (skills: {', '.join(skills)})")
    return [PRESET_DIR / DEEPMIMIC_PRESET, PRESET_DIR / "skills" / f"{name}.txt"]


def shipped_policy(name: str, flag: str = "") -> Path:
    """The file of the shipped policy ``name``; an unknown name is a UsageError listing the shipped ones."""
    from .data import known, shipped
    path = shipped(name)
    if path is None:
        raise UsageError(f"{flag}{name!r}: no such policy ({known()})")
    return path


def pretrained_policy(name: str, load_model_path: str | None) -> str:
    """``evaluate --pretrained NAME``: the shipped policy's file."""
    if load_model_path is not None:
        raise UsageError("give --pretrained NAME or --load_model_path PATH, not both")
    return str(shipped_policy(name, "--pretrained "))


def choose_preset(cli_tokens: list[str], has_files: bool, sub: argparse.ArgumentParser) -> tuple[str | None, list[str]]:
    """(the preset used or None, its flags): ``--preset`` as given, else the tuned arg file for ``--env_id`` and
    ``--algo`` when the command line names no file of its own and resumes nothing (:mod:`.presets`)."""
    from .presets import preset_for, shown

    def value(flag: str) -> str | None:
        for i, tok in enumerate(cli_tokens):
            if tok == flag and i + 1 < len(cli_tokens):
                return cli_tokens[i + 1]
            if tok.startswith(flag + "="):
                return tok.split("=", 1)[1]
        return None

    given = value("--preset")
    if given == "none":
        return None, []
    if given is not None:
        return shown(Path(given)), read_arg_file(given, sub)
    if has_files or "--resume" in cli_tokens or any(t.startswith("--resume=") for t in cli_tokens):
        return None, []
    path = preset_for(value("--env_id") or Config.env_id, value("--algo") or Config.algo)
    if path is None:
        return None, []
    return shown(path), read_arg_file(str(path), sub)


def validate(cfg: Config) -> None:
    if cfg.num_timesteps <= 0:
        raise UsageError(f"--num_timesteps must be positive, got {cfg.num_timesteps}")
    if not cfg.max_kl > 0:
        raise UsageError(f"--max_kl must be positive, got {cfg.max_kl}")
    for name in ("num_envs", "steps_per_env", "save_per_iter", "cg_iters", "vf_batch_size", "num_eval_episodes",
                 "dist_timeout"):
        if getattr(cfg, name) <= 0:
            raise UsageError(f"--{name} must be positive, got {getattr(cfg, name)}")
    if cfg.stop_reward_per_step is not None and not (cfg.eval_freq > 0 and cfg.eval_episodes > 0):
        raise UsageError("--stop_reward_per_step needs evaluations during training (--eval_freq and --eval_episodes > 0)")
    if not 0 <= cfg.eval_video_budget <= 1:
        raise UsageError(f"--eval_video_budget must be a fraction of the run's wall time in [0, 1], "
                         f"got {cfg.eval_video_budget}")
    if cfg.reset_log_std and not cfg.pretrained_weight_path and not cfg.resume:
        raise UsageError("--reset_log_std restarts a warm start's exploration noise: it needs --pretrained_weight_path")
    if cfg.max_episode_steps is not None and cfg.max_episode_steps <= 0:
        raise UsageError(f"--max_episode_steps must be positive, got {cfg.max_episode_steps}")
    for f in fields(Config):  # the range each numeric option declares (config.Range)
        rng, value = f.metadata.get("range"), getattr(cfg, f.name)
        if rng is not None and value is not None and not all(v in rng for v in (
                value if isinstance(value, list) else [value])):
            raise UsageError(f"--{f.name} must be {f.metadata.get('must', rng)}, got {value}")
    if not cfg.resume:
        from .guards import check_run_name
        check_run_name(cfg.run_name)


def make_train_config(opts: dict[str, Any]) -> Config:
    """Defaults <- saved config (when resuming) <- explicit flags."""
    if opts.get("resume") and opts.get("overwrite"):
        raise UsageError("--resume continues a run and --overwrite replaces it: give one of them")
    base: dict[str, Any] = {}
    if opts.get("resume"):
        from .checkpoint import find_resume, load_checkpoint
        probe = Config(**{k: v for k, v in opts.items() if k in ("resume", "env_id", "checkpoint_dir", "algo")})
        base = load_checkpoint(find_resume(probe))["config"]
        base = {k: v for k, v in base.items() if k not in ("resume", "overwrite", "pretrained_weight_path")}
    from .envs import ATARI_DEFAULTS, is_atari
    if not base and is_atari(opts.get("env_id", Config.env_id)):
        opts = {**ATARI_DEFAULTS, **opts}  # e.g. policy_entcoeff 0.01 unless given
    cfg = Config.from_dict({**base, **opts})
    validate(cfg)
    return cfg
