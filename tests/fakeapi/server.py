"""The fake's HTTP server: POST /v1/messages, refused as the API refuses, else scripted.

Each request is recorded, checked (key, version, beta header, the request rules,
thinking sent back unchanged, the context window), then answered with the next
scripted reply as plain JSON or server-sent events. Compaction requests are
answered by the fake itself with a signed summary, as the API answers them.
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from . import rules, wire
from .replies import Reply, Responder, compaction, error, replies_from_json
from .tokens import PromptCache, count_tokens

logger = logging.getLogger(__name__)

COMPACTION_BETA = "compact-2026-09-04"


@dataclass(frozen=True, kw_only=True)
class Request:
    """One request the server received, recorded before it is answered."""

    method: str
    path: str
    headers: Mapping[str, str]  # names lower-cased
    body: Any  # the parsed JSON body, or None if it was not JSON
    raw: bytes
    tokens: int = 0  # the fake's count of its input tokens

    @property
    def is_compaction(self) -> bool:
        return isinstance(self.body, dict) and self.body.get("compaction") is not None


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


class LocalServer(ThreadingHTTPServer):
    """A test server's HTTP server: threads that die with it, and a client that hangs up
    (a harness killed mid-request, a cancelled pull) is no error."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Server(LocalServer):
    fake: FakeAPI


Refusal = tuple[int, str, str]  # status, message, error code


