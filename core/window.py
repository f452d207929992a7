"""How full the context window is: the size of the next request, estimated from the log.

The estimate is what the API counted for the last request (its response's input
tokens, cached or not) plus that response's output, plus what was added since,
at a conservative three characters a token. Right after a compaction, or before
the first response, nothing was counted yet: the caller estimates the request
itself. A pure fold of the events, like the context.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from . import events as ev

CHARS_PER_TOKEN = 3  # real tokenizers average 3.5 to 4 characters a token: this errs high
BLOCK_OVERHEAD = 8  # the JSON around a block (type, ids, flags), in tokens


def estimate_tokens(value: Any) -> int:
    """An estimate of the tokens `value` takes in a request, on the high side."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return len(text) // CHARS_PER_TOKEN + BLOCK_OVERHEAD


class WindowMeter:
    """The estimated size of the next request, updated one event at a time."""

    def __init__(self) -> None:
        self.counted: int | None = None  # the last request as the API counted it, with output
        self.added = 0  # what was added since, estimated
        self._compacted = False  # a compaction was just recorded: its span end counts nothing

    def add(self, event: ev.Event) -> None:
        if isinstance(event, ev.ModelRequestEnd):
            self._add_end(event)
        elif isinstance(event, ev.ThreadContextCompacted):
            self.counted, self.added, self._compacted = None, 0, True
        elif isinstance(event, ev.AgentToolResult | ev.UserMessage):
            self.added += estimate_tokens(event.content)

    def _add_end(self, end: ev.ModelRequestEnd) -> None:
        if self._compacted or end.is_error:
            self._compacted = False
            return
        u = end.usage
        sent = u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens
        self.counted, self.added = sent + u.output_tokens, 0

    def tokens(self, estimate_request: Callable[[], int]) -> int:
        """The next request's size: counted plus added, or `estimate_request()` when
        nothing was counted since the last compaction."""
        return self.counted + self.added if self.counted is not None else estimate_request()
