"""``trpo-mimic build-character``: a DeepMimic character file (+ PD controller file) compiled to MJCF."""
from __future__ import annotations

import argparse
from typing import Any

from ...tasks import Command


class BuildCharacterCommand(Command):
    name = "build-character"
    help = "compile a DeepMimic character file (+ PD controller file) to MJCF"
    output = "out"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("character", help="DeepMimic character file (JSON: Skeleton.Joints, BodyDefs; Y up)")
        p.add_argument("--controller", metavar="CTRL.txt", default=None,
                       help="its PD controller file (PDControllers: Kp, Kd per joint); without it the model is "
                            "passive (no actuators, no damping)")
        p.add_argument("--out", required=True, help="output MJCF (.xml)")

    def errors(self) -> tuple[type[BaseException], ...]:
        from ..charfile import CharacterFileError
        return (CharacterFileError,)

    def run(self, opts: dict[str, Any]) -> None:
        from ...guards import inputs_of, refuse_output
        from ..charfile import load_character
        from ..charmjcf import write_mjcf
        refuse_output("--out", opts["out"], inputs_of([("character file", opts["character"]),
                                                       ("controller file", opts["controller"])]))
        char = load_character(opts["character"], opts["controller"])
        model = write_mjcf(char, opts["out"])  # an OSError: the machine's fault, exit code 1 (cli.run_command)
        passive = "" if opts["controller"] else "; no --controller: passive"
        print(f"wrote {opts['out']} ({len(char.bodies)} bodies, {len(char.hinge_names)} hinges, "
              f"{model.nu} actuators{passive})")
