"""Command line: `trpo-mimic train|evaluate|play-motion|build-character|...`, also `python -m trpo_mimic --task train|evaluate`.

Flags are the fields of `Config`. `--arg_file FILE` reads flags from a file (DeepMimic style:
one or more per line, `#` comments); flags on the command line override the file.
"""
from __future__ import annotations

import argparse
import functools
import os
import shlex
import sys
import typing
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, Sequence

from .config import GROUPS, Config

COMMANDS = ("train", "evaluate", "play-motion", "plot", "convert-bvh", "export", "build-character", "pretrained",
            "view")


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
        help_text = f"{help_text} (default: {default}{'' if rng is None else f'; must be {rng}'})"
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


def error_line(message: object) -> None:
    """The one line of an error, on stderr: ``trpo-mimic: error: <message>``."""
    print(f"trpo-mimic: error: {str(message).translate(CONTROL)}", file=sys.stderr)


class OneLineParser(argparse.ArgumentParser):
    """argparse with its errors in one line (not the whole usage block first), exit code 2; its sub-command
    parsers are of this class too."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message.translate(CONTROL)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="trpo-mimic", description="Trust-region RL and DeepMimic motion imitation.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,evaluate,pretrained,view,play-motion,plot,convert-bvh,export,build-character}")
    for name, help_text in (("train", "train a policy"), ("evaluate", "evaluate a saved policy")):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--arg_file", help="read flags from this file (command-line flags override it)")
        p.add_argument("--config", help="read the same fields from a YAML mapping (command-line flags override it)")
        if name == "train":
            p.add_argument("--skill", metavar="SKILL", default=argparse.SUPPRESS,  # expanded by parse() into files
                           help="a DeepMimic skill by name: the DeepMimic preset and the skill's file (its clip and "
                                "episode rules), both inside the package, as two --arg_file; e.g. --skill backflip")
            p.add_argument("--preset", metavar="FILE|none",
                           help="the tuned arg file to start from; by default the one in configs/ made for --env_id "
                                "and --algo (if any, and unless --arg_file, --config or --resume is given); none: "
                                "the raw defaults")
        if name == "evaluate":
            p.add_argument("--pretrained", metavar="NAME", default=argparse.SUPPRESS,
                           help="a shipped policy by name (trpo-mimic pretrained lists them), instead of "
                                "--load_model_path")
        add_config_arguments(p)
    p = sub.add_parser("pretrained", help="list the shipped policies with their cards",
                       description="list the shipped policies with their cards (NAME: one card in full)")
    p.add_argument("name", nargs="?", default=None, help="a shipped policy: its card in full")
    p = sub.add_parser("play-motion", help="render a motion clip kinematically to a video")
    p.add_argument("clip", help="DeepMimic clip file (or builtin:NAME)")
    p.add_argument("--out", default="clip.mp4", help="output video (.mp4 or .avi)")
    p.add_argument("--cycles", type=int, default=1, help="loops of the clip to render")
    p.add_argument("--character_file", default=None,
                   help="the clip's DeepMimic character file (e.g. dog3d.txt); default: the humanoid")
    p.add_argument("--controller_file", default=None, help="its PD controller file (default: the one beside it)")
    p.add_argument("--fps", type=int, default=30)
    p = sub.add_parser("plot", help="learning curve PNG from run directories (several: mean and band)")
    p.add_argument("run_dirs", nargs="+", help="run directories (each with progress.csv)")
    p.add_argument("--out", default="learning_curve.png", help="output PNG")
    p.add_argument("--title", default=None)
    p = sub.add_parser("convert-bvh", help="retarget a BVH file onto the humanoid as a DeepMimic clip")
    p.add_argument("bvh", help="input .bvh (Y up)")
    p.add_argument("--out", required=True, help="output DeepMimic clip (.txt, JSON)")
    p.add_argument("--map", default=None, help="JSON joint map (BVH joint -> humanoid joint); CMU names by default")
    p.add_argument("--scale", type=float, default=None, help="BVH units to metres (default: from leg lengths)")
    p.add_argument("--loop", choices=["none", "wrap"], default="none")
    p = sub.add_parser("export", help="write actor/critic state dicts, TorchScript and ONNX actors")
    p.add_argument("checkpoint", help="checkpoint file or run directory")
    p.add_argument("--out", default="export", help="output directory")
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX file")
    p.add_argument("--pretrained", metavar="FILE", default=None,
                   help="instead, write one small weights-only policy file (networks, normaliser, config with the "
                        "environment's rules; no optimiser state), e.g. pretrained/walk.pt: `evaluate "
                        "--load_model_path FILE` and `train --pretrained_weight_path FILE` read it")
    p = sub.add_parser("build-character", help="compile a DeepMimic character file (+ PD controller file) to MJCF")
    p.add_argument("character", help="DeepMimic character file (JSON: Skeleton.Joints, BodyDefs; Y up)")
    p.add_argument("--controller", metavar="CTRL.txt", default=None,
                   help="its PD controller file (PDControllers: Kp, Kd per joint); without it the model is passive "
                        "(no actuators, no damping)")
    p.add_argument("--out", required=True, help="output MJCF (.xml)")
    p = sub.add_parser("view", help="watch a policy live in the browser, with its reference, and direct it",
                       description="serve a trained DeepMimic character live to the browser (viser; the extra "
                                   "trpo-mimic[viewer]): the character and its reference as a ghost, with controls for "
                                   "the skill, pushes, pause, playback speed and camera follow; Ctrl-C stops it")
    p.add_argument("policy", help="a shipped policy by name (trpo-mimic pretrained lists them), a checkpoint file or "
                                  "a run directory")
    p.add_argument("--host", default="127.0.0.1",
                   help="the address to serve on (default: 127.0.0.1, this machine only; 0.0.0.0: every network)")
    p.add_argument("--port", type=port_number, default=8080,
                   help="the port to serve on (default: 8080; taken: the next free one; 0: any free one)")
    p.add_argument("--skill", metavar="SKILL", default=None,
                   help="the skill to start with (default: one drawn by the clips' weights)")
    p.add_argument("--seed", type=int, default=None, help="the first episode's seed (default: a fresh one)")
    return parser


def port_number(s: str) -> int:
    """``--port``: a TCP port, 0 to 65535."""
    port = int(s)
    if not 0 <= port <= 65535:
        raise ValueError(s)
    return port


port_number.__name__ = "port"  # argparse's error: "invalid port value: '70000'"


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


def normalise_argv(argv: Sequence[str]) -> list[str]:
    """Accept `--task train` (the PyTorch TRPO ports' form) as well as `train`."""
    argv = list(argv)
    if argv and argv[0] in COMMANDS:
        return argv
    for i, a in enumerate(argv):
        if a == "--task" and i + 1 < len(argv):
            return [argv[i + 1]] + argv[:i] + argv[i + 2:]
        if a.startswith("--task="):
            return [a.split("=", 1)[1]] + argv[:i] + argv[i + 1:]
    return argv


def parse(argv: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """(command, explicitly given options) with argument files expanded."""
    parser = build_parser()
    argv = normalise_argv(argv)
    if argv and argv[0] in ("train", "evaluate"):
        sub = parser._subparsers._group_actions[0].choices[argv[0]]  # type: ignore[union-attr]
        expanded = [argv[0]]
        rest = argv[1:]
        file_tokens: list[str] = []
        cli_tokens: list[str] = []
        i = 0
        while i < len(rest):
            if rest[i] == "--arg_file" and i + 1 < len(rest):
                file_tokens += read_arg_file(rest[i + 1], sub)
                i += 2
            elif rest[i].startswith("--arg_file="):
                file_tokens += read_arg_file(rest[i].split("=", 1)[1], sub)
                i += 1
            elif argv[0] == "train" and (rest[i] == "--skill" or rest[i].startswith("--skill=")):
                name = rest[i + 1] if rest[i] == "--skill" and i + 1 < len(rest) else rest[i].partition("=")[2]
                for path in skill_files(name):
                    file_tokens += read_arg_file(str(path), sub)
                i += 2 if rest[i] == "--skill" else 1
            elif rest[i] == "--config" and i + 1 < len(rest):
                file_tokens += read_yaml_config(rest[i + 1], sub)
                i += 2
            elif rest[i].startswith("--config="):
                file_tokens += read_yaml_config(rest[i].split("=", 1)[1], sub)
                i += 1
            else:
                cli_tokens.append(rest[i])
                i += 1
        preset = None
        if argv[0] == "train":
            preset, preset_tokens = choose_preset(cli_tokens, bool(file_tokens), sub)
            file_tokens = preset_tokens + file_tokens
        argv = expanded + file_tokens + cli_tokens
    else:
        preset = None
    ns = parser.parse_args(argv)
    opts = {k: v for k, v in vars(ns).items() if k not in ("command", "arg_file", "config", "preset")}
    if ns.command == "evaluate" and "pretrained" in opts:
        opts["load_model_path"] = pretrained_policy(opts.pop("pretrained"), opts.get("load_model_path"))
    if preset is not None:
        opts["preset"] = preset  # the preset used (a path), said when training starts
    return ns.command, opts


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
    if not (cfg.push >= 0 and cfg.push < float("inf")):
        raise UsageError(f"--push must be a non-negative force in newtons, got {cfg.push}")
    if cfg.max_episode_steps is not None and cfg.max_episode_steps <= 0:
        raise UsageError(f"--max_episode_steps must be positive, got {cfg.max_episode_steps}")
    for f in fields(Config):  # the range each numeric option declares (config.Range)
        rng, value = f.metadata.get("range"), getattr(cfg, f.name)
        if rng is not None and value is not None and not all(v in rng for v in (
                value if isinstance(value, list) else [value])):
            raise UsageError(f"--{f.name} must be {rng}, got {value}")
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


def headless_defaults() -> None:
    """Off-screen rendering where no display exists: EGL for MuJoCo, SDL's dummy drivers for pygame."""
    import os
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("MUJOCO_GL", "egl")
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        os.environ.setdefault("SDL_AUDIODRIVER", "dummy")


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    headless_defaults()
    try:  # before anything heavy is imported: --help and usage errors answer at once
        command, opts = parse(argv)
    except UsageError as exc:
        error_line(exc)
        return 2
    except KeyboardInterrupt:
        return interrupted()
    try:
        return run_command(command, opts)
    except BrokenPipeError:  # the reader went away (`trpo-mimic pretrained | head`): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:  # Ctrl-C while run_command imported its modules
        return interrupted()


def interrupted(note: str = "") -> int:
    """Ctrl-C outside a training loop (which saves first, and says so): one line, exit code 130."""
    print(f"trpo-mimic: interrupted by SIGINT{note}", file=sys.stderr)
    return 130


def run_command(command: str, opts: dict[str, Any]) -> int:
    import time
    started = time.time()
    from .checkpoint import CheckpointError
    from .envs import EnvError
    from .rollout import NonFiniteError
    from .evaluate import NoDisplayError
    from .faults import RunFault, os_error_of, os_fault
    from .guards import inputs_of, refuse_output
    from .train import Interrupted
    errors: tuple[type[BaseException], ...] = (UsageError, EnvError, CheckpointError, NonFiniteError, ValueError,
                                               FileNotFoundError, NoDisplayError)
    try:
        if command == "train":
            from .envs import check_env_id
            if opts.get("preset") and os.environ.get("RANK", "0") == "0":  # said once, by rank 0 under torchrun
                print(f"preset: {opts['preset']} (--preset none for the raw defaults)", flush=True)
            cfg = make_train_config(opts)
            check_env_id(cfg.env_id)
            from .train import train
            train(cfg)
        elif command == "evaluate":
            validate(Config.from_dict(opts))
            from .evaluate import evaluate
            evaluate(opts)
        elif command == "play-motion":
            from .envs.deepmimic.render import play_motion
            refuse_output("--out", opts["out"], inputs_of([
                ("clip", opts["clip"]), ("character file", opts["character_file"]),
                ("controller file", opts["controller_file"])]))
            out = play_motion(opts["clip"], opts["out"], fps=opts["fps"], cycles=opts["cycles"],
                              character_file=opts["character_file"], controller_file=opts["controller_file"])
            print(f"wrote {out}")
        elif command == "convert-bvh":
            from .envs.deepmimic.bvh import convert_bvh
            refuse_output("--out", opts["out"], inputs_of([("BVH file", opts["bvh"]), ("joint map", opts["map"])]))
            out = convert_bvh(opts["bvh"], opts["out"], opts["map"], scale=opts["scale"], loop=opts["loop"])
            print(f"wrote {out}")
        elif command == "export":
            refuse_export_overwrite(opts)
            if opts["pretrained"]:
                from .checkpoint import write_policy_file
                print(f"wrote {write_policy_file(opts['checkpoint'], opts['pretrained'])}")
            else:
                from .export import export_checkpoint
                notes: list[str] = []
                for path in export_checkpoint(opts["checkpoint"], opts["out"], onnx=not opts["no_onnx"],
                                              notes=notes).values():
                    print(f"wrote {path}")
                for note in notes:
                    print(f"note: {note}")
        elif command == "build-character":
            from .envs.deepmimic.charfile import CharacterFileError, load_character
            from .envs.deepmimic.charmjcf import write_mjcf
            errors += (CharacterFileError,)
            refuse_output("--out", opts["out"], inputs_of([("character file", opts["character"]),
                                                           ("controller file", opts["controller"])]))
            char = load_character(opts["character"], opts["controller"])
            model = write_mjcf(char, opts["out"])  # an OSError: the machine's fault, exit code 1 (below)
            passive = "" if opts["controller"] else "; no --controller: passive"
            print(f"wrote {opts['out']} ({len(char.bodies)} bodies, {len(char.hinge_names)} hinges, "
                  f"{model.nu} actuators{passive})")
        elif command == "pretrained":
            from .pretrained import card_lines, read_card, table
            if opts["name"] is None:
                print(table())
            else:
                path = shipped_policy(opts["name"])
                card = read_card(path)
                print("\n".join(card_lines(opts["name"], card)) if card else f"{opts['name']}: {path} (no card)")
        elif command == "view":
            from .viewer import ViewerUnavailable, view
            errors += (ViewerUnavailable,)
            view(opts["policy"], host=opts["host"], port=opts["port"], skill=opts["skill"], seed=opts["seed"])
        elif command == "plot":
            from .plot import plot_runs
            refuse_output("--out", opts["out"], {f"progress.csv of {d}": Path(d) / "progress.csv"
                                                 for d in opts["run_dirs"]})
            print(f"wrote {plot_runs(opts['run_dirs'], opts['out'], opts['title'])}")
    except Interrupted as exc:
        print(f"trpo-mimic: interrupted by {exc}", file=sys.stderr)
        return 130
    except RunFault as exc:  # the machine's fault, not the command's: a full disk, a lost rank, a held run directory
        error_line(exc)
        return 1
    except KeyboardInterrupt:  # Ctrl-C outside a training loop (which saves first: Interrupted, above)
        return interrupted("; nothing was saved" if command == "train" else "")
    except MemoryError:
        print(f"trpo-mimic: error: out of memory ({command}): a size or count too large for this machine",
              file=sys.stderr)
        return 1
    except errors as exc:
        if isinstance(exc, FileNotFoundError) and exc.filename is not None:  # a path given that is not there
            error_line(os_fault(exc))
        else:
            error_line(exc)
        return 2
    except Exception as exc:  # an OSError (or one inside another: torch.save's) is the machine's: exit code 1
        fault = os_error_of(exc)
        if fault is None or isinstance(fault, BrokenPipeError):
            raise
        error_line(os_fault(output_fault(fault, command, opts, started)))
        return 1
    return 0


def output_fault(fault: OSError, command: str, opts: dict[str, Any], started: float) -> OSError:
    """A failed write that names no file (a full disk fails `write`, not `open`) names the command's output; a
    single output file written only in part is removed (one that was there before is left alone)."""
    out = opts.get("pretrained") or opts.get("out") if command in ("play-motion", "plot", "convert-bvh", "export",
                                                                   "build-character") else None
    if fault.filename is not None or out is None:
        return fault
    try:
        if command != "export" or opts.get("pretrained"):
            if os.path.isfile(out) and os.stat(out).st_mtime >= started:
                os.unlink(out)
    except OSError:
        pass
    return OSError(fault.errno, fault.strerror or str(fault).strip().split("\n")[0], str(out))


def refuse_export_overwrite(opts: dict[str, Any]) -> None:
    """export writes neither over the checkpoint it reads nor over its run's own files."""
    from .checkpoint import resolve_checkpoint
    from .export import OUTPUT_FILES
    from .guards import OutputRefused, refuse_output, refuse_overwrite, same_path
    ckpt = resolve_checkpoint(opts["checkpoint"])
    if opts["pretrained"]:
        refuse_output("--pretrained", opts["pretrained"], {"checkpoint": ckpt})
        return
    out = Path(opts["out"])
    refuse_overwrite({"--out": out}, {"checkpoint": ckpt})
    for name in OUTPUT_FILES:
        if same_path(out / name, ckpt):
            raise OutputRefused(f"--out {out} would write its {name} over the checkpoint this command reads "
                                f"({ckpt}): choose another --out")


if __name__ == "__main__":
    sys.exit(main())
