"""The session seam: what the harness, `ls`, `tail` and `kill` may ask of a session's
log and of the store that holds the logs, and nothing more.

`EventLog` is one session's append-only log, the only truth: append, read a
positional slice, follow, and a writer lock (`SessionLock`). `Store` holds the
logs. The JSONL directory under the data dir (core/store.py) implements them;
the tests run the harness on an in-memory store too. docs/stores.md says what
a shared store (an object store, Postgres) must guarantee to serve many
harnesses on many machines.

Session ids are the store's keys, made here: sortable by time, safe as file names.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Protocol

from . import errors
from .events import STATUS_TYPES, Event, StatusRunning, StatusTerminated
from .holder import HARNESS, Holder

if TYPE_CHECKING:
    from .summary import SessionSummary

_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, sorts like time
_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class SessionLock(Protocol):
    """One writer per session at a time, across processes (and machines, for a shared store)."""

    def acquire(self, wait_s: float = 0.2, role: str = HARNESS) -> None:
        """Become the session's writer, recorded as this process in `role` ("harness" for
        a run, else the command); idempotent. SessionBusy if another holds it."""
        ...

    def release(self) -> None:
        """Stop being the writer (a dead holder's lock is released by its death)."""
        ...

    def held(self) -> bool:
        """Whether anyone (this process included) is the writer now."""
        ...

    def holder(self) -> Holder | None:
        """The process recorded as the writer when it took the lock (`tether kill` verifies
        it before any signal); None if nobody holds it or it has not recorded itself yet."""
        ...


class EventLog(Protocol):
    """One session's events: appended with gap-free seqs, never rewritten, read by anyone
    without a lock."""

    id: str

    @property
    def lock(self) -> SessionLock:
        """The session's writer lock."""
        ...

    def append_many(self, events: Iterable[Event]) -> list[Event]:
        """Give `events` the next seqs, redact any secret in them (`redact.recordable`) and
        make them durable before returning them as written (all or none). Only the lock's
        holder appends. StorageError if it cannot."""
        ...

    def read(self, start: int = 0, stop: int | None = None) -> list[Event]:
        """Events [start:stop] by position, like a list slice; negative counts from the end."""
        ...

    def follow(
        self, since: int = 0, until: Callable[[], bool] = lambda: False, poll_s: float = 0.01
    ) -> Iterator[Event]:
        """Events with seq >= `since` as they are appended; stops once `until()` is true and
        everything appended before that has been yielded."""
        ...


class Store(Protocol):
    """All the sessions: create one, open one by id (or unique prefix), list them."""

    def create(self, first: Event, session_id: str | None = None) -> EventLog:
        """A new session whose first event is `first` (a SessionCreated, given the store's
        next `creation_seq`), its lock held by the caller. SessionExists if the id is taken."""
        ...

    def open(self, prefix: str) -> EventLog:
        """The session whose id is or starts with `prefix`; SessionNotFound, AmbiguousSession."""
        ...

    def ids(self) -> list[str]:
        """Every session's id, in no particular order."""
        ...

    def summaries(self) -> list[SessionSummary]:
        """A summary of every session (what `ls` shows), in no particular order."""
        ...


# -- what follows from the protocol ------------------------------------------------------


def last_of(log: EventLog, wanted: Callable[[Event], bool], window: int = 64) -> Event | None:
    """The latest event that is `wanted`, however far back, read back from the end in
    windows that double (so a long way back costs about twice the reading)."""
    stop: int | None = None
    while True:
        start = -window if stop is None else stop - window
        chunk = log.read(start, stop)
        found = next((e for e in reversed(chunk) if wanted(e)), None)
        if found is not None or len(chunk) < (stop or 0) - start:
            return found
        stop, window = start, window * 2


def last_status(log: EventLog) -> Event | None:
    """The latest status event, however far back it is."""
    return last_of(log, lambda event: event.TYPE in STATUS_TYPES)


def status(log: EventLog) -> str:
    """running, idle, terminated or crashed: derived from the log and the lock."""
    if log.lock.held():
        return "running"
    last = last_status(log)
    if last is None or isinstance(last, StatusRunning):
        return "crashed"
    return "terminated" if isinstance(last, StatusTerminated) else "idle"


def iter_events(log: EventLog, chunk: int = 4096) -> Iterator[Event]:
    """Every event in order, read a chunk at a time (a long log never sits in memory)."""
    start = 0
    while True:
        events = log.read(start, start + chunk)
        yield from events
        if not events:
            return
        start = events[-1].seq + 1


def creation_key(
    creation_seq: int | None, created: str | None, session_id: str
) -> tuple[int, str, str]:
    """A sort key for sessions in the order they were created, whatever the clocks said:
    by the number their store gave them, and sessions from before numbers (or whose first
    event is unreadable) first, among themselves by the time of their first event."""
    return (creation_seq or 0, created or "", session_id)


def resolve_prefix(
    ids: Iterable[str], prefix: str, order: Callable[[str], tuple[int, str, str]] | None = None
) -> str:
    """The one id that is `prefix` or starts with it. An ambiguous prefix lists its
    matches newest first, as `ls` does: by `order` (an id's `creation_key`) if given,
    else by id (tether's ids sort by time)."""
    ids = list(ids)
    if prefix in ids:
        return prefix
    matches = [i for i in ids if i.startswith(prefix)] if prefix else []
    if not matches:
        raise errors.SessionNotFound(f"no session matches {prefix!r}")
    if len(matches) > 1:
        matches.sort(key=order or (lambda i: creation_key(None, None, i)), reverse=True)
        shown = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
        raise errors.AmbiguousSession(
            f"{prefix!r} matches {len(matches)} sessions ({shown}); give more characters"
        )
    return matches[0]


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
