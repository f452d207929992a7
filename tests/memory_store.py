"""A second implementation of the session store, in memory, to prove the seam: the
harness, `ls`'s summaries, `tail`'s follow and `kill` run on it unchanged.

Every `open()` of a session gives a new handle onto the same events and the same
lock, as two processes opening one JSONL log would have.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace

from tether.core import errors
from tether.core.events import Event, SessionCreated
from tether.core.holder import HARNESS, Holder, this_process
from tether.core.redact import recordable
from tether.core.session import EventLog, check_session_id, new_session_id, resolve_prefix
from tether.core.summary import SessionSummary, summarize_log


@dataclass
class _Shared:
    """What every handle onto one session sees: its events and who holds its lock."""

    events: list[Event] = field(default_factory=list)
    holder: object | None = None
    record: Holder | None = None  # the process that holds it, as a SessionLock says
    changed: threading.Condition = field(default_factory=threading.Condition)


class MemoryLock:
    """A SessionLock held by one handle at a time."""

    def __init__(self, shared: _Shared, session_id: str) -> None:
        self.shared = shared
        self.session_id = session_id

    def acquire(self, wait_s: float = 0.2, role: str = HARNESS) -> None:
        deadline = time.monotonic() + wait_s
        with self.shared.changed:
            while self.shared.holder not in (None, self):
                if not self.shared.changed.wait(max(0.0, deadline - time.monotonic())):
                    raise errors.SessionBusy(f"session {self.session_id} is held by another")
            if self.shared.holder is not self:
                self.shared.holder, self.shared.record = self, this_process(role)

    def release(self) -> None:
        with self.shared.changed:
            if self.shared.holder is self:
                self.shared.holder = None
                self.shared.changed.notify_all()

    def held(self) -> bool:
        return self.shared.holder is not None

    def holder(self) -> Holder | None:
        return self.shared.record if self.held() else None


class MemoryLog:
    """One handle onto a session's events (an EventLog)."""

    def __init__(self, session_id: str, shared: _Shared) -> None:
        self.id = session_id
        self.shared = shared
        self.lock = MemoryLock(shared, session_id)

    def append_many(self, events: Iterable[Event]) -> list[Event]:
        with self.shared.changed:
            if self.shared.holder is not self.lock:
                self.lock.acquire()  # as the JSONL log does: appending takes the lock
            start = len(self.shared.events)
            numbered = [replace(e, seq=start + i) for i, e in enumerate(events)]
            written = [recordable(event)[0] for event in numbered]
            self.shared.events.extend(written)
            self.shared.changed.notify_all()
        return written

    def read(self, start: int = 0, stop: int | None = None) -> list[Event]:
        with self.shared.changed:
            return self.shared.events[start:stop]

    def follow(
        self, since: int = 0, until: Callable[[], bool] = lambda: False, poll_s: float = 0.01
    ) -> Iterator[Event]:
        position = since
        while True:
            found = self.read(position)
            yield from found
            position += len(found)
            if not found:
                if until() and len(self.read(position)) == 0:
                    return
                with self.shared.changed:
                    self.shared.changed.wait(poll_s)


class MemoryStore:
    """Sessions in a dict (a Store)."""

    def __init__(self) -> None:
        self.sessions: dict[str, _Shared] = {}

    def create(self, first: Event, session_id: str | None = None) -> EventLog:
        session_id = check_session_id(session_id) if session_id else new_session_id()
        if session_id in self.sessions:
            raise errors.SessionExists(f"session {session_id} already exists")
        self.sessions[session_id] = _Shared()
        log = MemoryLog(session_id, self.sessions[session_id])
        if isinstance(first, SessionCreated):  # numbered in creation order, as a Store does
            first = replace(first, creation_seq=len(self.sessions))
        log.append_many([first])
        return log

    def open(self, prefix: str) -> EventLog:
        session_id = resolve_prefix(self.ids(), prefix)
        return MemoryLog(session_id, self.sessions[session_id])

    def ids(self) -> list[str]:
        return list(self.sessions)

    def summaries(self) -> list[SessionSummary]:
        return [summarize_log(self.open(session_id)) for session_id in self.ids()]
