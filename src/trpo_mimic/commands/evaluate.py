"""``trpo-mimic evaluate``: a saved policy played for --num_eval_episodes, its results block printed."""
from __future__ import annotations

import argparse
from typing import Any

from ..cli_args import add_config_arguments, validate
from ..tasks import Command
from .train import add_file_arguments


class EvaluateCommand(Command):
    name = "evaluate"
    help = "evaluate a saved policy"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        add_file_arguments(p)
        p.add_argument("--pretrained", metavar="NAME", default=argparse.SUPPRESS,
                       help="a shipped policy by name (trpo-mimic pretrained lists them), instead of "
                            "--load_model_path")
        add_config_arguments(p)

    def errors(self) -> tuple[type[BaseException], ...]:
        from ..evaluation.live import NoDisplayError
        return (NoDisplayError,)

    def run(self, opts: dict[str, Any]) -> None:
        from ..config import Config
        validate(Config.from_dict(opts))
        from ..evaluate import evaluate
        evaluate(opts)
