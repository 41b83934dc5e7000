"""An option declared once: its name, type, default, help, validation, and how training and evaluation treat it.

A task (:mod:`.tasks`) declares its options as :class:`Option` objects; from those alone come the run
configuration's fields (so the CLI flags, arg-file and YAML keys: :mod:`.config`), the keyword arguments its
environments get (:func:`env_kwargs`), the options ``evaluate`` may override, what evaluation switches off, and the
documentation's table (:func:`options_table`). Nothing here knows a task; it imports nothing of the package."""
from __future__ import annotations

import math
import typing
from dataclasses import dataclass
from typing import Any, Callable, Sequence


@dataclass(frozen=True)
class Range:
    """The values a numeric option may take (declared with the field: ``range=...``; checked by
    ``cli.validate`` on every value given, read from a file or resumed): finite, and within `low` and
    `high` (None: unbounded), each bound closed or open. A list option's every number must be in it."""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, x: Any) -> bool:
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            return False
        if isinstance(x, float) and not math.isfinite(x):
            return False
        if self.low is not None and (x < self.low or (self.low_open and x == self.low)):
            return False
        return self.high is None or (x < self.high if self.high_open else x <= self.high)

    def __str__(self) -> str:
        if self.high is None and self.low == 0:
            return "positive" if self.low_open else "non-negative (>= 0)"
        if self.high is None and self.low is not None:
            return f"at least {_num(self.low)}" if not self.low_open else f"greater than {_num(self.low)}"
        if self.low is None and self.high is None:
            return "a finite number"
        lo = "-inf" if self.low is None else _num(self.low)
        hi = "inf" if self.high is None else _num(self.high)
        return f"in {'(' if self.low_open or self.low is None else '['}{lo}, {hi}{')' if self.high_open else ']'}"


def _num(v: float) -> str:
    return str(v) if isinstance(v, int) else f"{v:g}"


POSITIVE = Range(0, low_open=True)
NON_NEGATIVE = Range(0)
FINITE = Range()
UNIT = Range(0, 1)
"""[0, 1]: a discount, a lambda, a fraction."""

ENV, ARG, EVAL, TRAIN = "env", "arg", "eval", "train"
"""Where an option goes: ``env``, a field of the task's options object (and a keyword of its environments);
``arg``, a keyword of its environments that is no such field (a file, a backend); ``eval``, read by the task's
evaluation extras only, ``train`` by its training extensions only (no environment keyword)."""
EXTRAS = (EVAL, TRAIN)
"""The kinds that are no environment keyword."""


