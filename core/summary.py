"""What the read side shows about sessions: a summary per session for `ls`, and full
statistics for `show`, from any store through the session protocols.

The JSONL store lists its sessions faster than the protocol allows, reading bytes
(core/jsonl_summary.py); `summarize_log` is the same summary for any other store.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from . import errors
from .catalog import Prices
from .cost import Cost, CostMeter
from .events import (
    AgentMCPToolResult,
    AgentMCPToolUse,
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
from .session import EventLog, Store, creation_key, iter_events, last_of, status

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

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        del body["creation_seq"]
        return body


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
    cost: Cost = field(default_factory=Cost)

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["cost"] = self.cost.to_dict()
        body["settings"] = {
            k: v for k, v in asdict(self.settings).items() if k not in ("seq", "id", "ts")
        }
        body["usage"]["total_tokens"] = self.usage.total
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
    return SessionSummary(
        id=session.id,
        status=status(session),
        created=head[0].ts,
        last_activity=session.read(-1)[0].ts,
        turns=end.turn if isinstance(end, ModelRequestEnd) else 0,
        prompt=prompt_start(prompt),
        parent=head[0].parent,
        parent_seq=head[0].parent_seq,
        creation_seq=head[0].creation_seq,
    )


def prompt_start(text: str) -> str:
    """The first PROMPT_CHARS of a prompt, its whitespace folded, for a one-line view."""
    return " ".join(text[: PROMPT_CHARS * 2].split())[:PROMPT_CHARS]


# -- show ----------------------------------------------------------------------


def session_stats(session: EventLog, prices: Mapping[str, Prices] | None = None) -> SessionStats:
    """Settings, status, usage totals, cost and counts, from one pass over the whole log."""
    with reading(session):
        first = session.read(0, 1)
    if not first or not isinstance(first[0], SessionCreated):
        raise errors.LogCorrupt(f"session {session.id}: the log does not start with a session")
    created = first[0]
    meter = CostMeter(prices)
    counts: Counter[str] = Counter()
    tools: Counter[str] = Counter()
    usage, turns, tool_errors, stop_reason, prompt = Usage(), 0, 0, None, ""
    last: Event = created
    with reading(session):
        for event in iter_events(session):
            last = event
            counts[event.TYPE] += 1
            meter.add(event)
            if isinstance(event, ModelRequestEnd):
                usage, turns = usage + event.usage, max(turns, event.turn)
            elif isinstance(event, AgentToolUse | AgentMCPToolUse):
                tools[event.api_name if isinstance(event, AgentMCPToolUse) else event.name] += 1
            elif isinstance(event, AgentToolResult | AgentMCPToolResult):
                tool_errors += event.is_error
            elif isinstance(event, StatusIdle):
                stop_reason = event.stop_reason
            elif isinstance(event, UserMessage) and not prompt:
                prompt = prompt_start(event.content)
        now = status(session)
    return SessionStats(
        id=session.id,
        status=now,
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
        cost=meter.cost,
    )
