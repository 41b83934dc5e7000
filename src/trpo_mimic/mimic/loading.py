"""What a :class:`.core.DeepMimicCore` is built from: its character, its clips with their weights, its substeps
per action, the bodies whose contact is a fall."""
from __future__ import annotations

import os

from typing import Sequence

import numpy as np

from .character import SimCharacter, sim_character
from .clip import MotionClip
from .clipfile import find_motion_file, resolve_motion_set

CONTROL_HZ = 30
DEFAULT_SIM_HZ = 240


def fall_contact_body_ids(character: SimCharacter, names: Sequence[str] | None) -> np.ndarray:
    """Body ids whose contact ends an episode: ``names`` (the character's body names), or, when None, every
    body but the feet (the bodies of the sole sites: the humanoid's ankles, the dog's toes and fingers)."""
    model, index = character.model, character.index
    bodies = {model.body(b).name: int(b) for b in index.bodies}
    if names is None:
        feet = {int(model.site_bodyid[model.site(s).id]) for s in character.spec.soles}
        return np.array([b for b in bodies.values() if b not in feet], dtype=np.intp)
    unknown = [n for n in names if n not in bodies]
    if unknown:
        raise ValueError(f"fall_contact_bodies: unknown body {unknown[0]!r}; the character's bodies are "
                         f"{', '.join(bodies)}")
    return np.array([bodies[n] for n in names], dtype=np.intp)


def load_clips(motion_file=None, clip_name: str | None = None, motion_dir: str | None = None,
               cycle_heading: bool = True, character: SimCharacter | None = None
               ) -> tuple[list[MotionClip], np.ndarray]:
    """The clips of a clip file, ``builtin:<name>``, list of clips or motion set, and their weights."""
    if motion_file is None and clip_name is None:
        raise ValueError("DeepMimic-v0 needs motion_file=<clip path or builtin:walk>")
    paths, weights = resolve_motion_set(motion_file, clip_name, motion_dir)
    clips = [_load(p, cycle_heading, character) for p in paths]
    return clips, np.asarray(weights, dtype=np.float64) / float(np.sum(weights))


_LOADED: dict[tuple, MotionClip] = {}
"""Clips loaded in this process, by (path, size, modification time, cycle_heading, character): a clip's kinematics
are computed once (a long walk of 33 s takes seconds), however many environments (training's, each
evaluation's) read it. Clips are only read once built."""


def _load(path: str, cycle_heading: bool, character: SimCharacter | None) -> MotionClip:
    if path.startswith("builtin:"):
        return MotionClip.load(path, cycle_heading=cycle_heading, character=character)  # builtins ignore it
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns, bool(cycle_heading), id(character))
    if key not in _LOADED:
        _LOADED[key] = MotionClip.load(path, cycle_heading=cycle_heading, character=character)
    return _LOADED[key]


def find_character(character_file: str | None = None, controller_file: str | None = None,
                   motion_dir: str | None = None) -> SimCharacter:
    """The humanoid, or a character file compiled with its controller file; a bare file name is searched for
    like a clip (``motion_dir``, ``$TRPO_MIMIC_MOTION_DIR``, the package's data)."""
    if character_file is not None:
        character_file = find_motion_file(str(character_file), character_file, motion_dir, what="character file",
                                          flag="character_file")
        if controller_file is not None:
            controller_file = find_motion_file(str(controller_file), controller_file, motion_dir,
                                               what="controller file", flag="controller_file")
    return sim_character(character_file, controller_file)


def frame_skip_of(sim_hz: int | None, frame_skip: int | None) -> int:
    """Substeps per 30 Hz action from a simulation rate or a substep count (at most one given)."""
    if sim_hz is not None and frame_skip is not None:
        raise ValueError("give sim_hz or frame_skip, not both")
    if frame_skip is None:
        frame_skip = max(1, round((sim_hz or DEFAULT_SIM_HZ) / CONTROL_HZ))
    if frame_skip < 1:
        raise ValueError(f"frame_skip must be >= 1, got {frame_skip}")
    return int(frame_skip)
