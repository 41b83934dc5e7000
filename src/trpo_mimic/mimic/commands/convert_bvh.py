"""``trpo-mimic convert-bvh``: a BVH file retargeted onto the humanoid as a DeepMimic clip."""
from __future__ import annotations

import argparse
from typing import Any

from ...tasks import Command


class ConvertBvhCommand(Command):
    name = "convert-bvh"
    help = "retarget a BVH file onto the humanoid as a DeepMimic clip"
    output = "out"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("bvh", help="input .bvh (Y up)")
        p.add_argument("--out", required=True, help="output DeepMimic clip (.txt, JSON)")
        p.add_argument("--map", default=None, help="JSON joint map (BVH joint -> humanoid joint); CMU names by default")
        p.add_argument("--scale", type=float, default=None, help="BVH units to metres (default: from leg lengths)")
        p.add_argument("--loop", choices=["none", "wrap"], default="none")

    def run(self, opts: dict[str, Any]) -> None:
        from ...guards import inputs_of, refuse_output
        from ..bvh import convert_bvh
        refuse_output("--out", opts["out"], inputs_of([("BVH file", opts["bvh"]), ("joint map", opts["map"])]))
        out = convert_bvh(opts["bvh"], opts["out"], opts["map"], scale=opts["scale"], loop=opts["loop"])
        print(f"wrote {out}")
