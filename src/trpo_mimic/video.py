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


class VideoWriter:
    """Frames written as they come (`append`), so an episode's video holds one frame in memory whatever its
    length: .mp4 (H.264) and .avi (MPEG-4 part 2) through imageio's ffmpeg writer; a .gif keeps only its scaled,
    strided frames (see GIF_WIDTH) and is written at `close`. The file is opened with the first frame;
    `abort` removes a half-written one."""

    def __init__(self, path: str | Path, fps: float = 30) -> None:
        self.path, self.fps = Path(path), fps
        self.count = 0
        self._started = False
        self._writer = None
        self._small: list[np.ndarray] = []

    def append(self, frame: np.ndarray) -> None:
        frame = np.asarray(frame, dtype=np.uint8)
        self._started = True
        if self.path.suffix.lower() == ".gif":
            if self.count % GIF_STRIDE == 0:
                self._small.append(_gif_frame(frame))
        else:
            try:
                if self._writer is None:
                    codec = "mpeg4" if self.path.suffix.lower() == ".avi" else "libx264"
                    # macro_block_size=1 keeps odd frame sizes as they are instead of resizing them
                    self._writer = ffmpeg_writer(self.path, fps=self.fps, codec=codec, macro_block_size=1,
                                                 **({"quality": 8} if codec == "libx264" else {"bitrate": "4M"}))
                self._writer.append_data(frame)
            except OSError as exc:
                raise named(exc, self.path) from exc
        self.count += 1

    def close(self) -> Path | None:
        """Finish the file; its path, or None when no frame came."""
        if self.count == 0:
            return None
        try:
            if self._writer is not None:
                writer, self._writer = self._writer, None
                writer.close()
            elif self._small:
                import imageio.v3 as iio
                self.path.parent.mkdir(parents=True, exist_ok=True)
                small, self._small = self._small, []
                gif = iio.imopen(self.path, "w", legacy_mode=False, extension=".gif")
                try:
                    gif.write(np.stack(small), duration=1000.0 * GIF_STRIDE / self.fps, loop=0)
                    gif.close()
                except BaseException:
                    discard(gif)
                    raise
        except OSError as exc:
            raise named(exc, self.path) from exc
        return self.path

    def abort(self) -> None:
        """Stop and remove the file (a failed episode or a failed write leaves no unplayable video)."""
        writer, self._writer, self._small = self._writer, None, []
        if writer is not None:
            try:
                writer.close()
            except Exception:
                pass
        if self._started:
            self.path.unlink(missing_ok=True)


def ffmpeg_writer(path: Path, **kwargs: object) -> object:
    """imageio's ffmpeg writer of `path`, the file opened here first and ffmpeg kept quiet: a path that cannot be
    written is an OSError naming it (not ffmpeg's own lines on stderr), and one that fails later (a full disk) is
    the one line of `named`."""
    import imageio.v2 as imageio
    path.parent.mkdir(parents=True, exist_ok=True)
    open(path, "wb").close()
    return imageio.get_writer(path, ffmpeg_log_level="quiet", **kwargs)


def discard(writer: object) -> None:
    """After a failed write: keep imageio from trying again when the writer is collected (its __del__ closes it,
    and a pillow writer would then save its frames a second time, printing the same error as a traceback)."""
    plugin = getattr(writer, "instance", writer)
    frames = getattr(plugin, "images_to_write", None)
    if isinstance(frames, list):
        frames.clear()
    request = getattr(plugin, "_request", None)
    if request is not None:
        try:  # closes the file, whose buffered bytes could not be written either
            request.finish()
        except Exception:
            pass
    try:
        writer.closed = True  # imageio's legacy writer (a property elsewhere)
    except AttributeError:
        pass


def named(exc: OSError, path: Path) -> OSError:
    """`exc` as an OSError that names the video it failed to write: imageio reports ffmpeg's end (a full disk, a
    lost file system) as an IOError of several lines with no file name."""
    if exc.filename is not None:
        return exc
    lines = (exc.strerror or str(exc)).strip().splitlines()
    if exc.strerror is None and (isinstance(exc.__context__, BrokenPipeError) or "FFMPEG COMMAND" in str(exc)):
        from .faults import free_space
        # (errno None: an OSError made with EPIPE would be a BrokenPipeError, the end of a reader of stdout)
        return OSError(None, f"the video encoder (ffmpeg) stopped writing it ({free_space(path.parent)})", str(path))
    return OSError(exc.errno, lines[0] if lines else type(exc).__name__, str(path))


def write_video(frames: Iterable[np.ndarray], path: str | Path, fps: float = 30) -> Path:
    """Encode RGB uint8 frames; .mp4 uses H.264, .avi MPEG-4 part 2, .gif a looping preview (see GIF_WIDTH).
    Returns the path."""
    video = VideoWriter(path, fps)
    try:
        for frame in frames:
            video.append(frame)
        out = video.close()
    except BaseException:
        video.abort()
        raise
    if out is None:
        raise ValueError(f"no frames to write to {path}")
    return out


def _gif_frame(frame: np.ndarray) -> np.ndarray:
    from PIL import Image

    img = Image.fromarray(frame)
    if img.width > GIF_WIDTH:
        img = img.resize((GIF_WIDTH, max(1, round(img.height * GIF_WIDTH / img.width))), Image.LANCZOS)
    return np.asarray(img)
