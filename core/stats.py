"""What `show` says about a session: settings (as resumes changed them), status,
usage, the last error and counts, from one pass over its log."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from . import errors
from .catalog import Prices
from .cost import Cost, CostMeter
from .events import (
    AgentMCPToolResult,
    AgentMCPToolUse,
    AgentToolResult,
    AgentToolUse,
    Event,
    ModelRequestEnd,
    SessionCreated,
    SessionError,
    SessionUpdated,
    StatusIdle,
    StatusTerminated,
    Usage,
    UserMessage,
)
from .session import EventLog, iter_events, status
from .summary import prompt_start, reading


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
    last_error: str | None = None
    updates: list[dict[str, Any]] = field(default_factory=list)  # settings changed on resume
    cost: Cost = field(default_factory=Cost)

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["cost"] = self.cost.to_dict()
        body["settings"] = {
            k: v for k, v in asdict(self.settings).items() if k not in ("seq", "id", "ts")
        }
        body["usage"]["total_tokens"] = self.usage.total
        return body


def session_stats(session: EventLog, prices: Mapping[str, Prices] | None = None) -> SessionStats:
    """Settings, status, usage totals, cost and counts, from one pass over the whole log."""
    with reading(session):
        first = session.read(0, 1)
    if not first or not isinstance(first[0], SessionCreated):
        raise errors.LogCorrupt(f"session {session.id}: the log does not start with a session")
    tally = _Tally(first[0], CostMeter(prices))
    with reading(session):
        for event in iter_events(session):
            tally.add(event)
        now = status(session)
    return tally.stats(session.id, now)


class _Tally:
    """What `show` counts, event by event."""

    def __init__(self, created: SessionCreated, meter: CostMeter) -> None:
        self.settings, self.created, self.last = created, created.ts, created.ts
        self.meter = meter
        self.counts: Counter[str] = Counter()
        self.tools: Counter[str] = Counter()
        self.usage, self.turns, self.tool_errors, self.prompt = Usage(), 0, 0, ""
        self.stop_reason: str | None = None
        self.last_error: str | None = None
        self.updates: list[dict[str, Any]] = []

    def add(self, event: Event) -> None:
        self.last = event.ts
        self.counts[event.TYPE] += 1
        self.meter.add(event)
        if isinstance(event, ModelRequestEnd):
            self.usage, self.turns = self.usage + event.usage, max(self.turns, event.turn)
        elif isinstance(event, AgentToolUse | AgentMCPToolUse):
            name = event.api_name if isinstance(event, AgentMCPToolUse) else event.name
            self.tools[name] += 1
        elif isinstance(event, AgentToolResult | AgentMCPToolResult):
            self.tool_errors += event.is_error
        elif isinstance(event, StatusIdle | StatusTerminated):
            self.stop_reason = event.stop_reason if isinstance(event, StatusIdle) else "terminated"
        elif isinstance(event, SessionError):
            self.last_error = event.message
        elif isinstance(event, SessionUpdated):
            self.settings = self.settings.updated(event.changes)
            self.updates.append({"ts": event.ts, "changes": dict(event.changes)})
        elif isinstance(event, UserMessage) and not self.prompt:
            self.prompt = prompt_start(event.content)

    def stats(self, session_id: str, status: str) -> SessionStats:
        return SessionStats(
            id=session_id, status=status, settings=self.settings, created=self.created,
            last_activity=self.last, prompt=self.prompt, turns=self.turns, usage=self.usage,
            events=sum(self.counts.values()), counts=dict(sorted(self.counts.items())),
            tool_calls=dict(self.tools.most_common()), tool_errors=self.tool_errors,
            errors=self.counts[SessionError.TYPE], stop_reason=self.stop_reason,
            last_error=self.last_error, updates=self.updates, cost=self.meter.cost,
        )  # fmt: skip
