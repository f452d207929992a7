"""What the read side shows about sessions: a cheap summary per session for `ls`,
and full statistics for `show`.

A summary reads only the head and the tail of a log (a block or two each), so
listing thousands of sessions costs a few syscalls apiece. Lines are picked
by their `"type":"..."` bytes before anything is decoded: inside a JSON
string a quote is always escaped, so those bytes only occur as a real key
(a tool input could nest one, so a candidate is still decoded and checked).
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from . import errors
from .events import (
    SCHEMA_VERSION,
    AgentToolResult,
    AgentToolUse,
    Event,
    InvalidEvent,
    ModelRequestEnd,
    SessionCreated,
    SessionError,
    StatusIdle,
    Usage,
    UserMessage,
    parse_line,
)
from .store import SessionLog, SessionStore

log = logging.getLogger(__name__)

UNREADABLE = "unreadable"  # the status `ls` shows for a log it cannot read
PROMPT_CHARS = 100
_BLOCK = 16 * 1024
_HEAD_LIMIT = 256 * 1024
# Past this much tail without a status event, the last status must be
# `status_running`: only a running harness writes the other events.
_TAIL_LIMIT = 1024 * 1024
_USER_MARK = b'"type":"user.message"'
_STATUS_MARK = b'"type":"session.status_'
_END_MARK = b'"type":"span.model_request_end"'


@dataclass(frozen=True, kw_only=True)
class SessionSummary:
    """One row of `ls`. `turns` is None when the tail was too long to find it."""

    id: str
    status: str
    created: str | None = None
    last_activity: str | None = None
    turns: int | None = 0
    prompt: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class SessionStats:
    """Everything `show` says about a session, from one pass over its log."""

    id: str
    status: str
    settings: SessionCreated
    created: str
    last_activity: str
    prompt: str = ""
    turns: int = 0
    usage: Usage = field(default_factory=Usage)
    events: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    tool_calls: dict[str, int] = field(default_factory=dict)
    tool_errors: int = 0
    errors: int = 0
    stop_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["settings"] = {
            k: v
            for k, v in self.settings.to_dict().items()
            if k not in ("v", "seq", "id", "ts", "type")
        }
        body["usage"]["total_tokens"] = self.usage.total
        return body


@contextmanager
def reading(session: SessionLog) -> Iterator[None]:
    """Turn an OS error while reading `session` into LogCorrupt (one line, no traceback)."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise errors.LogCorrupt(f"cannot read session {session.id}: {reason}") from None


def check_log(session: SessionLog) -> SessionCreated:
    """The session's first event, or LogCorrupt if the log does not start like a session."""
    with reading(session), open(session.log_path, "rb") as f:
        first = f.readline()
    try:
        event = parse_line(first) if first.endswith(b"\n") else None
    except InvalidEvent as exc:
        raise errors.LogCorrupt(f"session {session.id}: the first line is bad ({exc})") from None
    if not isinstance(event, SessionCreated):
        raise errors.LogCorrupt(f"session {session.id}: the log does not start with a session")
    return event


# -- ls ------------------------------------------------------------------------


def list_sessions(store: SessionStore) -> list[SessionSummary]:
    """A summary of every session, newest first."""
    try:
        ids = store.ids()
    except OSError as exc:
        raise errors.LogCorrupt(f"cannot list {store.root}: {exc.strerror}") from None
    summaries = [summarize(SessionLog(store.root / session_id)) for session_id in ids]
    summaries.sort(key=lambda s: (s.created or "", s.id), reverse=True)
    return summaries


def summarize(session: SessionLog) -> SessionSummary:
    """The session's summary, reading only the head and tail of its log.

    A log that cannot be read gets status UNREADABLE and a warning, so one bad
    session does not hide the others.
    """
    try:
        with reading(session):
            return _summarize(session)
    except errors.LogCorrupt as exc:
        log.warning("%s", exc)
        return SessionSummary(id=session.id, status=UNREADABLE, turns=None)


