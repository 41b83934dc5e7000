"""The engine's sub-commands of ``trpo-mimic``, one module each, each a :class:`.tasks.Command`; a task adds its
own (:meth:`.tasks.Task.commands`). :mod:`trpo_mimic.cli` builds the parser from this table and runs them."""
from __future__ import annotations

from .evaluate import EvaluateCommand
from .export import ExportCommand
from .plot import PlotCommand
from .train import TrainCommand

COMMANDS = (TrainCommand(), EvaluateCommand(), PlotCommand(), ExportCommand())
