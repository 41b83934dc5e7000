"""DeepMimic clip files: validation, reading, writing, and finding them on disk.

A clip file is JSON with ``"Loop"`` (``"wrap"`` or ``"none"``) and ``"Frames"``; each
frame holds the numbers of its character's frame layout (``fields``: 44 for the humanoid, see
``character.FRAME_FIELDS``; a character's :attr:`.character.CharacterSpec.frame_fields`).  Extra keys are ignored.  Every
problem with a clip raises :class:`MotionError`, whose message names the file, the
frame and the field.  Quaternions whose norm is off by more than ``QUAT_NORM_TOL``
are normalised with a :class:`MotionWarning`.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..data import MOTIONS_DIR
from .character import FRAME_FIELDS, FRAME_WIDTH

Fields = tuple[tuple[str, int, int], ...]

QUAT_NORM_TOL = 1e-3
"""Quaternions with ``|norm - 1|`` above this are normalised with a warning."""
ZERO_NORM = 1e-6
"""Quaternions with a norm below this are rejected."""
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_FRAME_SECONDS = 10.0
"""A frame lasting longer is rejected: clips are resampled at 240 Hz, so an absurd duration (a typo, 1e30)
would otherwise ask for unbounded memory; mocap frames last 1/120-1/30 s, keyframes a fraction of a second."""


class MotionError(ValueError):
    """A motion clip is malformed; the message names file, frame and field."""


class MotionNotFoundError(MotionError):
    """No motion clip was found; the message lists every place looked."""


class MotionWarning(UserWarning):
    """A motion clip was usable but had to be repaired (e.g. quaternions normalised)."""


def _fail(name: str, frame, field: str, problem: str) -> MotionError:
    where = f"frame {frame}" if frame is not None else "header"
    return MotionError(f"{name}: {where}, field '{field}' {problem}")


def _index_names(fields: Fields) -> list[str]:
    return [field for field, _, width in fields for _ in range(width)]


def _frame_lists(doc, name: str, fields: Fields) -> tuple[list, str]:
    """(frames, loop) of a decoded document, every frame a list of the layout's numbers."""
    width = fields[-1][1] + fields[-1][2]
    if not isinstance(doc, dict):
        raise _fail(name, None, "Frames", f"missing: top level is {type(doc).__name__}, not an object")
    loop = doc.get("Loop", "wrap")
    if loop not in ("wrap", "none"):
        raise _fail(name, None, "Loop", f"must be 'wrap' or 'none', got {loop!r}")
    frames = doc.get("Frames")
    if frames is None:
        raise _fail(name, None, "Frames", "is missing")
    if not isinstance(frames, list) or len(frames) < 2:
        raise _fail(name, None, "Frames", "must be a list of at least 2 frames")
    for i, f in enumerate(frames):
        if not isinstance(f, list):
            raise _fail(name, i, "frame", f"is a {type(f).__name__}, not a list of {width} numbers")
        if len(f) != width:
            raise _fail(name, i, "frame", f"has {len(f)} numbers, expected {width}"
                        + (" (a clip of another character? name its character file: --character_file)"
                           if len(f) > 8 else ""))
        for k, v in enumerate(f):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise _fail(name, i, _index_names(fields)[k], f"value {v!r} (index {k}) is not a number")
    return frames, loop


def _check_values(arr: np.ndarray, name: str, fields: Fields) -> None:
    """Every number finite, durations in [0, MAX_FRAME_SECONDS] and not all zero (the last frame's is unused)."""
    bad = ~np.isfinite(arr)
    if bad.any():
        i, k = map(int, np.argwhere(bad)[0])
        raise _fail(name, i, _index_names(fields)[k], f"is not finite ({arr[i, k]}) at index {k}")
    neg = np.flatnonzero(arr[:, 0] < 0)
    if neg.size:
        i = int(neg[0])
        raise _fail(name, i, "duration", f"is negative ({arr[i, 0]})")
    long = np.flatnonzero(arr[:-1, 0] > MAX_FRAME_SECONDS)
    if long.size:
        i = int(long[0])
        raise _fail(name, i, "duration", f"is {arr[i, 0]} s; a frame may last at most {MAX_FRAME_SECONDS} s")
    if not arr[:-1, 0].sum() > 0:
        raise _fail(name, f"0-{len(arr) - 1}", "duration", "is zero in every frame: total duration is zero")


