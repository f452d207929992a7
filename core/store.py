"""The JSONL directory store: one append-only JSONL log per session, under the data dir.
It implements the session protocols of core/session.py (`Store` here, `EventLog` in
`jsonl_log`, whose `SessionLog` is re-exported here).

    sessions/<id>/events.jsonl   one event a line, fsynced before append returns
    sessions/<id>/lock           flock()ed by the one process that may append
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import errors, paths
from .creation_seq import take_next
from .errors import storage_error
from .events import Event, SessionCreated
from .flock import lock_held
from .jsonl_log import LOG_NAME, SessionLog
from .session import check_session_id, creation_key, new_session_id, resolve_prefix

if TYPE_CHECKING:
    from .summary import SessionSummary

__all__ = ["SessionStore", "SessionLog", "check_session_id", "new_session_id", "lock_held"]


class SessionStore:
    """All sessions under one data directory (a `session.Store`)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else paths.sessions_dir()

    def create(self, first: Event, session_id: str | None = None) -> SessionLog:
        """Create a session whose first event is `first` (a SessionCreated, numbered here
        in creation order), locked for writing."""
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
            session.append(self._numbered(first))
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
        return resolve_prefix(self.ids(), prefix, order=self._creation_order)

    def _creation_order(self, session_id: str) -> tuple[int, str, str]:
        """Where the session stands in creation order (see creation_key), for ambiguity."""
        first = self._first(session_id)
        if first is None:
            return creation_key(None, None, session_id)
        return creation_key(first.creation_seq, first.ts, session_id)

    def open(self, prefix: str) -> SessionLog:
        session = SessionLog(self.root / self.resolve(prefix))
        if not session.log_path.exists():
            raise errors.LogCorrupt(
                f"session {session.id} has no log ({LOG_NAME} is missing); "
                f"remove it with: tether rm {session.id}"
            )
        return session

    def last(self) -> SessionLog:
        """The session created last: by creation number, never by a clock (see creation_key)."""
        found = [(self._first(session_id), session_id) for session_id in self.ids()]
        created = [creation_key(e.creation_seq, e.ts, i) for e, i in found if e is not None]
        if not created:
            raise errors.SessionNotFound("there are no sessions yet")
        return SessionLog(self.root / max(created)[2])

    def _numbered(self, first: Event) -> Event:
        """`first` with the next creation number: the store's, whatever it held (a fork
        copies its parent's session.created)."""
        if not isinstance(first, SessionCreated):
            return first
        return replace(first, creation_seq=take_next(self.root, self._highest_number))

    def _highest_number(self) -> int:
        """The highest creation number a session records (the counter was lost)."""
        found = (self._first(session_id) for session_id in self.ids())
        return max((e.creation_seq or 0 for e in found if e is not None), default=0)

    def _first(self, session_id: str) -> SessionCreated | None:
        """The session's first event; None for a broken session (nobody's last)."""
        with contextlib.suppress(OSError):
            first = SessionLog(self.root / session_id).read(0, 1)
            return first[0] if first and isinstance(first[0], SessionCreated) else None
        return None

    def summaries(self) -> list[SessionSummary]:
        """Every session's summary, each from the head and tail of its log (see jsonl_summary)."""
        from .jsonl_summary import summarize

        try:
            ids = self.ids()
        except OSError as exc:
            raise errors.LogCorrupt(f"cannot list {self.root}: {exc.strerror}") from None
        root = str(self.root)  # plain strings: pathlib costs more than the reading here
        return [summarize(session_id, os.path.join(root, session_id)) for session_id in ids]
