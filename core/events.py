"""The event vocabulary of a session log: frozen dataclasses, schema version 1.

Every event serialises to one JSON object: the envelope (`v`, `seq`, `id`,
`ts`, `type`) and the type's own fields beside it at the top level. Type
names follow Anthropic's Managed Agents. `parse_line` is the only way in from
disk, and it validates every field.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar, dataclass_transform, get_type_hints

SCHEMA_VERSION = 1


class InvalidEvent(ValueError):
    """A line that is not a valid event (torn, garbage, or a field of the wrong type)."""


def utc_now() -> str:
    """UTC in RFC 3339 with milliseconds, e.g. 2026-11-24T10:59:13.123Z."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def new_event_id() -> str:
    """A unique, time-ordered event id (nanoseconds + random bits, hex)."""
    return f"ev_{time.time_ns():x}{os.urandom(3).hex()}"


@dataclass(frozen=True, kw_only=True)
class Usage:
    """Token counts of one model response, or a sum of them."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_input_tokens=self.cache_read_input_tokens + other.cache_read_input_tokens,
            cache_creation_input_tokens=self.cache_creation_input_tokens
            + other.cache_creation_input_tokens,
        )

    @property
    def total(self) -> int:
        """All tokens billed: input (fresh, cached and cache writes) plus output."""
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_input_tokens
            + self.cache_creation_input_tokens
        )


# Events are frozen like every value here; equality and repr are written once on
# Event rather than generated for each type, which halves the cost of importing this
# module (and so the start of every command).
_T = TypeVar("_T")


@dataclass_transform(frozen_default=True, kw_only_default=True)
def _event(cls: type[_T]) -> type[_T]:
    return dataclass(frozen=True, kw_only=True, eq=False, repr=False)(cls)


@_event
class Event:
    """The envelope every event carries. `seq` is set by the log on append."""

    TYPE: ClassVar[str] = ""
    seq: int = -1
    id: str = field(default_factory=new_event_id)
    ts: str = field(default_factory=utc_now)

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        head = {"v": SCHEMA_VERSION, "seq": body.pop("seq"), "id": body.pop("id")}
        head["ts"] = body.pop("ts")
        head["type"] = self.TYPE
        head.update(body)
        return head

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.to_dict() == other.to_dict()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((self.TYPE, self.id, self.seq))

    def __repr__(self) -> str:
        fields_ = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if k != "v")
        return f"{type(self).__name__}({fields_})"


@_event
class SessionCreated(Event):
    """The session's settings, fixed at creation. Never holds a secret."""

    TYPE: ClassVar[str] = "session.created"
    session_id: str = ""
    model: str
    system: str | None = None
    tools: tuple[str, ...] = ()
    image: str = ""
    workspace: str | None = None  # a host directory, or None for a Docker volume
    network: bool = False
    max_turns: int | None = None
    max_tokens: int = 8192
    thinking: str | None = None  # adaptive or off; None: the model's default
    effort: str | None = None  # low, medium, high, xhigh or max; None: the model's default
    token_budget: int | None = None
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
    evaluated_permission: str | None = None  # allow, ask or deny, as the policy said


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
    evaluated_permission: str | None = None


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
    result: str  # allow or deny
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
    retry_status: str  # retrying, exhausted, terminal
    mcp_server_name: str | None = None  # for mcp_connection_failed_error


EVENT_TYPES: dict[str, type[Event]] = {
    cls.TYPE: cls
    for cls in (
        SessionCreated,
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
        SandboxProvisioned,
        SandboxLost,
        SandboxReleased,
        StatusRunning,
        StatusIdle,
        StatusTerminated,
        SessionError,
    )
}
STATUS_TYPES = frozenset({StatusRunning.TYPE, StatusIdle.TYPE, StatusTerminated.TYPE})


def parse_line(line: str | bytes) -> Event:
    """Validate one log line and build its event; raises InvalidEvent."""
    try:
        raw = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidEvent(f"not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise InvalidEvent("not a JSON object")
    return from_dict(raw)


def from_dict(raw: dict[str, Any]) -> Event:
    """Build an event from its decoded JSON object; raises InvalidEvent."""
    if raw.get("v") != SCHEMA_VERSION:
        raise InvalidEvent(f"unsupported schema version {raw.get('v')!r}")
    cls = EVENT_TYPES.get(raw.get("type"))  # type: ignore[arg-type]
    if cls is None:
        raise InvalidEvent(f"unknown event type {raw.get('type')!r}")
    kwargs: dict[str, Any] = {}
    hints, required = _schema(cls)
    for name, hint in hints.items():
        if name in raw:
            kwargs[name] = _check(cls.TYPE, name, hint, raw[name])
        elif name in required:
            raise InvalidEvent(f"{cls.TYPE} is missing {name!r}")
    if kwargs.get("seq", -1) < 0:
        raise InvalidEvent("missing or negative seq")
    return cls(**kwargs)


_SCHEMAS: dict[type[Event], tuple[dict[str, Any], frozenset[str]]] = {}


def _schema(cls: type[Event]) -> tuple[dict[str, Any], frozenset[str]]:
    """Each field's type, and the names of the required ones; worked out once per type."""
    if cls not in _SCHEMAS:
        hints = get_type_hints(cls)
        types = {f.name: hints[f.name] for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.default is MISSING}
        required -= {f.name for f in fields(cls) if f.default_factory is not MISSING}
        _SCHEMAS[cls] = (types, frozenset(required | {"seq", "id", "ts"}))
    return _SCHEMAS[cls]


def _check(type_name: str, name: str, hint: Any, value: Any) -> Any:
    """Return `value` converted to the field's type, or raise InvalidEvent."""
    if hint is Usage:
        if not isinstance(value, dict):
            raise InvalidEvent(f"{type_name}.{name} is not an object")
        try:
            return Usage(**{k: int(v) for k, v in value.items() if k in _USAGE_KEYS})
        except (TypeError, ValueError):
            raise InvalidEvent(f"{type_name}.{name} has a bad token count") from None
    if hint == tuple[str, ...]:
        if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
            return tuple(value)
        raise InvalidEvent(f"{type_name}.{name} is not a list of strings")
    if hint == tuple[Mapping[str, Any], ...]:
        if isinstance(value, list | tuple) and all(isinstance(item, dict) for item in value):
            return tuple(value)
        raise InvalidEvent(f"{type_name}.{name} is not a list of objects")
    for accepted in _ACCEPTED.get(hint, ()):
        if isinstance(value, accepted) and not (accepted is int and isinstance(value, bool)):
            return value
    raise InvalidEvent(f"{type_name}.{name} has the wrong type ({type(value).__name__})")


_USAGE_KEYS = frozenset(f.name for f in fields(Usage))
_NONE = type(None)
_ACCEPTED: dict[Any, tuple[type, ...]] = {
    str: (str,),
    int: (int,),
    bool: (bool,),
    float: (float, int),
    str | None: (str, _NONE),
    int | None: (int, _NONE),
    float | None: (float, int, _NONE),
    Mapping[str, Any]: (dict,),
}
