"""Token counts and a prompt cache, as the fake's usage reports them.

The fake counts a request as a quarter of the characters of its JSON (tools,
system, messages): close enough to a tokenizer for windows and costs to behave
as they do on the real API. Its prompt cache works as the API documents: a
`cache_control` breakpoint writes the prefix up to it, and a later request that
starts with a written prefix reads it instead of paying for it again.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from typing import Any

CHARS_PER_TOKEN = 4


def tokens_of(value: Any) -> int:
    """The fake's token count of one JSON value."""
    raw = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return max(1, len(raw) // CHARS_PER_TOKEN)


def segments(body: dict[str, Any]) -> Iterator[tuple[Any, bool]]:
    """The request's parts in the order the API caches them, each with whether it ends in
    a breakpoint: tools, then system, then every block of every message."""
    for tool in body.get("tools") or []:
        yield tool, bool(tool.get("cache_control"))
    system = body.get("system")
    for block in [{"type": "text", "text": system}] if isinstance(system, str) else system or []:
        yield block, bool(block.get("cache_control"))
    for message in body.get("messages") or []:
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        yield {"role": message.get("role")}, False
        for block in blocks or []:
            yield block, bool(isinstance(block, dict) and block.get("cache_control"))


def count_tokens(body: dict[str, Any]) -> int:
    """The fake's count of a request's input tokens."""
    return sum(tokens_of(_uncached(part)) for part, _ in segments(body))


def _uncached(part: Any) -> Any:
    """The part as the cache sees it: a breakpoint does not change its content."""
    if isinstance(part, dict) and "cache_control" in part:
        return {k: v for k, v in part.items() if k != "cache_control"}
    return part


class PromptCache:
    """Prefixes written at breakpoints, shared by every request to one fake."""

    def __init__(self) -> None:
        self._written: set[str] = set()
        self._lock = threading.Lock()

    def usage(self, body: dict[str, Any]) -> dict[str, int]:
        """input, cache-read and cache-write tokens of `body`; writes its breakpoints."""
        total = read = last_breakpoint = 0
        digest = hashlib.sha256(str(body.get("model")).encode())
        marks: list[str] = []
        with self._lock:
            for part, breakpoint in segments(body):
                digest.update(json.dumps(_uncached(part), sort_keys=True).encode())
                total += tokens_of(_uncached(part))
                prefix = digest.hexdigest()
                if prefix in self._written:
                    read = total
                if breakpoint:
                    marks.append(prefix)
                    last_breakpoint = total
            self._written.update(marks)
        written = max(0, last_breakpoint - read)
        return {
            "input_tokens": total - read - written,
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": written,
        }