def _normalise_quats(arr: np.ndarray, name: str, fields: Fields):
    """Normalise every quaternion field in place; (deviation, frame, field) of the worst one
    off by more than QUAT_NORM_TOL, or None."""
    worst = None
    for field, start, width in fields:
        if width != 4:
            continue
        q = arr[:, start:start + 4]
        norm = np.linalg.norm(q, axis=1)
        zero = np.flatnonzero(norm < ZERO_NORM)
        if zero.size:
            raise _fail(name, int(zero[0]), field, "quaternion has zero norm")
        dev = np.abs(norm - 1.0)
        j = int(np.argmax(dev))
        if dev[j] > QUAT_NORM_TOL and (worst is None or dev[j] > worst[0]):
            worst = (float(dev[j]), j, field)
        arr[:, start:start + 4] = q / norm[:, None]
    return worst


def parse_frames(doc, name: str, fields: Fields = FRAME_FIELDS) -> tuple[np.ndarray, str]:
    """Validate a decoded clip document; return (frames (F, width) float64, loop)."""
    frames, loop = _frame_lists(doc, name, fields)
    arr = np.array(frames, dtype=np.float64)
    _check_values(arr, name, fields)
    worst = _normalise_quats(arr, name, fields)
    if worst is not None:
        warnings.warn(
            f"{name}: frame {worst[1]}, field '{worst[2]}' quaternion norm is off by {worst[0]:.3g}; "
            f"quaternions off by more than {QUAT_NORM_TOL} were normalised", MotionWarning, stacklevel=3)
    return arr, loop


