"""The session store: one append-only JSONL log per session, under the data dir.

    sessions/<id>/events.jsonl   one event a line, fsynced before append returns
    sessions/<id>/lock           flock()ed by the one process that may append

Readers never lock and never write. A crash can leave a torn last line:
readers skip it with a warning, and the next writer cuts it off before its
first append.
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from . import errors, jsonl, paths
from .events import STATUS_TYPES, Event, InvalidEvent, parse_line

log = logging.getLogger(__name__)

LOG_NAME = "events.jsonl"
LOCK_NAME = "lock"
_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, sorts like time
_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


_issued: tuple[int, set[str]] = (0, set())  # this process's ids of the current millisecond


def new_session_id() -> str:
    """13 characters: 9 of milliseconds since the epoch (sortable), 4 random.

    Four random characters are 20 bits, so ids made in a burst within one
    millisecond would collide about once in 2,000 pairs; this process never
    hands out the same one twice.
    """
    global _issued
    ms = time.time_ns() // 1_000_000
    stamp = "".join(_ID_ALPHABET[(ms >> shift) & 31] for shift in range(40, -5, -5))
    if _issued[0] != ms:
        _issued = (ms, set())
    while True:
        suffix = "".join(secrets.choice(_ID_ALPHABET) for _ in range(4))
        if suffix not in _issued[1]:
            _issued[1].add(suffix)
            return stamp + suffix


def check_session_id(session_id: str) -> str:
    if not _ID_PATTERN.fullmatch(session_id):
        raise errors.UsageError(
            f"bad session id {session_id!r}: use 1-64 letters, digits, '.', '_' or '-'"
        )
    return session_id


class SessionStore:
    """All sessions under one data directory."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else paths.sessions_dir()

    def create(self, first: Event, session_id: str | None = None) -> SessionLog:
        """Create a session whose first event is `first` (a SessionCreated), locked for writing."""
        session_id = check_session_id(session_id) if session_id else new_session_id()
        directory = self.root / session_id
        try:
            paths.ensure_private_dir(self.root.parent)
            paths.ensure_private_dir(self.root)
            directory.mkdir(mode=0o700)
        except FileExistsError:
            raise errors.SessionExists(f"session {session_id} already exists") from None
        except OSError as exc:
            raise storage_error(f"cannot create a session in {self.root}", exc) from None
        session = SessionLog(directory)
        try:
            session.append(first)
        except errors.StorageError:
            session.close()  # a session without its first event is no session: leave none
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return session

    def ids(self) -> list[str]:
        try:
            return [e.name for e in os.scandir(self.root) if e.is_dir()]
        except FileNotFoundError:
            return []

    def resolve(self, prefix: str) -> str:
        """The one session id that is `prefix` or starts with it."""
        ids = self.ids()
        if prefix in ids:
            return prefix
        matches = sorted(i for i in ids if i.startswith(prefix)) if prefix else []
        if not matches:
            raise errors.SessionNotFound(f"no session matches {prefix!r}")
        if len(matches) > 1:
            shown = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
            raise errors.AmbiguousSession(
                f"{prefix!r} matches {len(matches)} sessions ({shown}); give more characters"
            )
        return matches[0]

    def open(self, prefix: str) -> SessionLog:
        session = SessionLog(self.root / self.resolve(prefix))
        if not session.log_path.exists():
            raise errors.LogCorrupt(
                f"session {session.id} has no log ({LOG_NAME} is missing); "
                f"remove it with: tether rm {session.id}"
            )
        return session

    def last(self) -> SessionLog:
        """The most recently created session."""
        newest: tuple[str, str] | None = None
        for session_id in self.ids():
            created = SessionLog(self.root / session_id).created_ts()
            if created is not None and (newest is None or (created, session_id) > newest):
                newest = (created, session_id)
        if newest is None:
            raise errors.SessionNotFound("there are no sessions yet")
        return SessionLog(self.root / newest[1])


class SessionLog:
    """One session's event log. Reading is free; appending takes the session's lock."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.id = directory.name
        self.log_path = directory / LOG_NAME
        self.lock_path = directory / LOCK_NAME
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._next_seq = 0

    # -- writing ---------------------------------------------------------------

    def acquire(self, wait_s: float = 0.2) -> None:
        """Take the session's lock, or raise SessionBusy if another process holds it.

        Readers that test the lock hold it shared for microseconds, so a busy lock
        is tried again for `wait_s` before it counts as another writer's.
        """
        if self._lock_fd is not None:
            return
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise storage_error(f"cannot lock session {self.id} ({self.lock_path})", exc) from None
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise errors.SessionBusy(
                        f"session {self.id} is running in another harness"
                    ) from None
                time.sleep(0.01)
        self._lock_fd = fd

    def append(self, event: Event) -> int:
        """Write `event` with the next seq, fsync it, and return the seq."""
        return self.append_many([event])[0].seq

    def append_many(self, events: Iterable[Event]) -> list[Event]:
        """Write events with consecutive seqs and one fsync; returns them as written.

        On failure (a full disk, say) the file is cut back to where it was, so
        no torn line stays behind and the seqs stay gap-free.
        """
        if self._fd is None:
            self._open_for_append()
        assert self._fd is not None
        written = [replace(e, seq=self._next_seq + i) for i, e in enumerate(events)]
        data = "".join(e.to_json() + "\n" for e in written).encode()
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
        return written

    def close(self) -> None:
        """Release the lock and the file; the log stays as it is."""
        for fd in (self._fd, self._lock_fd):
            if fd is not None:
                os.close(fd)
        self._fd = self._lock_fd = None

    def _open_for_append(self) -> None:
        self.acquire()
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
        if start < 0 and stop is None:
            return self._read_tail(-start)
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

    # -- status ----------------------------------------------------------------

    def is_locked(self) -> bool:
        """Whether some process (a live harness) holds the session's lock."""
        return self._lock_fd is not None or lock_held(self.lock_path)

    def last_status(self) -> Event | None:
        """The latest status event, however far back it is, read from the end."""
        return next((e for e in self._events_backwards() if e.TYPE in STATUS_TYPES), None)

    def status(self) -> str:
        """running, idle, terminated or crashed: derived from the log and the lock."""
        if self.is_locked():
            return "running"
        last = self.last_status()
        if last is None or last.TYPE == "session.status_running":
            return "crashed"
        return "terminated" if last.TYPE == "session.status_terminated" else "idle"

    def created_ts(self) -> str | None:
        """The `ts` of the first event, read from the first line only."""
        try:
            with open(self.log_path, "rb") as f:
                first = f.readline()
        except OSError:
            return None
        event = _parse_or_warn(self.id, first) if first.endswith(b"\n") else None
        return event.ts if event is not None else None


def storage_error(doing: str, exc: OSError) -> errors.StorageError:
    """A StorageError for a failed write, with what to do about it."""
    remedy = _REMEDIES.get(exc.errno or 0, "check the data dir")
    return errors.StorageError(
        f"{doing}: {exc.strerror or exc}; {remedy}, or set TETHER_HOME to another directory"
    )


_REMEDIES = {
    errno.ENOSPC: "free some space",
    errno.EDQUOT: "free some space",
    errno.EROFS: "remount it writable",
    errno.EACCES: "make it writable",
    errno.EPERM: "make it writable",
}


def lock_held(lock_path: str | os.PathLike[str]) -> bool:
    """Whether some process holds the lock file's flock (tested shared, for microseconds)."""
    try:
        fd = os.open(lock_path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        return exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
    finally:
        os.close(fd)
    return False


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