@dataclass(frozen=True)
class Option:
    """One option of a task, declared once.

    ``default`` is the task's own default, which the environments apply when the option is not given; the run
    configuration's field defaults to ``config_default`` (None: unset, so the environment's default holds, and a
    run's config shows only what was given). ``nargs``: a list option (``"+"`` or a count), of ``type`` each.
    ``range`` / ``choices``: the values allowed; ``needs``: (other option, value) it only makes sense with;
    ``check``: a further rule on the whole value (returns the problem, or None). ``training_only``: evaluation
    (``mode="eval"``) switches it off (its default). ``eval_override``: ``evaluate --<name>`` replaces the
    checkpoint's value."""

    name: str
    type: type
    default: Any
    help: str
    kind: str = ENV
    group: str = "environment"
    config_default: Any = None
    nargs: int | str | None = None
    range: Range | None = None
    choices: tuple[str, ...] | None = None
    needs: tuple[str, Any] | None = None
    check: Callable[[Any], str | None] | None = None
    training_only: bool = False
    eval_override: bool = False
    must: str | None = None
    """How an error says what the value must be (default: the range's words)."""

    @property
    def annotation(self) -> Any:
        """The configuration field's type."""
        t = list if self.nargs is not None else self.type
        return t if self.config_default is not None else typing.Optional[t]

    def metadata(self) -> dict[str, Any]:
        """The configuration field's metadata (what :func:`.cli.add_config_arguments` reads)."""
        meta: dict[str, Any] = {"help": self.help, "group": self.group, "option": self}
        if self.nargs is not None:
            meta.update(nargs=self.nargs, type=self.type)
        if self.range is not None:
            meta["range"] = self.range
        if self.must is not None:
            meta["must"] = self.must
        if self.choices is not None:
            meta["choices"] = list(self.choices)
        return meta

    def cast(self, value: Any) -> Any:
        """The value as the task holds it: a number of ``type``, a list option as a tuple (a lone string: one
        item)."""
        if value is None:
            return None
        if self.nargs is not None:
            items = (value,) if isinstance(value, str) else tuple(value)
            return tuple(self.type(x) if self.type is not str else x for x in items)
        if self.type is float and not isinstance(value, bool) and isinstance(value, (int, float)):
            return float(value)
        return value

    def problem(self, value: Any) -> str | None:
        """What is wrong with a (cast) value, in a phrase that names the option; None if nothing."""
        if value is None:
            return None
        if self.choices is not None and value not in self.choices:
            return f"{self.name} must be one of {', '.join(self.choices)}, got {value!r}"
        if isinstance(self.nargs, int) and len(value) != self.nargs:
            return f"{self.name} must be {self.nargs} numbers, got {value!r}"
        if self.range is not None:
            items = value if self.nargs is not None else (value,)
            if not all(v in self.range for v in items):
                return f"{self.name} must be {self.must or self.range}, got {value!r}"
        return None if self.check is None else self.check(value)

    def in_force(self, value: Any, mode: str) -> Any:
        """The value that holds in ``mode`` (``"train"`` or ``"eval"``): a training-only option's default in
        evaluation."""
        return self.default if self.training_only and mode != "train" else value


def validated(options: Sequence[Option], values: dict[str, Any]) -> dict[str, Any]:
    """``values`` cast and checked against their declarations (a ValueError naming the first problem); each
    ``needs`` checked against the others' values (or defaults)."""
    by_name = {o.name: o for o in options}
    out = {k: by_name[k].cast(v) for k, v in values.items()}
    for k, v in out.items():
        opt = by_name[k]
        problem = opt.problem(v)
        if problem is not None:
            raise ValueError(problem)
        if opt.needs is not None and v:
            other, want = opt.needs
            if out.get(other, by_name[other].default) != want:
                raise ValueError(f"{k} needs {other}={want!r}")
    return out


def env_kwargs(options: Sequence[Option], cfg: Any) -> dict[str, Any]:
    """The environment keyword arguments a configuration gives (those of its options that are set)."""
    return {name: getattr(cfg, name) for name in given([o for o in options if o.kind not in EXTRAS], cfg)}


def given(options: Sequence[Option], cfg: Any) -> list[str]:
    """Names of the options a configuration sets (not None, and not its configuration default)."""
    out = []
    for o in options:
        v = getattr(cfg, o.name, None)
        if v is not None and not (o.config_default is not None and v == o.config_default):
            out.append(o.name)
    return out


def flag_of(opt: Option) -> str:
    """How the option is written on the command line (a boolean on by default: ``--no-<name>``)."""
    if opt.type is bool:
        return f"--no-{opt.name}" if opt.default else f"--{opt.name}"
    return f"--{opt.name} " + (" ".join(["X"] * opt.nargs) if isinstance(opt.nargs, int)
                               else "X [X ...]" if opt.nargs else "X")


def options_table(options: Sequence[Option], used_by: Callable[[Option], str] = lambda o: "") -> str:
    """A Markdown table of options: flag and keyword, meaning, default, training only, overridden by
    ``evaluate``, and ``used_by`` (e.g. the files that set it)."""
    rows = ["| flag / keyword | meaning | default | training only | `evaluate` may override | set by |",
            "|---|---|---|---|---|---|"]
    for o in options:
        default = "none" if o.default is None else f"`{o.default}`"
        rows.append(f"| `{flag_of(o)}` / `{o.name}` | {o.help.replace('|', '/')} | {default} | "
                    f"{'yes' if o.training_only else ''} | {'yes' if o.eval_override else ''} | {used_by(o)} |")
    return "\n".join(rows)
