"""The event vocabulary of a session log: frozen dataclasses, the values the code uses.

Type names follow Anthropic's Managed Agents. How an event looks on disk is
`wire`'s business (schema v2: Managed Agents' own shapes; v1 is read forever):
`Event.to_json` and `parse_line` go through it, and `parse_line` is the only
way in from disk.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import field, replace
from typing import Any, ClassVar, Literal

from .event_base import SCHEMA_VERSION as SCHEMA_VERSION
from .event_base import Event as Event
from .event_base import InvalidEvent as InvalidEvent
from .event_base import Permission as Permission
from .event_base import Usage as Usage
from .event_base import event_type as _event
from .event_base import new_event_id as new_event_id
from .event_base import utc_now as utc_now


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
class UserMessage(Event):
    TYPE: ClassVar[str] = "user.message"
    content: str


@_event
class UserInterrupt(Event):
    TYPE: ClassVar[str] = "user.interrupt"
    reason: str  # ctrl-c, sigterm, kill, timeout


@_event
class ModelRequestStart(Event):
    TYPE: ClassVar[str] = "span.model_request_start"
    model: str


@_event
class ModelRequestEnd(Event):
    """Closes a model request. Content events between a start and an end that is
    not an error form one complete response; without such an end they are ignored."""

    TYPE: ClassVar[str] = "span.model_request_end"
    model: str
    model_request_start_id: str = ""  # the id of its span.model_request_start ("" in v1 logs)
    usage: Usage = field(default_factory=Usage)
    stop_reason: str | None = None
    duration_ms: int = 0
    is_error: bool = False
    turn: int = 0  # completed model requests in the session so far, this one included


@_event
class AgentMessage(Event):
    TYPE: ClassVar[str] = "agent.message"
    content: str


@_event
class AgentThinking(Event):
    """A thinking block, sent back exactly as it came; `data` set means redacted thinking
    (its content is encrypted, and `content` is empty)."""

    TYPE: ClassVar[str] = "agent.thinking"
    content: str
    signature: str = ""
    data: str = ""


@_event
class AgentToolUse(Event):
    TYPE: ClassVar[str] = "agent.tool_use"
    tool_use_id: str
    name: str
    input: Mapping[str, Any]
    evaluated_permission: Permission | None = None  # as the policy said


@_event
class AgentMCPToolUse(Event):
    """A call of an MCP server's tool, which the model knows as `api_name`
    (mcp__SERVER__TOOL); `name` is the tool's name on its server."""

    TYPE: ClassVar[str] = "agent.mcp_tool_use"
    tool_use_id: str
    name: str
    mcp_server_name: str
    input: Mapping[str, Any]
    api_name: str
    evaluated_permission: Permission | None = None


@_event
class AgentToolResult(Event):
    TYPE: ClassVar[str] = "agent.tool_result"
    tool_use_id: str
    content: str
    is_error: bool = False
    duration_ms: int = 0
    truncated: bool = False


@_event
class AgentMCPToolResult(Event):
    """The result of an `agent.mcp_tool_use`: text and image content blocks."""

    TYPE: ClassVar[str] = "agent.mcp_tool_result"
    mcp_tool_use_id: str
    content: tuple[Mapping[str, Any], ...]
    is_error: bool = False
    duration_ms: int = 0
    truncated: bool = False


@_event
class UserToolConfirmation(Event):
    """A person's decision on a call its permission policy asks about. `always`: allow
    every later call of the same tool in this session too."""

    TYPE: ClassVar[str] = "user.tool_confirmation"
    tool_use_id: str
    result: Literal["allow", "deny"]
    deny_message: str | None = None
    always: bool = False


@_event
class MCPToolsListed(Event):
    """An MCP server's tools as it listed them; the session uses this list from then on,
    so a resume does not wait for the server."""

    TYPE: ClassVar[str] = "mcp.tools_listed"
    mcp_server_name: str
    tools: tuple[Mapping[str, Any], ...]  # name, description, input_schema
    duration_ms: int = 0


@_event
class ThreadContextCompacted(Event):
    """The context was replaced by a summary (Managed Agents' event of the same name).

    `method` is `api` (the API's compaction: `block` is its `compaction` block, sent
    back as it came) or `summary` (tether's own summary request, for endpoints without
    the compaction beta). It counts once its span's `span.model_request_end` follows.
    `tokens_before` and `tokens_after` are estimates of the context's size."""

    TYPE: ClassVar[str] = "agent.thread_context_compacted"
    method: str
    summary: str
    block: Mapping[str, Any] = field(default_factory=dict)
    trigger: str = ""  # threshold, prompt_too_long, model_context_window_exceeded
    tokens_before: int = 0
    tokens_after: int = 0


@_event
class SandboxProvisioned(Event):
    TYPE: ClassVar[str] = "sandbox.provisioned"
    container_id: str
    image: str
    duration_ms: int = 0


@_event
class SandboxLost(Event):
    TYPE: ClassVar[str] = "sandbox.lost"
    container_id: str
    reason: str


@_event
class SandboxReleased(Event):
    TYPE: ClassVar[str] = "sandbox.released"
    container_id: str
    reason: str = ""


@_event
class WorkspacePrepared(Event):
    """The workspace is ready (copied, restored for a fork, or as it was) and its first
    checkpoint taken: what `tether diff` compares with. `error` says why there is none."""

    TYPE: ClassVar[str] = "workspace.prepared"
    source: str  # as session.created's workspace_source
    files: int = 0  # copied from the host
    bytes: int = 0
    skipped: tuple[str, ...] = ()  # files that could not be read, with why (the first 20)
    checkpoint: str = ""
    error: str | None = None
    duration_ms: int = 0


@_event
class WorkspaceCheckpoint(Event):
    """The workspace's files after a tool call that can change them, or why not."""

    TYPE: ClassVar[str] = "workspace.checkpoint"
    tool_use_id: str
    checkpoint: str = ""  # content-addressed id; "" when it failed
    changed: int = 0  # files changed since the previous checkpoint
    files: tuple[str, ...] = ()  # the first 50 of them, as "M path", "A path", "D path"
    error: str | None = None
    duration_ms: int = 0


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


EVENT_TYPES: dict[str, type[Event]] = {
    cls.TYPE: cls
    for cls in (
        SessionCreated,
        SessionUpdated,
        UserMessage,
        UserInterrupt,
        ModelRequestStart,
        ModelRequestEnd,
        AgentMessage,
        AgentThinking,
        AgentToolUse,
        AgentToolResult,
        AgentMCPToolUse,
        AgentMCPToolResult,
        UserToolConfirmation,
        MCPToolsListed,
        ThreadContextCompacted,
        SandboxProvisioned,
        SandboxLost,
        SandboxReleased,
        WorkspacePrepared,
        WorkspaceCheckpoint,
        StatusRunning,
        StatusIdle,
        StatusTerminated,
        SessionError,
    )
}
STATUS_TYPES = frozenset({StatusRunning.TYPE, StatusIdle.TYPE, StatusTerminated.TYPE})


def parse_line(line: str | bytes) -> Event:
    """Validate one log line (schema v1 or v2) and build its event; raises InvalidEvent."""
    return wire.parse_line(line)


def from_dict(raw: dict[str, Any]) -> Event:
    """Build an event from its decoded JSON object (v1 or v2); raises InvalidEvent."""
    return wire.from_dict(raw)


from . import wire  # noqa: E402  (wire builds on the classes above)
