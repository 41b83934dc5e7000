"""``trpo-mimic pretrained``: the shipped policies with their cards (NAME: one card in full)."""
from __future__ import annotations

import argparse
from typing import Any

from ...tasks import Command


class PretrainedCommand(Command):
    name = "pretrained"
    help = "list the shipped policies with their cards"
    description = "list the shipped policies with their cards (NAME: one card in full)"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("name", nargs="?", default=None, help="a shipped policy: its card in full")

    def run(self, opts: dict[str, Any]) -> None:
        from ...cli_args import shipped_policy
        from ..pretrained import card_lines, read_card, table
        if opts["name"] is None:
            print(table())
            return
        path = shipped_policy(opts["name"])
        card = read_card(path)
        print("\n".join(card_lines(opts["name"], card)) if card else f"{opts['name']}: {path} (no card)")
