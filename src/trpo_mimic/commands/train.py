"""``trpo-mimic train``: a run configuration from flags, argument files, YAML and a preset; then the training."""
from __future__ import annotations

import argparse
import os
from typing import Any

from ..cli_args import add_config_arguments, make_train_config
from ..tasks import Command


def add_file_arguments(p: argparse.ArgumentParser) -> None:
    """--arg_file and --config, which ``cli.parse`` expands into flags (train and evaluate)."""
    p.add_argument("--arg_file", help="read flags from this file (command-line flags override it)")
    p.add_argument("--config", help="read the same fields from a YAML mapping (command-line flags override it)")


class TrainCommand(Command):
    name = "train"
    help = "train a policy"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        add_file_arguments(p)
        p.add_argument("--skill", metavar="SKILL", default=argparse.SUPPRESS,  # expanded by parse() into files
                       help="a DeepMimic skill by name: the DeepMimic preset and the skill's file (its clip and "
                            "episode rules), both inside the package, as two --arg_file; e.g. --skill backflip")
        p.add_argument("--preset", metavar="FILE|none",
                       help="the tuned arg file to start from; by default the one in configs/ made for --env_id "
                            "and --algo (if any, and unless --arg_file, --config or --resume is given); none: "
                            "the raw defaults")
        add_config_arguments(p)

    def run(self, opts: dict[str, Any]) -> None:
        from ..envs import check_env_id
        if opts.get("preset") and os.environ.get("RANK", "0") == "0":  # said once, by rank 0 under torchrun
            print(f"preset: {opts['preset']} (--preset none for the raw defaults)", flush=True)
        cfg = make_train_config(opts)
        check_env_id(cfg.env_id)
        from ..train import train
        train(cfg)
