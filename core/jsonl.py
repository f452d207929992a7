"""Line-level reading of an append-only JSONL file, fast on gigabyte logs.

Where the complete lines end (anything after is a torn tail a crash left),
the lines read backwards from the end in blocks, and the offset of the first
line at or past a sequence number, found by bisection. These know bytes and
newlines only; what a line means is the caller's business.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import BinaryIO

BLOCK = 64 * 1024


def complete_end(fd: int, size: int) -> int:
    """Offset just past the last newline: where the complete lines end."""
    position = size
    while position > 0:
        step = min(BLOCK, position)
        block = os.pread(fd, step, position - step)
        newline = block.rfind(b"\n")
        if newline >= 0:
            return position - step + newline + 1
        position -= step
    return 0


def lines_backwards(f: BinaryIO, end: int) -> Iterator[bytes]:
    """The non-empty lines of f[:end] from last to first, read in blocks from the end."""
    position, tail = end, b""
    while position > 0:
        size = min(BLOCK, position)
        position -= size
        f.seek(position)
        lines = (f.read(size) + tail).split(b"\n")
        tail = lines[0]
        yield from (line for line in reversed(lines[1:]) if line)
    if tail:
        yield tail


def offset_of(f: BinaryIO, target: int, number_of: Callable[[bytes], int | None]) -> int:
    """Offset of the first line whose number (seq) is >= `target`, by bisection.

    Numbers grow line by line, so a gigabyte log takes about thirty reads.
    Lines `number_of` cannot read (it returns None) are stepped over.
    """
    if target <= 0:
        return 0
    lo, hi = 0, os.fstat(f.fileno()).st_size
    while lo < hi:
        mid = (lo + hi) // 2
        line_start, found = _number_at_or_after(f, mid, hi, number_of)
        if found is None or found >= target:
            hi = mid
        else:
            lo = max(line_start + 1, mid + 1)
    return _line_start_at_or_after(f, lo)


def _line_start_at_or_after(f: BinaryIO, offset: int) -> int:
    if offset == 0:
        return 0
    f.seek(offset - 1)
    if f.read(1) == b"\n":
        return offset
    f.readline()
    return f.tell()


def _number_at_or_after(
    f: BinaryIO, offset: int, limit: int, number_of: Callable[[bytes], int | None]
) -> tuple[int, int | None]:
    """(start, number) of the first readable line starting at or after `offset`."""
    start = _line_start_at_or_after(f, offset)
    f.seek(start)
    while start < limit:
        line = f.readline()
        if not line.endswith(b"\n"):
            return start, None
        number = number_of(line)
        if number is not None:
            return start, number
        start += len(line)
    return start, None
