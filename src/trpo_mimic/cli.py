"""Command line: `trpo-mimic train|evaluate|play-motion|build-character|...`, also `python -m trpo_mimic --task train|evaluate`.

The sub-commands are a table (:func:`commands`): the engine's (:mod:`.commands`, one module each) and each task's
(:meth:`.tasks.Task.commands`). Flags of train and evaluate are the fields of `Config` (:mod:`.cli_args`);
`--arg_file FILE` reads flags from a file (DeepMimic style: one or more per line, `#` comments); flags on the
command line override the file.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Sequence

from .cli_args import (CONTROL, OneLineParser, UsageError, choose_preset, pretrained_policy, read_arg_file,
                       read_yaml_config, skill_files)
from .tasks import Command, tasks


def commands() -> dict[str, Command]:
    """Every sub-command by name: the engine's, then each registered task's."""
    from .commands import COMMANDS
    table = {c.name: c for c in COMMANDS}
    for t in tasks():
        table.update({c.name: c for c in t.commands()})
    return table


def error_line(message: object) -> None:
    """The one line of an error, on stderr: ``trpo-mimic: error: <message>``."""
    print(f"trpo-mimic: error: {str(message).translate(CONTROL)}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="trpo-mimic", description="Trust-region RL and DeepMimic motion imitation.")
    table = commands()
    sub = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(table) + "}")
    for c in table.values():
        c.add_arguments(sub.add_parser(c.name, help=c.help, description=c.description or c.help))
    return parser


def normalise_argv(argv: Sequence[str]) -> list[str]:
    """Accept `--task train` (the PyTorch TRPO ports' form) as well as `train`."""
    argv = list(argv)
    if argv and argv[0] in commands():
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
    from .faults import RunFault, os_error_of, os_fault
    from .rollout import NonFiniteError
    from .train import Interrupted
    cmd = commands()[command]
    errors: tuple[type[BaseException], ...] = (UsageError, EnvError, CheckpointError, NonFiniteError, ValueError,
                                               FileNotFoundError)
    try:
        errors += cmd.errors()
        cmd.run(opts)
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
        error_line(os_fault(output_fault(fault, cmd, opts, started)))
        return 1
    return 0


def output_fault(fault: OSError, cmd: Command, opts: dict[str, Any], started: float) -> OSError:
    """A failed write that names no file (a full disk fails `write`, not `open`) names the command's output; a
    single output file written only in part is removed (one that was there before is left alone)."""
    out = opts.get("pretrained") or opts.get(cmd.output) if cmd.output else None
    if fault.filename is not None or out is None:
        return fault
    try:
        if cmd.name != "export" or opts.get("pretrained"):
            if os.path.isfile(out) and os.stat(out).st_mtime >= started:
                os.unlink(out)
    except OSError:
        pass
    return OSError(fault.errno, fault.strerror or str(fault).strip().split("\n")[0], str(out))


if __name__ == "__main__":
    sys.exit(main())
