"""The session's own events (`session.*`), which `events` re-exports: its settings
(`session.created` fixes them, `session.updated` changes those `resume` may change,
`effective_settings` says what they are now), its status and its errors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any, ClassVar, Literal

from .event_base import Event, InvalidEvent
from .event_base import event_type as _event


@_event
class SessionCreated(Event):
    """The session's settings, fixed at creation. Never holds a secret."""

    TYPE: ClassVar[str] = "session.created"
    session_id: str = ""
    creation_seq: int | None = None  # its place in the store's creation order (1, 2, ...)
    model: str
    system: str | None = None
    tools: tuple[str, ...] = ()
    image: str = ""
    workspace: str | None = None  # a host directory mounted live, or None for a Docker volume
    workspace_source: str = "empty"  # git, dir (copies of workspace_from), empty, bind, fork
    workspace_from: str | None = None  # the host directory the workspace is a copy of
    network: bool = False
    max_turns: int | None = None
    max_tokens: int = 8192
    thinking: str | None = None  # adaptive or off; None: the model's default
    effort: str | None = None  # low, medium, high, xhigh or max; None: the model's default
    context_window: int = 200_000  # tokens
    compaction: bool = True  # compact the context before it outgrows the window
    compact_threshold: float = 0.8  # ...once the next request would pass this share of it
    token_budget: int | None = None
    budget_usd: float | None = None
    timeout_s: float | None = None
    memory: str = "2g"
    cpus: float = 2.0
    pids_limit: int = 512
    max_output: str = "64m"  # most output one tool call keeps (Docker size syntax)
    base_url: str | None = None
    tether_version: str = ""
    mcp_config: tuple[str, ...] = ()  # the MCP config files, re-read on resume (secrets stay there)
    mcp_servers: tuple[str, ...] = ()  # the names of the servers they defined
    permissions: tuple[str, ...] = ()  # DECISION:PATTERN rules, the first match winning
    parent: str | None = None  # the session this one is a fork of
    parent_seq: int | None = None  # the parent's last event this one carries

    def updated(self, changes: Mapping[str, Any]) -> SessionCreated:
        """These settings with a `session.updated`'s changes applied; a change that names
        no setting, or has the wrong type for it, is skipped."""
        from . import wire  # wire builds on the events, which build on this module

        valid = {}
        for name, value in changes.items():
            if name not in UPDATABLE:
                continue
            try:
                valid[name] = wire.field_value(SessionCreated, name, value)
            except InvalidEvent:
                continue
        return replace(self, **valid)


# What `resume` may change: the settings a session is not stuck with.
UPDATABLE = frozenset(
    {"model", "image", "max_turns", "max_tokens", "token_budget", "budget_usd", "timeout_s"}
)


@_event
class SessionUpdated(Event):
    """Settings changed by `resume` (image, model, limits), from the next turn on;
    `changes` holds only what changed, by the names `session.created` uses."""

    TYPE: ClassVar[str] = "session.updated"
    changes: Mapping[str, Any]


def effective_settings(events: Iterable[Event]) -> SessionCreated | None:
    """The session's settings now: its `session.created` with every update applied."""
    settings: SessionCreated | None = None
    for event in events:
        if isinstance(event, SessionCreated) and settings is None:
            settings = event
        elif isinstance(event, SessionUpdated) and settings is not None:
            settings = settings.updated(event.changes)
    return settings


@_event
class StatusRunning(Event):
    TYPE: ClassVar[str] = "session.status_running"
    pid: int
    host: str
    tether_version: str = ""


@_event
class StatusIdle(Event):
    """The harness stopped and the session can be resumed; `stop_reason` says why."""

    TYPE: ClassVar[str] = "session.status_idle"
    stop_reason: str  # end_turn, max_turns, budget_reached, timeout, retries_exhausted,
    # interrupted, error, requires_action, refusal, max_tokens, model_context_window_exceeded
    event_ids: tuple[str, ...] = ()  # requires_action: the tool_use_ids waiting for a decision


@_event
class StatusTerminated(Event):
    TYPE: ClassVar[str] = "session.status_terminated"
    by: str  # kill, signal, error


@_event
class SessionError(Event):
    TYPE: ClassVar[str] = "session.error"
    error_type: str
    message: str
    retry_status: Literal["retrying", "exhausted", "terminal"]
    mcp_server_name: str | None = None  # for mcp_connection_failed_error
    retry_in_ms: int | None = None  # retrying: how long the harness waits before the next try
    attempt: int | None = None  # retrying or exhausted: which try this was (1, 2, ...)
    attempts: int | None = None  # ... of how many allowed


STATUS_TYPES = frozenset({StatusRunning.TYPE, StatusIdle.TYPE, StatusTerminated.TYPE})
