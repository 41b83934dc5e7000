"""``trpo-mimic plot``: the learning curve of one or more runs as a PNG."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..tasks import Command


class PlotCommand(Command):
    name = "plot"
    help = "learning curve PNG from run directories (several: mean and band)"
    output = "out"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("run_dirs", nargs="+", help="run directories (each with progress.csv)")
        p.add_argument("--out", default="learning_curve.png", help="output PNG")
        p.add_argument("--title", default=None)

    def run(self, opts: dict[str, Any]) -> None:
        from ..guards import refuse_output
        from ..plot import plot_runs
        refuse_output("--out", opts["out"], {f"progress.csv of {d}": Path(d) / "progress.csv"
                                             for d in opts["run_dirs"]})
        print(f"wrote {plot_runs(opts['run_dirs'], opts['out'], opts['title'])}")
