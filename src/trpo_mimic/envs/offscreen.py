"""Offscreen rendering settings shared by every video path (Gymnasium's MuJoCo envs, the DeepMimic drawer)."""
from __future__ import annotations

from typing import Any

SHADOW_SIZE = 1024
"""Side of the shadow map (pixels) a video renders with, at most."""
SAMPLES = 0
"""Multisamples per pixel of the offscreen buffer, at most.

On a machine without a GPU (EGL or OSMesa in software) these two set a frame's cost: a 480x480 Hopper frame
took 0.32 s with Gymnasium's 4096-pixel shadow map and 4 samples, 0.09 s with 1024 and none (one core of
2, beside two trainings); the frames look alike at video sizes, the edges a little harder."""


def cap_offscreen_quality(model: Any) -> None:
    """Lower ``model``'s shadow map and multisampling to the caps above, before its first render (the GL
    context reads them once)."""
    q = model.vis.quality
    q.shadowsize = min(int(q.shadowsize), SHADOW_SIZE)
    q.offsamples = min(int(q.offsamples), SAMPLES)


def draft_quality(model: Any) -> None:
    """No shadows and no reflections in ``model``'s frames: the training's preview videos. On a CPU renderer
    these two passes are most of a frame's cost (a 320x240 Hopper frame: 45 ms with both, 11 ms without, one
    core of 2 beside two trainings); what is drawn and where is unchanged. The fields are read at every
    frame and change no physics."""
    model.light_castshadow[:] = 0
    model.mat_reflectance[:] = 0
