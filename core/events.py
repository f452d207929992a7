"""The event vocabulary of a session log: frozen dataclasses, the values the code uses.

Type names follow Anthropic's Managed Agents. How an event looks on disk is
`wire`'s business (schema v2: Managed Agents' own shapes; v1 is read forever):
`Event.to_json` and `parse_line` go through it, and `parse_line` is the only
way in from disk. The session's own events (`session.*`) are in `session_events`,
and every event class is found here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from typing import Any, ClassVar, Literal

from .event_base import SCHEMA_VERSION as SCHEMA_VERSION
from .event_base import Event as Event
from .event_base import InvalidEvent as InvalidEvent
from .event_base import Permission as Permission
from .event_base import Usage as Usage
from .event_base import event_type as _event
from .event_base import new_event_id as new_event_id
from .event_base import utc_now as utc_now
from .session_events import STATUS_TYPES as STATUS_TYPES
from .session_events import UPDATABLE as UPDATABLE
from .session_events import SessionCreated as SessionCreated
from .session_events import SessionError as SessionError
from .session_events import SessionUpdated as SessionUpdated
from .session_events import StatusIdle as StatusIdle
from .session_events import StatusRunning as StatusRunning
from .session_events import StatusTerminated as StatusTerminated
from .session_events import effective_settings as effective_settings


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


def parse_line(line: str | bytes) -> Event:
    """Validate one log line (schema v1 or v2) and build its event; raises InvalidEvent."""
    return wire.parse_line(line)


def from_dict(raw: dict[str, Any]) -> Event:
    """Build an event from its decoded JSON object (v1 or v2); raises InvalidEvent."""
    return wire.from_dict(raw)


from . import wire  # noqa: E402  (wire builds on the classes above)
