"""A real local HTTP server that speaks the Anthropic Messages API, scripted turn by turn.

Tests drive the real `anthropic` SDK against it through `base_url` (or
`ANTHROPIC_BASE_URL` in a subprocess); nothing is patched. Each POST
/v1/messages consumes the next scripted reply and answers it as plain JSON or
as server-sent events, exactly as the API shapes them. Requests are validated
the way the API would, so a harness bug becomes a 400 rather than a green test.

    with FakeAPI() as api:
        api.add(text("Let me look.") + tool_use("bash", {"command": "ls"}))
        api.add(error(529, retry_after_ms=10), text("Done."))
        ...  # point the client at api.base_url
        assert api.requests[-1].body["messages"][-1]["role"] == "user"

Standalone: `python tests/fakeapi.py --script replies.json` prints its base URL
and serves until killed (see `replies_from_json` for the script format).

Stdlib only, so it runs anywhere tests do, without tether installed.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

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


# ---------------------------------------------------------------- replies


@dataclass(frozen=True, kw_only=True)
class Block:
    """One content block of a scripted reply: text, thinking or tool_use."""

    type: str
    text: str = ""
    signature: str = ""
    id: str = ""
    name: str = ""
    input: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Reply:
    """One scripted answer. `a + b` joins the blocks of two replies (options from `a`)."""

    blocks: tuple[Block, ...] = ()
    stop_reason: str | None = None  # None: "tool_use" if a tool is called, else "end_turn"
    model: str | None = None  # None: echo the request's model
    input_tokens: int = 10
    output_tokens: int | None = None  # None: a rough count of the content
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    status: int = 200  # anything else answers with an API error body
    error_type: str = ""
    error_message: str = ""
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


def text(content: str, **options: Any) -> Reply:
    return Reply(blocks=(Block(type="text", text=content),), **options)


def thinking(content: str, signature: str = "sig-fake", **options: Any) -> Reply:
    return Reply(blocks=(Block(type="thinking", text=content, signature=signature),), **options)


def tool_use(name: str, input: Mapping[str, Any], id: str | None = None, **options: Any) -> Reply:
    block = Block(type="tool_use", id=id or new_tool_use_id(), name=name, input=dict(input))
    return Reply(blocks=(block,), **options)


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


def new_tool_use_id() -> str:
    return "toolu_fake" + uuid.uuid4().hex[:20]


Responder = Callable[["Request"], Reply]


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
        blocks.append(Block(type="thinking", text=obj.pop("thinking"), signature="sig-fake"))
    if "text" in obj:
        blocks.append(Block(type="text", text=obj.pop("text")))
    uses = obj.pop("tool_use", [])
    for use in [uses] if isinstance(uses, Mapping) else uses:
        blocks.append(tool_use(**use).blocks[0])
    allowed = {f.name for f in fields(Reply)}
    return Reply(blocks=tuple(blocks), **{k: v for k, v in obj.items() if k in allowed})


# ---------------------------------------------------------------- wire format


def _stop_reason(reply: Reply) -> str:
    if reply.stop_reason:
        return reply.stop_reason
    return "tool_use" if any(b.type == "tool_use" for b in reply.blocks) else "end_turn"


def _output_tokens(reply: Reply) -> int:
    if reply.output_tokens is not None:
        return reply.output_tokens
    sizes = [len(b.text) + len(json.dumps(b.input)) for b in reply.blocks]
    return max(1, sum(sizes) // 4)


def _usage(reply: Reply, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": reply.input_tokens,
        "cache_creation_input_tokens": reply.cache_creation_input_tokens,
        "cache_read_input_tokens": reply.cache_read_input_tokens,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _block_json(block: Block) -> dict[str, Any]:
    if block.type == "text":
        return {"type": "text", "text": block.text}
    if block.type == "thinking":
        return {"type": "thinking", "thinking": block.text, "signature": block.signature}
    return {"type": "tool_use", "id": block.id, "name": block.name, "input": dict(block.input)}


def message_json(reply: Reply, model: str, msg_id: str) -> dict[str, Any]:
    """The whole message, as a non-streaming request receives it."""
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": reply.model or model,
        "content": [_block_json(b) for b in reply.blocks],
        "stop_reason": _stop_reason(reply),
        "stop_sequence": None,
        "usage": _usage(reply, _output_tokens(reply)),
    }


def _chunks(s: str, size: int) -> list[str]:
    return [s[i : i + size] for i in range(0, len(s), size)] or [""]


def _block_events(index: int, block: Block, size: int) -> Iterator[dict[str, Any]]:
    start = _block_json(block)
    if block.type == "text":
        start["text"] = ""
        deltas = [{"type": "text_delta", "text": c} for c in _chunks(block.text, size)]
    elif block.type == "thinking":
        start.update(thinking="", signature="")
        deltas = [{"type": "thinking_delta", "thinking": c} for c in _chunks(block.text, size)]
        deltas.append({"type": "signature_delta", "signature": block.signature})
    else:
        start["input"] = {}
        # The API opens with an empty partial_json, then splits the JSON anywhere.
        raw = [""] + _chunks(json.dumps(dict(block.input)), size)
        deltas = [{"type": "input_json_delta", "partial_json": c} for c in raw]
    yield {"type": "content_block_start", "index": index, "content_block": start}
    for delta in deltas:
        yield {"type": "content_block_delta", "index": index, "delta": delta}
    yield {"type": "content_block_stop", "index": index}


def sse_events(reply: Reply, model: str, msg_id: str) -> list[dict[str, Any]]:
    """The stream of events for `reply`, in the API's order."""
    start = message_json(reply, model, msg_id) | {"content": [], "stop_reason": None}
    start["usage"] = _usage(reply, 1)
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}, {"type": "ping"}]
    for index, block in enumerate(reply.blocks):
        events.extend(_block_events(index, block, max(1, reply.chunk_chars)))
    delta = {"stop_reason": _stop_reason(reply), "stop_sequence": None}
    usage = {"output_tokens": _output_tokens(reply)}
    events.append({"type": "message_delta", "delta": delta, "usage": usage})
    events.append({"type": "message_stop"})
    return events


