"""``trpo-mimic play-motion``: a motion clip rendered kinematically to a video."""
from __future__ import annotations

import argparse
from typing import Any

from ...tasks import Command


class PlayMotionCommand(Command):
    name = "play-motion"
    help = "render a motion clip kinematically to a video"
    output = "out"

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        p.add_argument("clip", help="DeepMimic clip file (or builtin:NAME)")
        p.add_argument("--out", default="clip.mp4", help="output video (.mp4 or .avi)")
        p.add_argument("--cycles", type=int, default=1, help="loops of the clip to render")
        p.add_argument("--character_file", default=None,
                       help="the clip's DeepMimic character file (e.g. dog3d.txt); default: the humanoid")
        p.add_argument("--controller_file", default=None, help="its PD controller file (default: the one beside it)")
        p.add_argument("--fps", type=int, default=30)

    def run(self, opts: dict[str, Any]) -> None:
        from ...guards import inputs_of, refuse_output
        from ..render import play_motion
        refuse_output("--out", opts["out"], inputs_of([
            ("clip", opts["clip"]), ("character file", opts["character_file"]),
            ("controller file", opts["controller_file"])]))
        out = play_motion(opts["clip"], opts["out"], fps=opts["fps"], cycles=opts["cycles"],
                          character_file=opts["character_file"], controller_file=opts["controller_file"])
        print(f"wrote {out}")