def _summarize(session: SessionLog) -> SessionSummary:
    fd = os.open(session.log_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        head = os.pread(fd, _BLOCK, 0)
        first, prompt = _read_head(fd, head)
        tail = head if size <= _BLOCK else os.pread(fd, _BLOCK, size - _BLOCK)
        last, status_line, end = _read_tail(session.id, fd, size, tail)
    finally:
        os.close(fd)
    if first is None or first.get("type") != SessionCreated.TYPE:
        raise errors.LogCorrupt(f"session {session.id}: the log does not start with a session")
    return SessionSummary(
        id=session.id,
        status=_status(session, status_line),
        created=first["ts"],
        last_activity=(last or first)["ts"],
        turns=_turns(end, size),
        prompt=_prompt_start(prompt),
    )


def _read_head(fd: int, data: bytes) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The first event and the first user.message, reading more only for long lines."""
    want = len(data)
    while True:
        lines = data.split(b"\n")[:-1]  # the rest has no newline yet
        prompt = _first_of(lines[1:], _USER_MARK, UserMessage.TYPE)
        if prompt is not None or len(data) < want or want >= _HEAD_LIMIT:
            return (_peek(lines[0]) if lines else None), prompt
        want *= 4
        data = os.pread(fd, want, 0)


def _read_tail(
    session_id: str, fd: int, size: int, data: bytes
) -> tuple[dict[str, Any] | None, bytes | None, dict[str, Any] | None]:
    """(last event, last status line, last span.model_request_end) from the end of the log."""
    if not data.endswith(b"\n") and data:
        log.warning("session %s: skipping a torn last line", session_id)
    while True:
        start = size - len(data)
        lines = data.split(b"\n")[1 if start else 0 : -1]
        status = _last_line_of(lines, _STATUS_MARK)
        end = _first_of(reversed(lines), _END_MARK, ModelRequestEnd.TYPE)
        if (status is not None and end is not None) or start == 0 or len(data) >= _TAIL_LIMIT:
            last = next(filter(None, map(_peek, reversed(lines))), None)
            return last, status, end
        data = os.pread(fd, min(size, len(data) * 4), max(0, size - len(data) * 4))


def _status(session: SessionLog, status_line: bytes | None) -> str:
    try:
        tail = [parse_line(status_line)] if status_line is not None else []
    except InvalidEvent:
        tail = []
    return session.status(tail=tail)


def _turns(end: dict[str, Any] | None, size: int) -> int | None:
    if end is None:
        return 0 if size < _TAIL_LIMIT else None
    turn = end.get("turn")
    return turn if isinstance(turn, int) and not isinstance(turn, bool) else None


def _prompt_start(message: dict[str, Any] | None) -> str:
    content = message.get("content") if message else None
    if not isinstance(content, str):
        return ""
    return " ".join(content[: PROMPT_CHARS * 2].split())[:PROMPT_CHARS]


def _peek(line: bytes) -> dict[str, Any] | None:
    """A line decoded just enough for a summary: an object with the envelope's key fields."""
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict) or obj.get("v") != SCHEMA_VERSION:
        return None
    if not isinstance(obj.get("ts"), str) or not isinstance(obj.get("type"), str):
        return None
    return obj


def _first_of(lines: Any, mark: bytes, type_name: str) -> dict[str, Any] | None:
    for line in lines:
        if mark in line:
            obj = _peek(line)
            if obj is not None and obj["type"] == type_name:
                return obj
    return None


def _last_line_of(lines: list[bytes], mark: bytes) -> bytes | None:
    for line in reversed(lines):
        if mark in line:
            obj = _peek(line)
            if obj is not None and obj["type"].startswith("session.status_"):
                return line
    return None


# -- show ----------------------------------------------------------------------


def session_stats(session: SessionLog) -> SessionStats:
    """Settings, status, usage totals and counts, from one pass over the whole log."""
    created = check_log(session)
    counts: Counter[str] = Counter()
    tools: Counter[str] = Counter()
    usage, turns, tool_errors, stop_reason, prompt = Usage(), 0, 0, None, ""
    last: Event = created
    with reading(session):
        for event in session:
            last = event
            counts[event.TYPE] += 1
            if isinstance(event, ModelRequestEnd):
                usage, turns = usage + event.usage, max(turns, event.turn)
            elif isinstance(event, AgentToolUse):
                tools[event.name] += 1
            elif isinstance(event, AgentToolResult):
                tool_errors += event.is_error
            elif isinstance(event, StatusIdle):
                stop_reason = event.stop_reason
            elif isinstance(event, UserMessage) and not prompt:
                prompt = _prompt_start({"content": event.content})
        status = session.status()
    return SessionStats(
        id=session.id,
        status=status,
        settings=created,
        created=created.ts,
        last_activity=last.ts,
        prompt=prompt,
        turns=turns,
        usage=usage,
        events=sum(counts.values()),
        counts=dict(sorted(counts.items())),
        tool_calls=dict(tools.most_common()),
        tool_errors=tool_errors,
        errors=counts[SessionError.TYPE],
        stop_reason=stop_reason,
    )
