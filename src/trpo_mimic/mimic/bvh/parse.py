"""Reading BVH text: a small recursive-descent parser; every error names the file and line."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np

from .skeleton import Bvh, BvhError

_CHANNEL_LOOKUP = {f"{a}{k}".lower(): f"{a}{k}" for a in "XYZ" for k in ("position", "rotation")}


class _Tokens:
    """The words of the HIERARCHY section (up to and including MOTION), each with its line."""

    def __init__(self, lines: list[str], name: str) -> None:
        self.items: list[tuple[str, int]] = []
        self.name = name
        self.motion_line = None
        for i, text in enumerate(lines):
            words = text.split()
            if words and words[0].upper() == "MOTION":
                self.items.append(("MOTION", i + 1))
                self.motion_line = i
                break
            self.items.extend((w, i + 1) for w in words)
        self.pos = 0
        self.last_line = max(1, len(lines))

    def error(self, line: int, msg: str) -> BvhError:
        return BvhError(f"{self.name}:{line}: {msg}")

    def peek(self) -> tuple[str, int] | None:
        return self.items[self.pos] if self.pos < len(self.items) else None

    def next(self, what: str) -> tuple[str, int]:
        if self.pos >= len(self.items):
            raise self.error(self.last_line, f"unexpected end of file: expected {what}")
        tok = self.items[self.pos]
        self.pos += 1
        return tok

    def expect(self, word: str) -> int:
        tok, line = self.next(f"'{word}'")
        if tok.upper() != word.upper():
            raise self.error(line, f"expected '{word}', got '{tok}'")
        return line

    def open_brace(self, after: str, eof: str = "") -> None:
        """Consume the '{' that follows ``after``; ``eof`` prefixes the end-of-file message."""
        tok = self.peek()
        if tok is None:
            raise self.error(self.last_line, f"{eof}expected '{{' after {after}")
        if tok[0] != "{":
            raise self.error(tok[1], f"expected '{{' after {after}, got '{tok[0]}'")
        self.pos += 1

    def rest_of_line(self, line: int) -> list[str]:
        out = []
        while self.pos < len(self.items) and self.items[self.pos][1] == line and self.items[self.pos][0] != "{":
            out.append(self.items[self.pos][0])
            self.pos += 1
        return out

    def number(self, what: str) -> float:
        tok, line = self.next(what)
        try:
            v = float(tok)
        except ValueError:
            raise self.error(line, f"expected a number ({what}), got '{tok}'") from None
        if not math.isfinite(v):
            raise self.error(line, f"{what} is not finite ('{tok}')")
        return v

    def offset_xyz(self, what: str) -> np.ndarray:
        return np.array([self.number(f"{what} OFFSET x"), self.number(f"{what} OFFSET y"),
                         self.number(f"{what} OFFSET z")])


class _HierarchyParser:
    """HIERARCHY: ROOT, then per joint OFFSET, CHANNELS, JOINT children and End Sites."""

    def __init__(self, toks: _Tokens) -> None:
        self.toks = toks
        self.joints: list[str] = []
        self.parents: list[int] = []
        self.offsets: list[np.ndarray | None] = []
        self.channels: list[tuple[str, ...]] = []
        self.end_sites: list[tuple[int, np.ndarray]] = []
        self.open_lines: list[int] = []
        self.stack: list[int] = []

    def parse(self) -> None:
        toks = self.toks
        toks.expect("HIERARCHY")
        tok, line = toks.next("ROOT")
        if tok.upper() != "ROOT":
            raise toks.error(line, f"expected 'ROOT', got '{tok}'")
        self.open_joint(line, -1)
        while self.stack:
            self.joint_item(self.stack[-1])
        tok = toks.peek()
        if tok is None:
            raise toks.error(toks.last_line, "unexpected end of file: expected 'MOTION'")
        if tok[0] != "MOTION":
            raise toks.error(tok[1], f"expected 'MOTION', got '{tok[0]}'")

    def joint_name(self, j: int) -> str:
        return f"joint '{self.joints[j]}'"

    def open_joint(self, kind_line: int, parent: int) -> None:
        words = self.toks.rest_of_line(kind_line)
        if not words:
            raise self.toks.error(kind_line, "expected a joint name")
        jname = " ".join(words)
        if jname in self.joints:
            raise self.toks.error(kind_line, f"duplicate joint name '{jname}'")
        self.toks.open_brace(f"joint '{jname}'", eof="unexpected end of file: ")
        self.joints.append(jname)
        self.parents.append(parent)
        self.offsets.append(None)
        self.channels.append(())
        self.open_lines.append(kind_line)
        self.stack.append(len(self.joints) - 1)

    def joint_item(self, j: int) -> None:
        """One statement inside joint j's braces."""
        toks = self.toks
        opened = f"(opened at line {self.open_lines[j]})"
        if toks.peek() is None:
            raise toks.error(toks.last_line, f"unexpected end of file: missing '}}' closing {self.joint_name(j)} "
                             f"{opened}")
        tok, line = toks.next("'}'")
        handler = self._ITEMS.get(tok.upper())
        if handler is None:
            raise toks.error(line, f"unexpected '{tok}' in {self.joint_name(j)}")
        handler(self, j, line)

    def item_motion(self, j: int, line: int) -> None:
        raise self.toks.error(line, f"expected '}}' closing {self.joint_name(j)} "
                              f"(opened at line {self.open_lines[j]}) before MOTION")

    def item_close(self, j: int, line: int) -> None:
        if self.offsets[j] is None:
            raise self.toks.error(line, f"{self.joint_name(j)} has no OFFSET")
        self.stack.pop()

    def item_offset(self, j: int, line: int) -> None:
        if self.offsets[j] is not None:
            raise self.toks.error(line, f"second OFFSET for {self.joint_name(j)}")
        self.offsets[j] = self.toks.offset_xyz(self.joint_name(j))

    def item_channels(self, j: int, line: int) -> None:
        toks = self.toks
        if self.channels[j]:
            raise toks.error(line, f"second CHANNELS for {self.joint_name(j)}")
        ntok, nline = toks.next("the channel count")
        try:
            n = int(ntok)
        except ValueError:
            raise toks.error(nline, f"expected the channel count of {self.joint_name(j)}, got '{ntok}'") from None
        if not 1 <= n <= 6:
            raise toks.error(nline, f"bad channel count {n} for {self.joint_name(j)} (must be 1 to 6)")
        names = toks.rest_of_line(nline)
        if len(names) != n:
            raise toks.error(nline, f"bad channel count: CHANNELS {n} for {self.joint_name(j)} lists "
                             f"{len(names)} channel name(s)")
        self.channels[j] = self.channel_names(j, names, nline)

    def channel_names(self, j: int, names: list[str], line: int) -> tuple[str, ...]:
        unknown = [c for c in names if c.lower() not in _CHANNEL_LOOKUP]
        if unknown:
            raise self.toks.error(line, f"unknown channel '{unknown[0]}' for {self.joint_name(j)} "
                                  "(expected X/Y/Z position or rotation)")
        chans = tuple(_CHANNEL_LOOKUP[c.lower()] for c in names)
        if len(set(chans)) != len(chans):
            raise self.toks.error(line, f"repeated channel for {self.joint_name(j)}")
        return chans

    def item_joint(self, j: int, line: int) -> None:
        self.open_joint(line, j)

    def item_end_site(self, j: int, site_line: int) -> None:
        toks = self.toks
        nxt = toks.peek()
        if nxt is not None and nxt[0].upper() == "SITE":
            toks.pos += 1
        what = f"End Site of {self.joint_name(j)}"
        toks.open_brace(what)
        toks.expect("OFFSET")
        off = toks.offset_xyz(what)
        tok, line = toks.next("'}'")
        if tok != "}":
            raise toks.error(line, f"expected '}}' closing the {what} (opened at line {site_line}), got '{tok}'")
        self.end_sites.append((j, off))

    def item_root(self, j: int, line: int) -> None:
        raise self.toks.error(line, "a second ROOT is not supported")

    _ITEMS = {"MOTION": item_motion, "}": item_close, "OFFSET": item_offset, "CHANNELS": item_channels,
              "JOINT": item_joint, "END": item_end_site, "ROOT": item_root}


