"""``trpo-mimic view``: a trained character live in the browser (viser), with its reference, directed from there."""
from __future__ import annotations

import argparse
from typing import Any

from ...tasks import Command


def port_number(s: str) -> int:
    """``--port``: a TCP port, 0 to 65535."""
    port = int(s)
    if not 0 <= port <= 65535:
        raise ValueError(s)
    return port


port_number.__name__ = "port"  # argparse's error: "invalid port value: '70000'"


class ViewCommand(Command):
    name = "view"
    help = "watch a policy live in the browser, with its reference, and direct it"
    description = ("serve a trained DeepMimic character live to the browser (viser; the extra trpo-mimic[viewer]): "
                   "the character and its reference as a ghost, with controls for the skill, pushes, pause, "
                   "playback speed and camera follow; Ctrl-C stops it")

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("policy", help="a shipped policy by name (trpo-mimic pretrained lists them), a checkpoint "
                                      "file or a run directory")
        p.add_argument("--host", default="127.0.0.1",
                       help="the address to serve on (default: 127.0.0.1, this machine only; 0.0.0.0: every network)")
        p.add_argument("--port", type=port_number, default=8080,
                       help="the port to serve on (default: 8080; taken: the next free one; 0: any free one)")
        p.add_argument("--skill", metavar="SKILL", default=None,
                       help="the skill to start with (default: one drawn by the clips' weights)")
        p.add_argument("--seed", type=int, default=None, help="the first episode's seed (default: a fresh one)")

    def errors(self) -> tuple[type[BaseException], ...]:
        from ..viewer import ViewerUnavailable
        return (ViewerUnavailable,)

    def run(self, opts: dict[str, Any]) -> None:
        from ..viewer import view
        view(opts["policy"], host=opts["host"], port=opts["port"], skill=opts["skill"], seed=opts["seed"])
