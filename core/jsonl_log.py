"""One session's JSONL log: `SessionLog`, the file `events.jsonl` in the session's
directory (a `session.EventLog`; `store.SessionStore` is the directory of them).

Appending takes the session's lock (the file `lock` beside the log) and fsyncs
before it returns. Readers never lock and never write. A crash can leave a torn
last line: readers skip it with a warning, and the next writer cuts it off before
its first append.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from . import jsonl, redact
from .errors import storage_error
from .events import Event, InvalidEvent, parse_line
from .flock import FileLock
from .session import last_status
from .session import status as session_status

log = logging.getLogger(__name__)

LOG_NAME = "events.jsonl"
LOCK_NAME = "lock"


class SessionLog:
    """One session's JSONL log (a `session.EventLog`). Reading is free; appending takes
    the session's lock."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.id = directory.name
        self.log_path = directory / LOG_NAME
        self.lock_path = directory / LOCK_NAME
        self.lock = FileLock(self.lock_path, self.id, on_release=self._close_file)
        self._fd: int | None = None
        self._next_seq = 0

    # -- writing ---------------------------------------------------------------

    def append(self, event: Event) -> int:
        """Write `event` with the next seq, fsync it, and return the seq."""
        return self.append_many([event])[0].seq

    def append_many(self, events: Iterable[Event]) -> list[Event]:
        """Write events with consecutive seqs and one fsync; returns them as written,
        with any secret in them redacted (see `redact`).

        On failure (a full disk, say) the file is cut back to where it was, so
        no torn line stays behind and the seqs stay gap-free.
        """
        if self._fd is None:
            self._open_for_append()
        assert self._fd is not None
        written = [
            redact.recordable(replace(e, seq=self._next_seq + i)) for i, e in enumerate(events)
        ]
        data = "".join(line + "\n" for _, line in written).encode()
        size = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            done = os.write(self._fd, data)
            while done < len(data):
                done += os.write(self._fd, data[done:])
            os.fsync(self._fd)
        except OSError as exc:
            self._undo_partial(size)
            raise storage_error(f"could not write to {self.log_path}", exc) from exc
        self._next_seq += len(written)
        return [event for event, _ in written]

    def _close_file(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _open_for_append(self) -> None:
        self.lock.acquire()
        try:
            self._fd = os.open(
                self.log_path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600
            )
            self._repair_torn_tail()
        except OSError as exc:
            raise storage_error(f"could not open {self.log_path} for writing", exc) from None
        last = self.read(-1)
        self._next_seq = last[0].seq + 1 if last else 0

    def _repair_torn_tail(self) -> None:
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        end = jsonl.complete_end(self._fd, size)
        if end != size:
            log.warning("session %s: cutting a torn last line (%d bytes)", self.id, size - end)
            os.ftruncate(self._fd, end)
            os.fsync(self._fd)

    def _undo_partial(self, size: int) -> None:
        """After a failed write, cut the file back so no torn line stays behind."""
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, size)
            os.fsync(self._fd)
        except OSError:
            pass

    # -- reading ---------------------------------------------------------------

    def read(self, start: int = 0, stop: int | None = None) -> list[Event]:
        """Events `[start:stop]` by position, like a list slice; negative counts from the end."""
        if start < 0 and (stop is None or stop < 0):
            tail = self._read_tail(-start)  # from the end: a window costs its own size
            return tail if stop is None else tail[: max(0, len(tail) + stop)]
        if start < 0 or (stop is not None and stop < 0):
            return self.read()[start:stop]
        return list(self._iter_from(start, stop))

    def __iter__(self) -> Iterator[Event]:
        return self._iter_from(0, None)

    def follow(
        self, since: int = 0, until: Callable[[], bool] = lambda: False, poll_s: float = 0.01
    ) -> Iterator[Event]:
        """Yield events with seq >= `since` as they are appended.

        Checks `until()` whenever there is nothing new, and stops once it returns
        True and everything written before that has been yielded.
        """
        with open(self.log_path, "rb") as f:
            f.seek(jsonl.offset_of(f, since, _seq_of))
            pending = b""
            while True:
                chunk = f.read(jsonl.BLOCK)
                if chunk:
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    yield from _parse_lines(self.id, lines, since)
                    continue
                if until():
                    if not f.read(1):
                        return
                    f.seek(-1, os.SEEK_CUR)
                    continue
                time.sleep(poll_s)

    def _iter_from(self, start: int, stop: int | None) -> Iterator[Event]:
        with open(self.log_path, "rb") as f:
            f.seek(jsonl.offset_of(f, start, _seq_of))
            for line in f:
                if not line.endswith(b"\n"):
                    log.warning("session %s: skipping a torn last line", self.id)
                    return
                event = _parse_or_warn(self.id, line)
                if event is None or event.seq < start:
                    continue
                if stop is not None and event.seq >= stop:
                    return
                yield event

    def _read_tail(self, count: int) -> list[Event]:
        """The last `count` valid events, reading backwards from the end of the file."""
        found = list(itertools.islice(self._events_backwards(), count))
        found.reverse()
        return found

    def _events_backwards(self) -> Iterator[Event]:
        for line in self._lines_backwards():
            event = _parse_or_warn(self.id, line)
            if event is not None:
                yield event

    def _lines_backwards(self) -> Iterator[bytes]:
        """Complete lines from last to first; a torn last line is skipped with a warning."""
        with open(self.log_path, "rb") as f:
            end = os.fstat(f.fileno()).st_size
            complete = jsonl.complete_end(f.fileno(), end)
            if complete != end:
                log.warning("session %s: skipping a torn last line", self.id)
            yield from jsonl.lines_backwards(f, complete)

    # -- shorthands for code that holds this class (the protocol's way is on the right) ----

    def acquire(self, wait_s: float = 0.2) -> None:
        self.lock.acquire(wait_s)  # session.lock.acquire()

    def close(self) -> None:
        """Release the lock and the file; the log stays as it is."""
        self.lock.release()  # session.lock.release()

    def is_locked(self) -> bool:
        return self.lock.held()  # session.lock.held()

    def last_status(self) -> Event | None:
        return last_status(self)

    def status(self) -> str:
        return session_status(self)


def _parse_or_warn(session_id: str, line: bytes) -> Event | None:
    try:
        return parse_line(line)
    except InvalidEvent as exc:
        log.warning("session %s: skipping a bad line (%s)", session_id, exc)
        return None


def _parse_lines(session_id: str, lines: list[bytes], since: int) -> Iterator[Event]:
    for line in lines:
        event = _parse_or_warn(session_id, line) if line else None
        if event is not None and event.seq >= since:
            yield event


def _seq_of(line: bytes) -> int | None:
    try:
        return parse_line(line).seq
    except InvalidEvent:
        return None
