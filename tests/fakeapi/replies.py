"""Scripted replies: what the fake answers, one reply per request.

    api.add(text("Let me look.") + tool_use("bash", {"command": "ls"}))
    api.add(error(529, retry_after_ms=10), text("Done."))

A reply is a frozen value; `a + b` joins the blocks of two replies (options from `a`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import Request

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass(frozen=True, kw_only=True)
class Block:
    """One content block of a scripted reply: text, thinking, redacted_thinking, tool_use
    or compaction. An empty `signature` (or redacted `data`) is signed by the fake."""

    type: str
    text: str = ""
    signature: str = ""
    data: str = ""  # redacted_thinking's opaque payload
    id: str = ""
    name: str = ""
    input: Mapping[str, Any] = field(default_factory=dict)
    cut_at: int | None = None  # tool_use: the streamed input JSON stops after this many chars


@dataclass(frozen=True, kw_only=True)
class Reply:
    """One scripted answer. `a + b` joins the blocks of two replies (options from `a`)."""

    blocks: tuple[Block, ...] = ()
    stop_reason: str | None = None  # None: "tool_use" if a tool is called, else "end_turn"
    model: str | None = None  # None: echo the request's model
    input_tokens: int | None = None  # None: the fake's count of the request (less cached parts)
    output_tokens: int | None = None  # None: a rough count of the content
    cache_read_input_tokens: int | None = None  # None: what the fake's prompt cache served
    cache_creation_input_tokens: int | None = None  # None: what it wrote to its cache
    status: int = 200  # anything else answers with an API error body
    error_type: str = ""
    error_message: str = ""
    error_code: str = ""  # error.details.error_code, for errors that name their cause
    headers: Mapping[str, str] = field(default_factory=dict)
    chunk_chars: int = 8  # text and tool-input JSON are sent in deltas this long
    event_delay_s: float = 0.0  # sleep before each SSE event
    cut_after_events: int | None = None  # close the connection mid-stream
    cut_cleanly: bool = False  # ...after ending the body properly, as a proxy might
    hang_after_events: int | None = None  # stop sending and hold the connection open
    error_after_events: int | None = None  # send an SSE `error` event (error_type) instead

    def __add__(self, other: Reply) -> Reply:
        return replace(self, blocks=self.blocks + other.blocks)

    def with_(self, **changes: Any) -> Reply:
        return replace(self, **changes)


Responder = Callable[["Request"], Reply]


def text(content: str, **options: Any) -> Reply:
    return Reply(blocks=(Block(type="text", text=content),), **options)


def thinking(content: str, signature: str = "", **options: Any) -> Reply:
    """A thinking block; the fake signs it unless `signature` is given (a forged one)."""
    return Reply(blocks=(Block(type="thinking", text=content, signature=signature),), **options)


def redacted_thinking(data: str = "", **options: Any) -> Reply:
    """A redacted_thinking block; its opaque `data` is minted (and later checked) by the fake."""
    from .wire import redacted_data

    return Reply(blocks=(Block(type="redacted_thinking", data=data or redacted_data()),), **options)


def tool_use(
    name: str,
    input: Mapping[str, Any],
    id: str | None = None,
    cut_at: int | None = None,
    **options: Any,
) -> Reply:
    """A tool call. `cut_at` cuts its streamed input JSON after that many characters and
    stops the response with `max_tokens`, as the API does when the limit falls mid-call."""
    block = Block(
        type="tool_use", id=id or new_tool_use_id(), name=name, input=dict(input), cut_at=cut_at
    )
    return Reply(blocks=(block,), **options)


def bash(command: str, **options: Any) -> Reply:
    """A call of tether's `bash` tool."""
    return tool_use("bash", {"command": command}, **options)


def compaction(summary: str, **options: Any) -> Reply:
    """The answer to a compaction request: one signed `compaction` block, alone."""
    block = Block(type="compaction", text=summary)
    return Reply(blocks=(block,), stop_reason="compaction", **options)


def error(
    status: int,
    type: str | None = None,
    message: str | None = None,
    retry_after_ms: int | None = None,
    retry_after_s: int | None = None,
    **options: Any,
) -> Reply:
    """An HTTP error reply; the error type defaults to the API's one for `status`."""
    headers = dict(options.pop("headers", {}))
    if retry_after_ms is not None:
        headers["retry-after-ms"] = str(retry_after_ms)
    if retry_after_s is not None:
        headers["retry-after"] = str(retry_after_s)
    kind = type or ERROR_TYPES.get(status, "api_error")
    msg = message or f"fakeapi scripted {kind} ({status})"
    return Reply(status=status, error_type=kind, error_message=msg, headers=headers, **options)


def cut_stream(after_events: int, reply: Reply | None = None, cleanly: bool = False) -> Reply:
    """A streamed reply whose connection is dropped after `after_events` SSE events:
    mid-body by default, or after a proper end of body (`cleanly`), before message_stop."""
    base = reply or text("This answer is long enough to be cut off in the middle.")
    return base.with_(cut_after_events=after_events, cut_cleanly=cleanly)


def stream_error(
    type: str = "overloaded_error", after_events: int = 3, reply: Reply | None = None
) -> Reply:
    """A 200 stream that turns into an SSE `error` event, as the API does when overloaded."""
    base = reply or text("This answer is interrupted by an error event.")
    msg = f"fakeapi scripted {type} mid-stream"
    return base.with_(error_after_events=after_events, error_type=type, error_message=msg)


def by_prompt(scripts: Mapping[str, list[Reply]]) -> Responder:
    """A responder for sessions that run at once: each answered from its own script,
    chosen by the text of the session's first prompt, whatever order requests arrive in."""
    queues = {prompt: list(replies) for prompt, replies in scripts.items()}

    def reply(request: Request) -> Reply:
        first = request.body["messages"][0]["content"]
        prompt = first if isinstance(first, str) else first[0].get("text", "")
        left = queues.get(prompt)
        if not left:
            return error(500, message=f"fakeapi: no reply left for the session of {prompt!r}")
        return left.pop(0)

    return reply


def new_tool_use_id() -> str:
    return "toolu_fake" + uuid.uuid4().hex[:20]


def replies_from_json(script: Any) -> tuple[list[Reply], Reply | None]:
    """Parse a standalone script: a list of replies, or {"replies": [...], "default": {...}}.

    A reply is {"text": "..."}, {"thinking": "..."}, {"tool_use": {"name", "input", "id"?}}
    (or a list of those), {"error": 529, "type"?, "message"?, "retry_after_ms"?},
    or {"blocks": [{"type": "text", "text": ...}, ...]}; any other key is a Reply option.
    """
    if isinstance(script, list):
        script = {"replies": script}
    default = script.get("default")
    return [reply_from_json(r) for r in script["replies"]], default and reply_from_json(default)


def reply_from_json(obj: Mapping[str, Any]) -> Reply:
    obj = dict(obj)
    if "error" in obj:
        return error(obj.pop("error"), **obj)
    blocks = [Block(**b) for b in obj.pop("blocks", [])]
    if "thinking" in obj:
        blocks.append(Block(type="thinking", text=obj.pop("thinking")))
    if "text" in obj:
        blocks.append(Block(type="text", text=obj.pop("text")))
    uses = obj.pop("tool_use", [])
    for use in [uses] if isinstance(uses, Mapping) else uses:
        blocks.append(tool_use(**use).blocks[0])
    allowed = {f.name for f in fields(Reply)}
    return Reply(blocks=tuple(blocks), **{k: v for k, v in obj.items() if k in allowed})
