"""What no command may write over: its own inputs, and another run's files (issue 40).

A command's output that resolves to one of its inputs (the same file by path, symbolic or hard link) is
refused before anything is read or written (`refuse_overwrite`), as is an output that is one of an existing run's
own files (`refuse_run_file`). A new run refuses a run directory that holds a run (`run_files`) unless told to
continue it (--resume) or to replace it (--overwrite: `clear_run` removes the old run's files first, so no run is
ever mixed with another); a run name is a name inside --checkpoint_dir, never a path (`check_run_name`).

The refusals are `OutputRefused`, a ValueError: exit code 2 and one line, like any mistake on the command line."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Iterable, Mapping

RUN_MARKERS = re.compile(r"latest\.pt|iter_\d+\.pt|config\.json|progress\.csv|events\.out\.tfevents\..+")
"""Names of the files that make a directory a run directory (what a run writes first and keeps)."""
RUN_OUTPUTS = re.compile(r"learning_curve\.png|progress\.csv\.tmp|\..+\.pt\..+\.tmp|samples_.+\.npz")
RUN_SUBDIRS = ("videos", "wandb")
"""Besides the markers, what a run (and `evaluate` of it) writes in its directory: removed with it by --overwrite."""


class OutputRefused(ValueError):
    """An output path that would destroy an input of the command or another run (exit code 2)."""


def same_path(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same file: the same inode where both exist, else the same resolved path."""
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
        return Path(a).resolve() == Path(b).resolve()
    except (OSError, RuntimeError, ValueError):  # a symbolic-link loop, an embedded NUL: not the same file
        return False


def refuse_overwrite(outputs: Mapping[str, str | os.PathLike | None],
                     inputs: Mapping[str, str | os.PathLike | None]) -> None:
    """Refuse when an output (flag -> path) is one of the inputs (what it is -> path); None entries are skipped."""
    for flag, out in outputs.items():
        if out is None:
            continue
        for what, src in inputs.items():
            if src is not None and same_path(out, src):
                raise OutputRefused(f"{flag} {out} is the {what} this command reads ({src}); writing it would "
                                    f"destroy it: choose another {flag}")


def run_files(run_dir: str | os.PathLike) -> list[Path]:
    """The files in `run_dir` that make it a run directory (checkpoints, config, logs); [] when it holds none or
    is not a directory."""
    try:
        return sorted(p for p in Path(run_dir).iterdir() if RUN_MARKERS.fullmatch(p.name))
    except (NotADirectoryError, FileNotFoundError):
        return []


def is_run_file(path: str | os.PathLike) -> bool:
    """Whether `path` names one of a run's own files in a directory that holds a run (existing or not: an
    `iter_<N>.pt` the run will write later is the run's too)."""
    p = Path(path)
    return bool(RUN_MARKERS.fullmatch(p.name)) and bool(run_files(p.parent if str(p.parent) else "."))


def refuse_run_file(flag: str, out: str | os.PathLike | None) -> None:
    """Refuse an output that is one of a run's own files."""
    if out is not None and is_run_file(out):
        raise OutputRefused(f"{flag} {out} is a file of the run in {Path(out).parent}; writing it would damage "
                            f"that run: choose another {flag}")


def refuse_output(flag: str, out: str | os.PathLike | None,
                  inputs: Mapping[str, str | os.PathLike | None]) -> None:
    """A command's output refused if it is one of the command's inputs or one of a run's own files."""
    refuse_overwrite({flag: out}, inputs)
    refuse_run_file(flag, out)


def check_run_name(name: str | None) -> None:
    """A run name names a directory inside --checkpoint_dir: not empty, no '/', not '.' or '..'."""
    if name is None:
        return
    if not name or "/" in name or os.sep in name or name in (".", "..") or "\0" in name:
        raise OutputRefused(f"--run_name {name!r} is not a run name: a name of a directory inside --checkpoint_dir "
                            f"(no '/', not '.' or '..'); put the path in --checkpoint_dir")


def run_exists(run_dir: Path, held: list[Path]) -> OutputRefused:
    shown = ", ".join(p.name for p in held[:4]) + (", ..." if len(held) > 4 else "")
    return OutputRefused(f"{run_dir} already holds a run ({shown}): continue it with --resume {run_dir}, "
                         f"replace it with --overwrite, or choose another --run_name")


def refuse_clearing_inputs(run_dir: Path, inputs: Mapping[str, str | os.PathLike | None]) -> None:
    """--overwrite would remove an input of the same command (e.g. --pretrained_weight_path DIR/latest.pt)."""
    doomed = [p for p in Path(run_dir).iterdir() if _removed_by_overwrite(p)]
    for what, src in inputs.items():
        if src is None:
            continue
        for p in doomed:
            if same_path(p, src) or (p.is_dir() and _inside(src, p)):
                raise OutputRefused(f"--overwrite would remove {p}, which {what} reads ({src}): copy it elsewhere "
                                    f"first, or choose another --run_name")


def _inside(path: str | os.PathLike, directory: Path) -> bool:
    try:
        return Path(path).resolve().is_relative_to(directory.resolve())
    except (OSError, RuntimeError, ValueError):
        return False


def _removed_by_overwrite(p: Path) -> bool:
    if p.name in RUN_SUBDIRS and p.is_dir() and not p.is_symlink():
        return True
    return bool(RUN_MARKERS.fullmatch(p.name) or RUN_OUTPUTS.fullmatch(p.name)) and not p.is_dir()


def clear_run(run_dir: str | os.PathLike) -> list[str]:
    """Remove a run's files from its directory (for --overwrite, under the run's lock): the checkpoints, config,
    logs, learning curve, samples, videos/ and wandb/; any other file is not the run's and stays. Returns the names
    removed."""
    removed = []
    for p in sorted(Path(run_dir).iterdir()):
        if _removed_by_overwrite(p):
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p.name)
    return removed


def inputs_of(paths: Iterable[tuple[str, str | os.PathLike | None]]) -> dict[str, str | os.PathLike]:
    """{what: path} of the (what, path) pairs given a path, builtin clips left out."""
    return {what: p for what, p in paths if p is not None and not str(p).startswith("builtin:")}