def error_json(kind: str, message: str, request_id: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}


# ---------------------------------------------------------------- validation


def validate(body: Any) -> str | None:
    """The API's own error message for a request it would refuse with a 400, or None."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    for check in (_check_fields, _check_roles, _check_contents, _check_tool_pairs, _check_cache):
        problem = check(body)
        if problem:
            return problem
    return None


def _check_fields(body: dict[str, Any]) -> str | None:
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    tokens = body.get("max_tokens")
    if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 1:
        return "max_tokens: Field required (a positive integer)"
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        return "messages: at least one message is required"
    tools = body.get("tools", [])
    if not isinstance(tools, list) or any("name" not in t for t in tools):
        return "tools: each tool needs a name"
    names = [t["name"] for t in tools]
    return "tools: Tool names must be unique." if len(set(names)) < len(names) else None


def _check_roles(body: dict[str, Any]) -> str | None:
    roles = [m.get("role") if isinstance(m, dict) else None for m in body["messages"]]
    if any(r not in ("user", "assistant") for r in roles):
        return "messages: each message needs a role of user or assistant"
    if roles[0] != "user":
        return 'messages: first message must use the "user" role'
    for n in range(1, len(roles)):
        if roles[n] == roles[n - 1]:
            return (
                f'messages.{n}: roles must alternate between "user" and "assistant", '
                f'but found multiple "{roles[n]}" roles in a row'
            )
    return None


def _blocks(message: Mapping[str, Any]) -> Any:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return content


def _check_contents(body: dict[str, Any]) -> str | None:
    last = len(body["messages"]) - 1
    for n, message in enumerate(body["messages"]):
        blocks = _blocks(message)
        if not isinstance(blocks, list) or any(not isinstance(b, dict) for b in blocks):
            return f"messages.{n}.content: must be a string or a list of content blocks"
        if not blocks and not (n == last and message["role"] == "assistant"):
            return (
                f"messages.{n}: all messages must have non-empty content "
                "except for the optional final assistant message"
            )
        if any(b.get("type") == "text" and not b.get("text") for b in blocks):
            return "messages: text content blocks must be non-empty"
        uses_tools = any(b.get("type") in ("tool_use", "tool_result") for b in blocks)
        if uses_tools and not body.get("tools"):
            return "Requests which include `tool_use` or `tool_result` blocks must define tools."
    return None


def _check_tool_pairs(body: dict[str, Any]) -> str | None:
    messages, seen = body["messages"], set[str]()
    for n, message in enumerate(messages):
        blocks = _blocks(message)
        asked = [b.get("id") for b in blocks if b.get("type") == "tool_use"]
        if seen.intersection(asked) or len(set(asked)) < len(asked):
            return f"messages.{n}: `tool_use` ids must be unique"
        seen.update(asked)
        following = _blocks(messages[n + 1]) if n + 1 < len(messages) else []
        answered = [b.get("tool_use_id") for b in following if b.get("type") == "tool_result"]
        missing = [i for i in asked if i not in answered]
        if missing:
            return (
                f"messages.{n}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {', '.join(missing)}. Each `tool_use` block must have "
                "a corresponding `tool_result` block in the next message."
            )
        if message["role"] == "user":
            previous = _blocks(messages[n - 1]) if n else []
            problem = _check_results(n, blocks, previous)
            if problem:
                return problem
    return None


def _check_results(n: int, blocks: list[Any], previous: list[Any]) -> str | None:
    asked = {b.get("id") for b in previous if b.get("type") == "tool_use"}
    for b in blocks:
        if b.get("type") == "tool_result" and b.get("tool_use_id") not in asked:
            return (
                f"messages.{n}.content: unexpected `tool_use_id` found in `tool_result` blocks: "
                f"{b.get('tool_use_id')}. Each `tool_result` block must have a corresponding "
                "`tool_use` block in the previous message."
            )
    return None


def _count_cache_control(value: Any) -> int:
    if isinstance(value, dict):
        own = 1 if value.get("cache_control") else 0
        return own + sum(_count_cache_control(v) for k, v in value.items() if k != "cache_control")
    if isinstance(value, list):
        return sum(_count_cache_control(v) for v in value)
    return 0


def _check_cache(body: dict[str, Any]) -> str | None:
    parts = [body.get("tools"), body.get("system"), body["messages"]]
    found = sum(_count_cache_control(p) for p in parts)
    if found > 4:
        return f"A maximum of 4 blocks with cache_control may be provided. Found {found}."
    return None


# ---------------------------------------------------------------- server


@dataclass(frozen=True, kw_only=True)
class Request:
    """One request the server received, recorded before it is answered."""

    method: str
    path: str
    headers: Mapping[str, str]  # names lower-cased
    body: Any  # the parsed JSON body, or None if it was not JSON
    raw: bytes


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streams, as the API
    # Headers and body go out in separate writes; with Nagle on, the second one
    # waits for the client's delayed ACK and every answer gains ~40 ms.
    disable_nagle_algorithm = True
    server: _Server

    def do_POST(self) -> None:
        self.server.fake.handle(self)

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug(format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeAPI

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (a harness killed mid-request) is expected here."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeAPI:
    """The fake Messages API, served from a thread on 127.0.0.1. A context manager.

    Replies are consumed in order, one per POST /v1/messages; a queued item may also
    be a responder (request -> Reply). When the queue is empty the `responder`, then
    the `default` reply answer; without either, a 500 api_error says the script ran out.
    `api_key`, if given, is the only key accepted (others get a 401).
    """

    def __init__(
        self,
        replies: Sequence[Reply | Responder] = (),
        *,
        default: Reply | None = None,
        responder: Responder | None = None,
        api_key: str | None = None,
        port: int = 0,
    ) -> None:
        self.default = default
        self.responder = responder
        self.api_key = api_key
        self._queue: deque[Reply | Responder] = deque(replies)
        self._requests: list[Request] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.fake = self
        # A short poll so that close() returns at once rather than after up to 0.5 s.
        serve = lambda: self._server.serve_forever(poll_interval=0.01)  # noqa: E731
        self._thread = threading.Thread(target=serve, name="fakeapi", daemon=True)

    @property
    def base_url(self) -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    @property
    def requests(self) -> list[Request]:
        """Every request received so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def pending(self) -> int:
        """How many queued replies have not been used yet."""
        with self._lock:
            return len(self._queue)

    def add(self, *replies: Reply | Responder) -> FakeAPI:
        with self._lock:
            self._queue.extend(replies)
        return self

    def start(self) -> FakeAPI:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()  # releases streams that hang on purpose
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one request

    def handle(self, h: _Handler) -> None:
        request = self._record(h)
        request_id = "req_fake" + uuid.uuid4().hex[:20]
        problem = self._refusal(request)
        reply = error(*problem) if problem else self._next_reply(request)
        if reply.status != 200:
            body = error_json(reply.error_type, reply.error_message, request_id)
            self._send_json(h, reply.status, body, request_id, reply.headers)
        elif request.body.get("stream"):
            self._send_stream(h, reply, request.body["model"], request_id)
        else:
            body = message_json(reply, request.body["model"], "msg_fake" + request_id[8:])
            self._send_json(h, 200, body, request_id, reply.headers)

    def _record(self, h: _Handler) -> Request:
        raw = h.rfile.read(int(h.headers.get("content-length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in h.headers.items()}
        request = Request(method=h.command, path=h.path, headers=headers, body=body, raw=raw)
        with self._lock:
            self._requests.append(request)
        return request

    def _refusal(self, request: Request) -> tuple[int, None, str] | None:
        if request.method != "POST" or request.path.split("?")[0] != "/v1/messages":
            return 404, None, f"Not found: {request.method} {request.path}"
        # This SDK sends the key as a bearer token; older ones and curl use x-api-key.
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        key = request.headers.get("x-api-key") or bearer
        if not key or (self.api_key is not None and key != self.api_key):
            return 401, None, "invalid x-api-key"
        if not request.headers.get("anthropic-version"):
            return 400, None, "anthropic-version: header is required"
        problem = validate(request.body)
        return (400, None, problem) if problem else None

    def _next_reply(self, request: Request) -> Reply:
        with self._lock:
            item = self._queue.popleft() if self._queue else None
        if item is None:
            item = self.responder or self.default
        if item is None:
            n = len(self.requests)
            return error(500, message=f"fakeapi: the script has no reply left for request {n}")
        return item(request) if callable(item) else item

    def _send_json(self, h: _Handler, status: int, body: Any, rid: str, headers: Mapping) -> None:
        data = json.dumps(body).encode()
        h.send_response(status)
        for name, value in {"content-type": "application/json", **headers}.items():
            h.send_header(name, value)
        h.send_header("request-id", rid)
        h.send_header("content-length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _send_stream(self, h: _Handler, reply: Reply, model: str, rid: str) -> None:
        h.send_response(200)
        for name, value in {"content-type": "text/event-stream", **reply.headers}.items():
            h.send_header(name, value)
        h.send_header("request-id", rid)
        h.send_header("cache-control", "no-cache")
        h.send_header("transfer-encoding", "chunked")
        h.end_headers()
        try:
            self._write_events(h, reply, sse_events(reply, model, "msg_fake" + rid[8:]), rid)
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True  # the client went away (killed, or it gave up)

    def _write_events(self, h: _Handler, reply: Reply, events: list[dict], rid: str) -> None:
        for n, event in enumerate(events):
            if n == reply.cut_after_events:
                if reply.cut_cleanly:
                    _write_chunk(h, b"")
                return self._cut(h)
            if n == reply.hang_after_events:
                self._closing.wait()
                return self._cut(h)
            if n == reply.error_after_events:
                event = error_json(reply.error_type, reply.error_message, rid)
                _write_chunk(h, _sse(event))
                break
            if reply.event_delay_s:
                time.sleep(reply.event_delay_s)
            _write_chunk(h, _sse(event))
        _write_chunk(h, b"")

    def _cut(self, h: _Handler) -> None:
        # No closing chunk: the client sees the body end before the stream was complete.
        h.close_connection = True
        h.wfile.flush()
        h.connection.shutdown(socket.SHUT_RDWR)


def _sse(event: Mapping[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def _write_chunk(h: _Handler, data: bytes) -> None:
    h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
    h.wfile.flush()


def main(argv: list[str] | None = None) -> None:
    """Serve a JSON script until killed; the base URL is the first line on stdout."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--script", type=Path, help="JSON list of replies (see replies_from_json)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default=None, help="the only key accepted")
    args = parser.parse_args(argv)
    replies, default = (
        replies_from_json(json.loads(args.script.read_text())) if args.script else ([], None)
    )
    api = FakeAPI(replies, default=default, api_key=args.api_key, port=args.port)
    with api:
        print(api.base_url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
