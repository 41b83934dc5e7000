"""One row of README's DeepMimic results table, from a run that benchmarks/deepmimic_train.sh made.

    python benchmarks/deepmimic/row.py SKILL RUN_DIR [GIF]

RUN_DIR holds latest.pt (samples, training wall time) and eval.txt (what `trpo-mimic evaluate` printed for 10
deterministic 10 s episodes); GIF is where the skill's preview sits in the repository (docs/results/SKILL.gif).
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from targets import DEEPMIMIC, bar, read_eval  # noqa: E402


def row(skill: str, run: Path, gif: str | None = None) -> str:
    ckpt = torch.load(run / "latest.pt", weights_only=True, map_location="cpu")
    fig = read_eval((run / "eval.txt").read_text())
    samples, minutes = ckpt["timesteps"], ckpt.get("train_seconds", 0.0) / 60
    target, budget = bar(skill)
    met = fig["reward"] >= target and fig["falls"] == 0 and samples <= budget
    ref = f" ({DEEPMIMIC[skill][0]:.3f} at {DEEPMIMIC[skill][1] / 1e6:.0f}M)" if skill in DEEPMIMIC else ""
    cells = [skill, f"{samples / 1e6:.2f}M", f"{minutes:.0f} min", f"**{fig['reward']:.3f}**{ref}",
             f"{fig['error']:.3f} m / {fig['error_local']:.3f} m", f"{round(fig['success'] * 10)} of 10",
             f"{fig['falls']}", "met" if met else f"not met (bar {target:.3f})",
             f"`benchmarks/deepmimic_train.sh {skill} {ckpt['config']['num_timesteps']}`", f"![{skill}]({gif})" if gif else ""]
    return "| " + " | ".join(cells) + " |"


if __name__ == "__main__":
    print(row(sys.argv[1], Path(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None))