class FakeAPI:
    """The fake Messages API, served from a thread on 127.0.0.1. A context manager.

    Replies are consumed in order, one per POST /v1/messages; a queued item may also
    be a responder (request -> Reply). When the queue is empty the `responder`, then
    the `default` reply answer; without either, a 500 api_error says the script ran out.
    Compaction replies (`compaction(...)`) queue apart and answer compaction requests
    only; without one, the fake writes its own summary.
    `api_key`, if given, is the only key accepted (others get a 401). `context_window`
    refuses longer prompts as the API does; `compaction_beta=False` is an endpoint
    that does not know the compaction beta (a proxy, an older gateway).
    """

    def __init__(
        self,
        replies: Sequence[Reply | Responder] = (),
        *,
        default: Reply | None = None,
        responder: Responder | None = None,
        api_key: str | None = None,
        port: int = 0,
        context_window: int | None = None,
        compaction_beta: bool = True,
    ) -> None:
        self.default = default
        self.responder = responder
        self.api_key = api_key
        self.context_window = context_window
        self.compaction_beta = compaction_beta
        self.cache = PromptCache()
        self._queue: deque[Reply | Responder] = deque()
        self._compactions: deque[Reply] = deque()
        self._requests: list[Request] = []
        self._issued: dict[str, list[Any]] = {}  # tool_use id -> its response's thinking
        self._lock = threading.Lock()
        self.add(*replies)
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
            return len(self._queue) + len(self._compactions)

    def add(self, *replies: Reply | Responder) -> FakeAPI:
        with self._lock:
            for reply in replies:
                compacts = isinstance(reply, Reply) and reply.stop_reason == "compaction"
                (self._compactions if compacts else self._queue).append(reply)  # type: ignore[arg-type]
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
        if request is None:
            h.close_connection = True  # a client that died mid-upload: the API never sees it
            return
        request_id = "req_fake" + uuid.uuid4().hex[:20]
        problem = self._refusal(request)
        if problem:
            status, message, code = problem
            reply = error(status, message=message, error_code=code)
        else:
            reply = self._next_reply(request)
        if reply.status != 200:
            body = wire.error_json(
                reply.error_type, reply.error_message, request_id, reply.error_code
            )
            self._send_json(h, reply.status, body, request_id, reply.headers)
            return
        counted = self.cache.usage(request.body)
        msg_id = "msg_fake" + request_id[8:]
        model = request.body["model"]
        self._remember_thinking(reply)
        if request.body.get("stream"):
            self._send_stream(h, reply, wire.sse_events(reply, model, msg_id, counted), request_id)
        else:
            body = wire.message_json(reply, model, msg_id, counted)
            self._send_json(h, 200, body, request_id, reply.headers)

    def _record(self, h: _Handler) -> Request | None:
        length = int(h.headers.get("content-length") or 0)
        raw = h.rfile.read(length)
        if len(raw) < length:
            return None
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in h.headers.items()}
        tokens = count_tokens(body) if isinstance(body, dict) else 0
        request = Request(
            method=h.command, path=h.path, headers=headers, body=body, raw=raw, tokens=tokens
        )
        with self._lock:
            self._requests.append(request)
        return request

    def _refusal(self, request: Request) -> Refusal | None:
        if request.method != "POST" or request.path.split("?")[0] != "/v1/messages":
            return 404, f"Not found: {request.method} {request.path}", ""
        # This SDK sends the key as a bearer token; older ones and curl use x-api-key.
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        key = request.headers.get("x-api-key") or bearer
        if not key or (self.api_key is not None and key != self.api_key):
            return 401, "invalid x-api-key", ""
        if not request.headers.get("anthropic-version"):
            return 400, "anthropic-version: header is required", ""
        return self._beta_refusal(request) or self._body_refusal(request)

    def _beta_refusal(self, request: Request) -> Refusal | None:
        betas = [b.strip() for b in request.headers.get("anthropic-beta", "").split(",")]
        if COMPACTION_BETA in betas and not self.compaction_beta:
            return (
                400,
                (
                    f"Unexpected value(s) `{COMPACTION_BETA}` for the `anthropic-beta` header. "
                    "Please consult our documentation at docs.anthropic.com or try again without "
                    "the header."
                ),
                "",
            )
        if request.is_compaction and COMPACTION_BETA not in betas:
            return 400, "compaction: Extra inputs are not permitted", ""
        if _holds_compaction(request.body) and COMPACTION_BETA not in betas:
            # wording not known: the API's for a block type it does not accept without its beta
            return 400, "messages.0.content.0: `compaction` blocks require the compaction beta", ""
        return None

    def _body_refusal(self, request: Request) -> Refusal | None:
        found = rules.check(request.body)
        if found:
            return 400, found.message, found.code
        with self._lock:
            changed = rules.thinking_unchanged(request.body, self._issued)
        if changed:
            return 400, changed, ""
        window = self.context_window
        if window is not None and request.tokens > window:
            return 400, f"prompt is too long: {request.tokens} tokens > {window} maximum", ""
        return None

    def _next_reply(self, request: Request) -> Reply:
        if request.is_compaction:
            return self._compaction_reply(request)
        with self._lock:
            item = self._queue.popleft() if self._queue else None
        if item is None:
            item = self.responder or self.default
        if item is None:
            n = len(self.requests)
            return error(500, message=f"fakeapi: the script has no reply left for request {n}")
        return item(request) if callable(item) else item

    def _compaction_reply(self, request: Request) -> Reply:
        """The next scripted compaction reply, else the fake's own summary."""
        with self._lock:
            if self._compactions:
                return self._compactions.popleft()
        return compaction(summary_of(request.body))

    def _remember_thinking(self, reply: Reply) -> None:
        kept = [wire.block_json(b) for b in reply.blocks]
        thinking = [b for b in kept if b["type"] in ("thinking", "redacted_thinking")]
        with self._lock:
            for block in kept:
                if block["type"] == "tool_use":
                    self._issued[block["id"]] = thinking

    # -- answers

    def _send_json(self, h: _Handler, status: int, body: Any, rid: str, headers: Mapping) -> None:
        data = json.dumps(body).encode()
        h.send_response(status)
        for name, value in {"content-type": "application/json", **headers}.items():
            h.send_header(name, value)
        h.send_header("request-id", rid)
        h.send_header("content-length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _send_stream(self, h: _Handler, reply: Reply, events: list[dict], rid: str) -> None:
        h.send_response(200)
        for name, value in {"content-type": "text/event-stream", **reply.headers}.items():
            h.send_header(name, value)
        h.send_header("request-id", rid)
        h.send_header("cache-control", "no-cache")
        h.send_header("transfer-encoding", "chunked")
        h.end_headers()
        try:
            self._write_events(h, reply, events, rid)
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
                event = wire.error_json(reply.error_type, reply.error_message, rid)
                _write_chunk(h, wire.sse(event))
                break
            if reply.event_delay_s:
                time.sleep(reply.event_delay_s)
            _write_chunk(h, wire.sse(event))
        _write_chunk(h, b"")

    def _cut(self, h: _Handler) -> None:
        # No closing chunk: the client sees the body end before the stream was complete.
        h.close_connection = True
        h.wfile.flush()
        h.connection.shutdown(socket.SHUT_RDWR)


def _holds_compaction(body: Any) -> bool:
    messages = body.get("messages") if isinstance(body, dict) else None
    blocks = [b for m in messages or [] for b in rules.blocks_of(m)]
    return any(isinstance(b, dict) and b.get("type") == "compaction" for b in blocks)


def summary_of(body: dict[str, Any]) -> str:
    """The fake's summary of a conversation: short, and naming what it covered."""
    messages = body["messages"]
    calls = sum(1 for m in messages for b in rules.blocks_of(m) if b.get("type") == "tool_use")
    first = next((b for m in messages for b in rules.blocks_of(m) if b.get("type") == "text"), {})
    task = str(first.get("text", first.get("content", "")))[:200]
    return f"Summary of {len(messages)} messages and {calls} tool calls. The task: {task}"


def _write_chunk(h: _Handler, data: bytes) -> None:
    h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
    h.wfile.flush()


def main(argv: list[str] | None = None) -> None:
    """Serve a JSON script until killed; the base URL is the first line on stdout."""
    parser = argparse.ArgumentParser(description="The fake Messages API, scripted.")
    parser.add_argument("--script", type=Path, help="JSON list of replies (see replies_from_json)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default=None, help="the only key accepted")
    parser.add_argument("--context-window", type=int, default=None, help="refuse longer prompts")
    args = parser.parse_args(argv)
    replies, default = (
        replies_from_json(json.loads(args.script.read_text())) if args.script else ([], None)
    )
    api = FakeAPI(
        replies, default=default, api_key=args.api_key, port=args.port,
        context_window=args.context_window,
    )  # fmt: skip
    with api:
        print(api.base_url, flush=True)
        threading.Event().wait()
