"""How Managed Agents shapes the fields that tether's dataclasses keep simpler (schema v2).

A type listed in SHAPES has fields that MA holds in another form than the
dataclass does; each shape converts one of them, both ways, in place:

    text            "Done."           <->  [{"type": "text", "text": "Done."}]
    stop reason     "max_turns"       <->  {"type": "budget_reached", "reason": "max_turns"}
    session error   error_type, message, retry_status  <->  MA's `error` object
    renamed         usage <-> model_usage, (thinking) content <-> thinking

Everything else is written under its attribute name: tether's own types, and
tether's extra fields on MA types (MA's SDK types keep unknown fields).

MA's stop reasons are fewer than tether's. The object's `type` is MA's closest
one, so MA tooling branches the right way; `reason` keeps tether's own when it
differs: a limit tether sets (turns, wall time, tokens of one response) is a
`budget_reached` (raise it and go on); an interrupt leaves the session waiting
for the user's next message, as `end_turn` does; an error that stopped the run,
or a context window too full to go on, is `retries_exhausted` (MA's "an error
escalated"), as is any reason this table does not know yet, so that a line
always validates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from .events import InvalidEvent


class Shape(Protocol):
    """One field (or a few) of one event type, converted between dataclass and MA form."""

    def encode(self, body: dict[str, Any]) -> None:
        """Rewrite the dataclass's fields in `body` into MA's form."""

    def decode(self, raw: dict[str, Any], type_name: str) -> None:
        """Rewrite MA's form in `raw` back into the dataclass's fields; InvalidEvent if bad."""


# tether's stop reason -> the type of MA's StopReason object (see the module's docstring)
MA_STOP_REASONS = {
    "end_turn": "end_turn",
    "requires_action": "requires_action",
    "retries_exhausted": "retries_exhausted",
    "budget_reached": "budget_reached",
    "refusal": "refusal",
    "max_turns": "budget_reached",
    "timeout": "budget_reached",
    "max_tokens": "budget_reached",
    "interrupted": "end_turn",
    "error": "retries_exhausted",
    "model_context_window_exceeded": "retries_exhausted",
}
UNKNOWN_STOP_REASON = "retries_exhausted"

# tether's error_type (the API's error type, or one of tether's error classes) -> MA's
MA_ERROR_TYPES = {
    "overloaded_error": "model_overloaded_error",
    "rate_limit_error": "model_rate_limited_error",
    "billing_error": "billing_error",
    "mcp_connection_failed_error": "mcp_connection_failed_error",  # with mcp_server_name
    "mcp_authentication_failed_error": "mcp_authentication_failed_error",  # the same
}
MODEL_REQUEST_FAILED = frozenset({
    "api_error", "timeout_error", "connection_error", "invalid_response",
    "incomplete_stream", "invalid_request_error", "request_too_large", "not_found_error",
    "authentication_error", "permission_error", "model_error", "auth_error",
    "ModelError", "AuthError",  # as logs before errors.kind wrote them
})  # fmt: skip
UNKNOWN_ERROR = "unknown_error"  # MA's own fallback: match on retry_status and message


def ma_stop_reason(reason: str) -> str:
    return MA_STOP_REASONS.get(reason, UNKNOWN_STOP_REASON)


def ma_error_type(error_type: str, mcp_server_name: str | None = None) -> str:
    if error_type in MODEL_REQUEST_FAILED:
        return "model_request_failed_error"
    kind = MA_ERROR_TYPES.get(error_type, UNKNOWN_ERROR)
    if kind.startswith("mcp_") and mcp_server_name is None:
        return UNKNOWN_ERROR  # MA's MCP errors name their server
    return kind


@dataclass(frozen=True)
class TextBlocks:
    """A string field that MA holds as a list of text blocks."""

    name: str = "content"

    def encode(self, body: dict[str, Any]) -> None:
        body[self.name] = [{"type": "text", "text": body[self.name]}]

    def decode(self, raw: dict[str, Any], type_name: str) -> None:
        blocks = raw.get(self.name)
        if blocks is None:
            return  # missing: the field check names it
        if not isinstance(blocks, list) or not all(_is_text_block(b) for b in blocks):
            raise InvalidEvent(f"{type_name}.{self.name} is not a list of text blocks")
        raw[self.name] = "\n".join(block["text"] for block in blocks)


def _is_text_block(block: Any) -> bool:
    if not isinstance(block, dict):
        return False
    return block.get("type") == "text" and isinstance(block.get("text"), str)


@dataclass(frozen=True)
class Renamed:
    """A field MA calls by another name."""

    name: str
    wire_name: str

    def encode(self, body: dict[str, Any]) -> None:
        _put_in_place(body, self.name, self.wire_name, body[self.name])

    def decode(self, raw: dict[str, Any], type_name: str) -> None:
        if self.wire_name in raw:
            raw[self.name] = raw.pop(self.wire_name)


class StopReason:
    """`stop_reason` (and `event_ids`) as MA's StopReason object."""

    def encode(self, body: dict[str, Any]) -> None:
        reason, event_ids = body.pop("stop_reason"), body.pop("event_ids", ())
        kind = ma_stop_reason(reason)
        shaped: dict[str, Any] = {"type": kind}
        if reason != kind:
            shaped["reason"] = reason
        if event_ids or kind == "requires_action":
            shaped["event_ids"] = list(event_ids)
        body["stop_reason"] = shaped  # the type's first field: the line reads the same

    def decode(self, raw: dict[str, Any], type_name: str) -> None:
        shaped = raw.get("stop_reason")
        if shaped is None:
            return
        if not isinstance(shaped, dict) or not isinstance(shaped.get("type"), str):
            raise InvalidEvent(f"{type_name}.stop_reason is not an object with a type")
        raw["stop_reason"] = shaped.get("reason", shaped["type"])
        if "event_ids" in shaped:
            raw["event_ids"] = shaped["event_ids"]


