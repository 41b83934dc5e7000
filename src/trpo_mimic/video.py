"""Video files from rendered frames: mp4 or avi through imageio's ffmpeg plugin, or a small looping gif
(e.g. for a README) through its pillow plugin."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Iterable

import numpy as np

VIDEO_FORMATS = ("mp4", "avi", "gif")
GIF_WIDTH, GIF_STRIDE = 240, 3
"""A gif is scaled down to this width and keeps every third frame (10 fps from 30): a preview (about
0.4 MB for 4 s of the DeepMimic character), not a record."""


def video_path(directory: str | Path, env_id: str, fmt: str = "mp4", stem: str | None = None) -> Path:
    """<directory>/<env>-<timestamp>.<fmt> (or <stem>.<fmt>)."""
    if fmt not in VIDEO_FORMATS:
        raise ValueError(f"unknown video format {fmt!r}: choose one of {', '.join(VIDEO_FORMATS)}")
    stem = stem or f"{env_id.replace('/', '_')}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    return Path(directory) / f"{stem}.{fmt}"


def write_video(frames: Iterable[np.ndarray], path: str | Path, fps: float = 30) -> Path:
    """Encode RGB uint8 frames; .mp4 uses H.264, .avi MPEG-4 part 2, .gif a looping preview (see GIF_WIDTH).
    Returns the path."""
    import imageio.v2 as imageio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".gif":
        return _write_gif(frames, path, fps)
    codec = "mpeg4" if path.suffix.lower() == ".avi" else "libx264"
    # macro_block_size=1 keeps odd frame sizes as they are instead of resizing them
    writer = imageio.get_writer(path, fps=fps, codec=codec, macro_block_size=1,
                                **({"quality": 8} if codec == "libx264" else {"bitrate": "4M"}))
    n = 0
    try:
        for frame in frames:
            writer.append_data(np.asarray(frame, dtype=np.uint8))
            n += 1
    finally:
        writer.close()
    if n == 0:
        path.unlink(missing_ok=True)
        raise ValueError(f"no frames to write to {path}")
    return path


def _write_gif(frames: Iterable[np.ndarray], path: Path, fps: float) -> Path:
    import imageio.v3 as iio
    from PIL import Image

    small = []
    for i, frame in enumerate(frames):
        if i % GIF_STRIDE:
            continue
        img = Image.fromarray(np.asarray(frame, dtype=np.uint8))
        if img.width > GIF_WIDTH:
            img = img.resize((GIF_WIDTH, max(1, round(img.height * GIF_WIDTH / img.width))), Image.LANCZOS)
        small.append(np.asarray(img))
    if not small:
        raise ValueError(f"no frames to write to {path}")
    iio.imwrite(path, np.stack(small), extension=".gif", duration=1000.0 * GIF_STRIDE / fps, loop=0)
    return path
