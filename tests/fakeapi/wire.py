"""The wire format: replies as the API shapes them (JSON or server-sent events), its
error bodies, and the signatures the fake puts on thinking and compaction blocks.

The fake signs what it returns with a key only it knows, so a block sent back
altered (or made up) fails verification, as it would on the real API.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from typing import Any

from .replies import Block, Reply

_KEY = b"tether-fakeapi-signing-key"


def sign(kind: str, content: str) -> str:
    """The fake's signature over a block's content (thinking text, a compaction summary)."""
    mac = hmac.new(_KEY, f"{kind}\0{content}".encode(), hashlib.sha256).hexdigest()
    return f"fakesig_{kind}_{mac[:40]}"


def verify(kind: str, content: str, signature: Any) -> bool:
    return isinstance(signature, str) and hmac.compare_digest(signature, sign(kind, content))


def redacted_data(seed: str = "") -> str:
    """Opaque redacted-thinking data that the fake can later recognise as its own."""
    nonce = seed or os.urandom(8).hex()
    return f"fakeredacted_{nonce}_{sign('redacted', nonce)[-16:]}"


def redacted_data_valid(data: Any) -> bool:
    if not isinstance(data, str) or not data.startswith("fakeredacted_"):
        return False
    nonce = data.removeprefix("fakeredacted_").rsplit("_", 1)[0]
    return data == redacted_data(nonce)


def stop_reason(reply: Reply) -> str:
    if reply.stop_reason:
        return reply.stop_reason
    if any(b.cut_at is not None for b in reply.blocks):
        return "max_tokens"  # the limit fell in the middle of a call
    return "tool_use" if any(b.type == "tool_use" for b in reply.blocks) else "end_turn"


def output_tokens(reply: Reply) -> int:
    if reply.output_tokens is not None:
        return reply.output_tokens
    sizes = [len(b.text) + len(b.data) + len(json.dumps(b.input)) for b in reply.blocks]
    return max(1, sum(sizes) // 4)


def usage_json(reply: Reply, output: int, counted: dict[str, int]) -> dict[str, Any]:
    """The reply's usage: its scripted counts, else what the fake counted for the request."""
    scripted = {
        "input_tokens": reply.input_tokens,
        "cache_creation_input_tokens": reply.cache_creation_input_tokens,
        "cache_read_input_tokens": reply.cache_read_input_tokens,
    }
    usage = {k: counted.get(k, 0) if v is None else v for k, v in scripted.items()}
    return usage | {"output_tokens": output, "service_tier": "standard"}


def block_json(block: Block) -> dict[str, Any]:
    if block.type == "text":
        return {"type": "text", "text": block.text}
    if block.type == "thinking":
        signature = block.signature or sign("thinking", block.text)
        return {"type": "thinking", "thinking": block.text, "signature": signature}
    if block.type == "redacted_thinking":
        return {"type": "redacted_thinking", "data": block.data}
    if block.type == "compaction":
        signature = block.signature or sign("compaction", block.text)
        return {"type": "compaction", "content": block.text, "encrypted_content": None,
                "signature": signature, "tool_changes": []}  # fmt: skip
    return {"type": "tool_use", "id": block.id, "name": block.name, "input": dict(block.input)}


def message_json(
    reply: Reply, model: str, msg_id: str, counted: dict[str, int] | None = None
) -> dict[str, Any]:
    """The whole message, as a non-streaming request receives it."""
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": reply.model or model,
        "content": [block_json(b) for b in reply.blocks],
        "stop_reason": stop_reason(reply),
        "stop_sequence": None,
        "usage": usage_json(reply, output_tokens(reply), counted or {}),
    }


def _chunks(s: str, size: int) -> list[str]:
    return [s[i : i + size] for i in range(0, len(s), size)] or [""]


def _deltas(block: Block, start: dict[str, Any], size: int) -> list[dict[str, Any]]:
    """The block's deltas; `start` (its content_block_start) is emptied of what they carry."""
    if block.type == "text":
        start["text"] = ""
        return [{"type": "text_delta", "text": c} for c in _chunks(block.text, size)]
    if block.type == "thinking":
        signature = start["signature"]
        start.update(thinking="", signature="")
        deltas = [{"type": "thinking_delta", "thinking": c} for c in _chunks(block.text, size)]
        return [*deltas, {"type": "signature_delta", "signature": signature}]
    if block.type == "redacted_thinking":
        return []  # the whole block comes in its start event
    if block.type == "compaction":
        start["content"] = None  # the summary comes whole, in one delta
        return [{"type": "compaction_delta", "content": block.text, "encrypted_content": None}]
    start["input"] = {}
    raw = json.dumps(dict(block.input))
    if block.cut_at is not None:
        raw = raw[: block.cut_at]
    # The API opens with an empty partial_json, then splits the JSON anywhere.
    return [{"type": "input_json_delta", "partial_json": c} for c in ["", *_chunks(raw, size)]]


def _block_events(index: int, block: Block, size: int) -> Iterator[dict[str, Any]]:
    start = block_json(block)
    deltas = _deltas(block, start, size)
    yield {"type": "content_block_start", "index": index, "content_block": start}
    for delta in deltas:
        yield {"type": "content_block_delta", "index": index, "delta": delta}
    yield {"type": "content_block_stop", "index": index}


def sse_events(
    reply: Reply, model: str, msg_id: str, counted: dict[str, int] | None = None
) -> list[dict[str, Any]]:
    """The stream of events for `reply`, in the API's order."""
    start = message_json(reply, model, msg_id, counted) | {"content": [], "stop_reason": None}
    start["usage"] = usage_json(reply, 1, counted or {})
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}, {"type": "ping"}]
    for index, block in enumerate(reply.blocks):
        events.extend(_block_events(index, block, max(1, reply.chunk_chars)))
    delta = {"stop_reason": stop_reason(reply), "stop_sequence": None}
    usage = {"output_tokens": output_tokens(reply)}
    events.append({"type": "message_delta", "delta": delta, "usage": usage})
    events.append({"type": "message_stop"})
    return events


def error_json(kind: str, message: str, request_id: str, code: str = "") -> dict[str, Any]:
    error: dict[str, Any] = {"type": kind, "message": message}
    if code:
        error["details"] = {"error_code": code}
    return {"type": "error", "error": error, "request_id": request_id}


def sse(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()