class ErrorObject:
    """`error_type`, `message`, `retry_status` (and `mcp_server_name`) as MA's `error` object."""

    def encode(self, body: dict[str, Any]) -> None:
        error_type, server = body["error_type"], body.pop("mcp_server_name", None)
        kind = ma_error_type(error_type, server)
        shaped = {"type": kind, "message": body.pop("message")}
        shaped["retry_status"] = {"type": body.pop("retry_status")}
        if server is not None:
            shaped["mcp_server_name"] = server
        if error_type != kind:
            shaped["error_type"] = error_type
        _put_in_place(body, "error_type", "error", shaped)

    def decode(self, raw: dict[str, Any], type_name: str) -> None:
        shaped = raw.pop("error", None)
        if shaped is None:
            return
        status = shaped.get("retry_status") if isinstance(shaped, dict) else None
        if not isinstance(status, dict) or "type" not in shaped:
            raise InvalidEvent(f"{type_name}.error is not an error object with a retry_status")
        raw["error_type"] = shaped.get("error_type", shaped["type"])
        raw["retry_status"] = status.get("type")
        for name in ("message", "mcp_server_name"):
            if name in shaped:
                raw[name] = shaped[name]


def _put_in_place(body: dict[str, Any], name: str, wire_name: str, value: Any) -> None:
    """Replace key `name` by `wire_name` (holding `value`) where it stands, so lines read
    in the dataclass's field order."""
    items = [(wire_name, value) if key == name else (key, old) for key, old in body.items()]
    body.clear()
    body.update(items)


TEXT = TextBlocks()
SHAPES: dict[str, tuple[Shape, ...]] = {
    "user.message": (TEXT,),
    "agent.message": (TEXT,),
    "agent.thinking": (Renamed("content", "thinking"),),
    "agent.tool_result": (TEXT,),
    "span.model_request_end": (Renamed("usage", "model_usage"),),
    "session.status_idle": (StopReason(),),
    "session.error": (ErrorObject(),),
}


def encode(type_name: str, body: dict[str, Any]) -> None:
    """Rewrite `body` (an event's fields, envelope apart) into MA's form, in place."""
    for shape in SHAPES.get(type_name, ()):
        shape.encode(body)


def decode(type_name: str, raw: dict[str, Any]) -> None:
    """Rewrite a v2 object's MA fields back into the dataclass's, in place."""
    for shape in SHAPES.get(type_name, ()):
        shape.decode(raw, type_name)
