"""What the read side shows about sessions: a summary per session for `ls`, and full
statistics for `show` (core/stats.py), from any store through the session protocols.

The JSONL store lists its sessions faster than the protocol allows, reading bytes
(core/jsonl_summary.py); `summarize_log` is the same summary for any other store.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from . import errors
from .events import (
    Event,
    InvalidEvent,
    ModelRequestEnd,
    SessionCreated,
    StatusIdle,
    UserMessage,
    parse_line,
)
from .session import EventLog, Store, creation_key, last_of, last_status, status

if TYPE_CHECKING:
    from .store import SessionLog

log = logging.getLogger(__name__)

BROKEN = "broken"  # the status `ls` shows for a session whose log it cannot read
PROMPT_CHARS = 100
_HEAD_EVENTS = 64  # the first user.message is looked for this far


@dataclass(frozen=True, kw_only=True)
class SessionSummary:
    """One row of `ls`. `turns` is None when the tail was too long to find it."""

    id: str
    status: str
    created: str | None = None
    last_activity: str | None = None
    turns: int | None = 0
    prompt: str = ""
    parent: str | None = None  # the session this one is a fork of, and the seq it was taken at
    parent_seq: int | None = None
    creation_seq: int | None = None  # see SessionCreated; `ls` shows the order, not the number
    stop_reason: str | None = None  # how it ended: the last idle's, `terminated`, or None

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        del body["creation_seq"]
        return body


@contextmanager
def reading(session: EventLog) -> Iterator[None]:
    """Turn an OS error while reading `session` into LogCorrupt (one line, no traceback)."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise errors.LogCorrupt(f"cannot read session {session.id}: {reason}") from None


def check_log(session: SessionLog) -> SessionCreated:
    """The JSONL session's first event, or LogCorrupt saying what is wrong with its first
    line (the protocol skips a bad line; a person wants to know why)."""
    with reading(session), open(session.log_path, "rb") as f:
        first = f.readline()
    if not first:
        raise errors.LogCorrupt(
            f"session {session.id}: its log is empty; remove it with: tether rm {session.id}"
        )
    try:
        event = parse_line(first) if first.endswith(b"\n") else None
    except InvalidEvent as exc:
        raise errors.LogCorrupt(f"session {session.id}: the first line is bad ({exc})") from None
    if not isinstance(event, SessionCreated):
        raise errors.LogCorrupt(f"session {session.id}: the log does not start with a session")
    return event


# -- ls ------------------------------------------------------------------------


def list_sessions(store: Store) -> list[SessionSummary]:
    """A summary of every session, the last created first."""
    summaries = store.summaries()
    summaries.sort(key=lambda s: creation_key(s.creation_seq, s.created, s.id), reverse=True)
    return summaries


def summarize_log(session: EventLog) -> SessionSummary:
    """A session's summary through the protocol: its first events, its last, its status."""
    head = session.read(0, _HEAD_EVENTS)
    if not head or not isinstance(head[0], SessionCreated):
        log.warning("session %s: the log does not start with a session", session.id)
        return SessionSummary(id=session.id, status=BROKEN, turns=None)
    prompt = next((e.content for e in head if isinstance(e, UserMessage)), "")
    end = last_of(session, lambda event: isinstance(event, ModelRequestEnd))
    state, last = status(session), last_status(session)
    return SessionSummary(
        id=session.id,
        status=state,
        created=head[0].ts,
        last_activity=session.read(-1)[0].ts,
        turns=end.turn if isinstance(end, ModelRequestEnd) else 0,
        prompt=prompt_start(prompt),
        parent=head[0].parent,
        parent_seq=head[0].parent_seq,
        creation_seq=head[0].creation_seq,
        stop_reason=stop_reason(state, last),
    )


def stop_reason(state: str, last: Event | None) -> str | None:
    """How a session ended: its last idle's reason, `terminated`, or None (running)."""
    if state == "terminated":
        return "terminated"
    return last.stop_reason if state == "idle" and isinstance(last, StatusIdle) else None


def prompt_start(text: str) -> str:
    """The first PROMPT_CHARS of a prompt, its whitespace folded, for a one-line view."""
    return " ".join(text[: PROMPT_CHARS * 2].split())[:PROMPT_CHARS]