def read_clip_file(path: str | os.PathLike, fields: Fields = FRAME_FIELDS) -> tuple[np.ndarray, str]:
    """Read and validate a DeepMimic clip file of the frame layout ``fields`` (the humanoid's by default)."""
    p = Path(path)
    name = clip_name(p)
    if not p.is_file():
        raise MotionNotFoundError(f"{name}: no such motion file (looked at {p.resolve()})")
    if p.stat().st_size > MAX_FILE_BYTES:
        raise _fail(name, None, "Frames", f"file is larger than {MAX_FILE_BYTES} bytes")
    try:
        if p.name.endswith(GZ):
            with gzip.open(p, "rb") as f:
                raw = f.read(MAX_FILE_BYTES + 1)
            if len(raw) > MAX_FILE_BYTES:
                raise _fail(name, None, "Frames", f"file is larger than {MAX_FILE_BYTES} bytes uncompressed")
            text = raw.decode("utf-8")
        else:
            text = p.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError, EOFError) as exc:
        raise _fail(name, None, "Frames", f"unreadable: {exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(name, None, "Frames", f"unreadable: not valid JSON ({exc})") from None
    except RecursionError:
        raise _fail(name, None, "Frames", "unreadable: JSON nested too deeply") from None
    return parse_frames(doc, name, fields)


def frames_array(frames: Any) -> np.ndarray:
    """DeepMimic frames (F, 44) as float64, from an array or a clip document with "Frames"."""
    if isinstance(frames, Mapping):
        frames = frames["Frames"]
    arr = np.asarray(frames, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != FRAME_WIDTH or len(arr) < 1:
        raise ValueError(f"expected DeepMimic frames of shape (F, {FRAME_WIDTH}), got {arr.shape}")
    return arr


def write_deepmimic(clip: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write a DeepMimic clip document ({"Loop", "Frames"}) as the usual JSON, one frame per line."""
    frames = frames_array(clip)
    loop = clip.get("Loop", "wrap")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    rows = ",\n".join("[" + ", ".join(repr(float(v)) for v in row) + "]" for row in frames)
    p.write_text(f'{{\n"Loop": {json.dumps(loop)},\n"Frames":\n[\n{rows}\n]\n}}\n')
    return p


GZ = ".gz"
"""A clip may be stored gzip-compressed as ``<name>.gz`` (the package's long walks): found and read by its name."""


def clip_name(path: Path) -> str:
    """A clip's name: its file's, without a ``.gz``."""
    return path.name[:-len(GZ)] if path.name.endswith(GZ) else path.name


def _file(p: Path) -> Path | None:
    """``p``, or its compressed ``p.gz``, where one is a file."""
    if p.is_file():
        return p
    gz = p.with_name(p.name + GZ)
    return gz if gz.is_file() else None


def find_motion_file(clip: str, motion_file: str | os.PathLike | None = None,
                     motion_dir: str | os.PathLike | None = None, *, what: str = "motion clip",
                     flag: str = "motion_file") -> str:
    """Locate a clip: ``motion_file``, else ``motion_dir/clip``, else
    ``$TRPO_MIMIC_MOTION_DIR/clip``, else the package's own data (``trpo_mimic/data/motions``). A bare file name
    as ``motion_file`` that is not in the working directory is searched for in the same places.

    ``builtin:<name>`` is returned unchanged.  Raises :class:`MotionNotFoundError`
    listing every place looked (``what`` and ``flag`` name the file sought and its option in the messages: a
    character file is searched for the same way).
    """
    if motion_file is not None:
        if str(motion_file).startswith("builtin:") or Path(motion_file).is_file():
            return str(motion_file)
        if _file(Path(motion_file)) is not None:
            return str(_file(Path(motion_file)))
        if Path(motion_file).is_dir():
            raise MotionNotFoundError(f"{clip}: {flag} {str(motion_file)!r} is a directory, not a {what} "
                                      f"(looked at {Path(motion_file).resolve()})")
        if Path(motion_file).name == str(motion_file):  # a bare file name: searched like a shortcut's clip
            return find_motion_file(str(motion_file), None, motion_dir, what=what, flag=flag)
        raise MotionNotFoundError(f"{clip}: {flag} {str(motion_file)!r} does not exist "
                                  f"(looked at {Path(motion_file).resolve()})")
    looked = []
    candidates = []
    if motion_dir is not None:
        candidates.append(("motion_dir", Path(motion_dir)))
    env_dir = os.environ.get("TRPO_MIMIC_MOTION_DIR")
    if env_dir:
        candidates.append(("$TRPO_MIMIC_MOTION_DIR", Path(env_dir)))
    else:
        looked.append("$TRPO_MIMIC_MOTION_DIR (not set)")
    candidates.append(("the package's data", MOTIONS_DIR))
    for label, folder in candidates:
        p = folder / clip
        if _file(p) is not None:
            return str(_file(p))
        looked.append(f"{label}: {p.resolve()}")
    raise MotionNotFoundError(
        f"{clip}: {what} not found; pass {flag}=... or motion_dir=..., or set "
        f"TRPO_MIMIC_MOTION_DIR. Looked in: {flag} (not given); " + "; ".join(looked))


def resolve_motion_set(motion_file: Any, clip_name: str | None = None,
                       motion_dir: str | os.PathLike | None = None) -> tuple[list[str], list[float]]:
    """Clip paths and sampling weights from one clip, a list of clips, or a motion-set JSON
    (``{"Motions": [{"File": path, "Weight": w}, ...]}``, paths relative to the JSON file)."""
    if isinstance(motion_file, (list, tuple)):
        if not motion_file:
            raise MotionError("motion_file: an empty list of clips")
        if len(motion_file) == 1:
            motion_file = motion_file[0]
        else:
            return [find_motion_file(str(f), f, motion_dir) for f in motion_file], [1.0] * len(motion_file)
    path = find_motion_file(clip_name or str(motion_file), motion_file, motion_dir)
    if path.startswith("builtin:"):
        return [path], [1.0]
    try:
        text = Path(path).read_text()
        # a clip (most files) is parsed once, by the clip loader: only a file naming "Motions" is parsed here
        doc = json.loads(text) if '"Motions"' in text else None
    except (OSError, UnicodeDecodeError, ValueError):
        return [path], [1.0]  # not a motion set; the clip loader reports what is wrong with it
    if not (isinstance(doc, dict) and "Motions" in doc):
        return [path], [1.0]
    return _motion_set(doc["Motions"], Path(path))


def _motion_set(motions: Any, path: Path) -> tuple[list[str], list[float]]:
    """Clip paths and weights of the "Motions" entries of the motion set ``path``."""
    name = path.name
    if not isinstance(motions, list) or not motions:
        raise MotionError(f"{name}: motion set, field 'Motions' must be a non-empty list")
    paths, weights = [], []
    for k, entry in enumerate(motions):
        if not isinstance(entry, dict) or not isinstance(entry.get("File"), str):
            raise MotionError(f"{name}: motion {k}, field 'File' must be a string")
        w = entry.get("Weight", 1.0)
        if not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
            raise MotionError(f"{name}: motion {k}, field 'Weight' must be a finite number >= 0, got {w!r}")
        f = Path(entry["File"])
        f = f if f.is_absolute() else path.parent / f
        paths.append(find_motion_file(f.name, f, None))
        weights.append(float(w))
    if sum(weights) <= 0:
        raise MotionError(f"{name}: motion set, field 'Weight' sums to 0")
    return paths, weights
