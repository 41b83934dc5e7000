"""``trpo-mimic export``: a checkpoint's networks as state dicts, TorchScript and ONNX, or one small policy file."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..tasks import Command


class ExportCommand(Command):
    name = "export"
    help = "write actor/critic state dicts, TorchScript and ONNX actors"
    output = "out"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("checkpoint", help="checkpoint file or run directory")
        p.add_argument("--out", default="export", help="output directory")
        p.add_argument("--no-onnx", action="store_true", help="skip the ONNX file")
        p.add_argument("--pretrained", metavar="FILE", default=None,
                       help="instead, write one small weights-only policy file (networks, normaliser, config with the "
                            "environment's rules; no optimiser state), e.g. pretrained/walk.pt: `evaluate "
                            "--load_model_path FILE` and `train --pretrained_weight_path FILE` read it")

    def run(self, opts: dict[str, Any]) -> None:
        refuse_export_overwrite(opts)
        if opts["pretrained"]:
            from ..checkpoint import write_policy_file
            print(f"wrote {write_policy_file(opts['checkpoint'], opts['pretrained'])}")
            return
        from ..export import export_checkpoint
        notes: list[str] = []
        for path in export_checkpoint(opts["checkpoint"], opts["out"], onnx=not opts["no_onnx"], notes=notes).values():
            print(f"wrote {path}")
        for note in notes:
            print(f"note: {note}")


def refuse_export_overwrite(opts: dict[str, Any]) -> None:
    """export writes neither over the checkpoint it reads nor over its run's own files."""
    from ..checkpoint import resolve_checkpoint
    from ..export import OUTPUT_FILES
    from ..guards import OutputRefused, refuse_output, refuse_overwrite, same_path
    ckpt = resolve_checkpoint(opts["checkpoint"])
    if opts["pretrained"]:
        refuse_output("--pretrained", opts["pretrained"], {"checkpoint": ckpt})
        return
    out = Path(opts["out"])
    refuse_overwrite({"--out": out}, {"checkpoint": ckpt})
    for name in OUTPUT_FILES:
        if same_path(out / name, ckpt):
            raise OutputRefused(f"--out {out} would write its {name} over the checkpoint this command reads "
                                f"({ckpt}): choose another --out")
