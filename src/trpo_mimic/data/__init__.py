"""The data this package ships: DeepMimic's clips, characters and PD controller files (``motions/``, MIT, with
its LICENSE and PROVENANCE.txt) and the pretrained policies (``pretrained/<name>.pt``), found by name.

A clip is found by :func:`trpo_mimic.mimic.clipfile.find_motion_file` (this folder last); a policy by
:func:`resolve`, wherever a checkpoint is read (``--load_model_path``, ``--pretrained_weight_path``, ``export``)."""
from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
MOTIONS_DIR = DATA_DIR / "motions"
PRETRAINED_DIR = DATA_DIR / "pretrained"


def names() -> list[str]:
    """The shipped policies' names, sorted."""
    return sorted(p.stem for p in PRETRAINED_DIR.glob("*.pt"))


def shipped(name: str) -> Path | None:
    """The file of the shipped policy ``name`` (``walk`` or ``walk.pt``), None if there is none."""
    stem = name[:-3] if name.endswith(".pt") else name
    if not stem or "/" in stem or "\\" in stem or stem.startswith("."):
        return None
    p = PRETRAINED_DIR / f"{stem}.pt"
    return p if p.is_file() else None


def resolve(path: str | Path) -> Path:
    """``path`` as given when it exists; else, for a bare name, the shipped policy of that name; else ``path``
    unchanged (the caller reports it missing, with :func:`known`)."""
    p = Path(path)
    if p.exists() or p.name != str(path):
        return p
    return shipped(str(path)) or p


def known() -> str:
    """One clause naming the shipped policies, for a not-found error."""
    return f"shipped policies (by name): {', '.join(names())}"