class _MotionParser:
    """MOTION: 'Frames: n', 'Frame Time: s', then n lines of channel values."""

    def __init__(self, lines: list[str], name: str, start: int) -> None:
        self.lines, self.name, self.i = lines, name, start

    def error(self, line: int, msg: str) -> BvhError:
        return BvhError(f"{self.name}:{line}: {msg}")

    def next_line(self, what: str) -> tuple[int, str]:
        """(1-based number, stripped text) of the next non-blank line."""
        lines = self.lines
        while self.i < len(lines) and not lines[self.i].strip():
            self.i += 1
        if self.i >= len(lines):
            raise self.error(len(lines), f"unexpected end of file: expected {what}")
        self.i += 1
        return self.i, lines[self.i - 1].strip()

    def header_value(self, pattern: str, what: str, usage: str) -> tuple[int, str]:
        line_no, text = self.next_line(f"'{what}'")
        m = re.fullmatch(pattern, text, flags=re.IGNORECASE)
        if not m:
            raise self.error(line_no, f"expected '{usage}', got '{text}'")
        return line_no, m.group(1)

    def frame_count(self) -> tuple[int, int]:
        line_no, value = self.header_value(r"Frames:\s*(\S+)", "Frames:", "Frames: <count>")
        try:
            n = int(value)
        except ValueError:
            raise self.error(line_no, f"frame count '{value}' is not an integer") from None
        if n < 0:
            raise self.error(line_no, f"frame count {n} is negative")
        return n, line_no

    def frame_time(self) -> tuple[float, int]:
        line_no, value = self.header_value(r"Frame\s+Time:\s*(\S+)", "Frame Time:", "Frame Time: <seconds>")
        try:
            dt = float(value)
        except ValueError:
            dt = float("nan")
        if not (math.isfinite(dt) and dt > 0):
            raise self.error(line_no, f"frame time '{value}' is not a positive number")
        return dt, line_no

    def parse(self, total: int) -> tuple[np.ndarray, float]:
        n_frames, frames_line = self.frame_count()
        frame_time, last_line = self.frame_time()
        mismatch = f"frame count mismatch: 'Frames: {n_frames}' (line {frames_line}) but"
        present = [k + 1 for k in range(self.i, len(self.lines)) if self.lines[k].strip()]
        if n_frames > len(present):  # checked before the frames' memory is asked for (a count may be absurd)
            raise self.error(present[-1] if present else last_line, f"{mismatch} the file has {len(present)} frame "
                             f"line(s)")
        data = np.zeros((n_frames, total))
        count = 0
        for k in range(self.i, len(self.lines)):
            words = self.lines[k].split()
            if not words:
                continue
            if count >= n_frames:
                raise self.error(k + 1, f"{mismatch} more frame lines follow")
            data[count] = self.row(words, k + 1, count, total)
            count += 1
            last_line = k + 1
        if count != n_frames:
            raise self.error(last_line, f"{mismatch} the file has {count} frame line(s)")
        return data, frame_time

    def row(self, words: list[str], line: int, frame: int, total: int) -> list[float]:
        if len(words) != total:
            raise self.error(line, f"frame {frame} has {len(words)} values, expected {total} "
                             f"(the hierarchy's channels)")
        try:
            row = [float(w) for w in words]
        except ValueError:
            bad = next(w for w in words if not _is_float(w))
            raise self.error(line, f"frame {frame}: non-numeric value '{bad}'") from None
        if not all(math.isfinite(v) for v in row):
            bad = next(w for w in words if not math.isfinite(float(w)))
            raise self.error(line, f"frame {frame}: non-finite value '{bad}'")
        return row


def _is_float(w: str) -> bool:
    try:
        float(w)
        return True
    except ValueError:
        return False


def parse_bvh(text: str, name: str = "bvh") -> Bvh:
    """Parse BVH text; ``name`` prefixes error messages."""
    lines = text.splitlines()
    toks = _Tokens(lines, name)
    h = _HierarchyParser(toks)
    h.parse()
    data, frame_time = _MotionParser(lines, name, toks.motion_line + 1).parse(sum(len(c) for c in h.channels))
    return Bvh(h.joints, h.parents, np.array(h.offsets, dtype=np.float64).reshape(-1, 3), h.channels, data,
               frame_time, h.end_sites, name)


def read_bvh(path: str | os.PathLike) -> Bvh:
    """Read and validate a BVH file (errors are :class:`BvhError` naming file and line)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="strict")
    except FileNotFoundError:
        raise BvhError(f"{p.name}: no such BVH file (looked at {p.resolve()})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BvhError(f"{p.name}: unreadable: {exc}") from None
    return parse_bvh(text, p.name)
