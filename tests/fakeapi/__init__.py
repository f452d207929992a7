"""A real local HTTP server that speaks the Anthropic Messages API, scripted turn by turn.

Tests drive the real `anthropic` SDK against it through `base_url` (or
`ANTHROPIC_BASE_URL` in a subprocess); nothing is patched. Each POST
/v1/messages consumes the next scripted reply and answers it as plain JSON or
as server-sent events, exactly as the API shapes them. Requests are checked
against the API's own rules (`rules.py`) and refused with its 400 and its
wording, so a harness bug becomes a 400 rather than a green test.

    with FakeAPI() as api:
        api.add(text("Let me look.") + tool_use("bash", {"command": "ls"}))
        api.add(error(529, retry_after_ms=10), text("Done."))
        ...  # point the client at api.base_url
        assert api.requests[-1].body["messages"][-1]["role"] == "user"

Standalone: `python tests/fakeapi --script replies.json` prints its base URL
and serves until killed (see `replies_from_json` for the script format).

Modules: `replies` (what to answer), `wire` (how the API shapes answers, and the
fake's signatures), `rules` (what the API refuses), `tokens` (counts and the
prompt cache), `server` (the HTTP server). Stdlib only, so it runs anywhere
tests do, without tether installed.
"""

from .replies import (
    ERROR_TYPES,
    Block,
    Reply,
    Responder,
    bash,
    by_prompt,
    compaction,
    cut_stream,
    error,
    new_tool_use_id,
    redacted_thinking,
    replies_from_json,
    reply_from_json,
    stream_error,
    text,
    thinking,
    tool_use,
)
from .rules import check, validate
from .server import COMPACTION_BETA, FakeAPI, Request, main, summary_of
from .tokens import count_tokens
from .wire import error_json, message_json, sign, sse_events

__all__ = [
    "COMPACTION_BETA",
    "ERROR_TYPES",
    "Block",
    "FakeAPI",
    "Reply",
    "Request",
    "Responder",
    "bash",
    "by_prompt",
    "check",
    "compaction",
    "count_tokens",
    "cut_stream",
    "error",
    "error_json",
    "main",
    "message_json",
    "new_tool_use_id",
    "redacted_thinking",
    "replies_from_json",
    "reply_from_json",
    "sign",
    "sse_events",
    "stream_error",
    "summary_of",
    "text",
    "thinking",
    "tool_use",
    "validate",
]
