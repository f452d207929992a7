"""Compaction: the conversation replaced by a summary before it outgrows its window.

tether asks the API to compact (`compaction={"type": "summarize"}` on the beta
Messages API): the response is a signed `compaction` block, which later requests
send first in `messages`, in place of the messages it summarizes. An endpoint
that refuses the beta (a proxy, an older gateway) gets tether's own summary
request instead: a plain request for a summary that keeps the task, the
decisions, the file paths and the open problems.

Either way the result is one `agent.thread_context_compacted` event, recorded
with its span's end like a response, and the context fold restarts from it.
The log keeps every event: compaction only changes what the next request carries.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from . import errors
from . import events as ev
from .calls import Append, ModelCalls
from .compaction_requests import (
    compacted,
    compaction_request,
    refuses_compaction,
    summary_request,
    trimmed_to,
)
from .model import ModelRequest, ModelResponse
from .window import WindowMeter, estimate_tokens

log = logging.getLogger(__name__)

TRIM_TO = 0.6  # a compaction request over the window keeps this share of it, the newest
_MAXIMUM = re.compile(r"> ([\d,]+) maximum")


class Compactor:
    """A session's context management: when to compact, and compacting, each compaction
    recorded with its span like a response."""

    def __init__(
        self,
        calls: ModelCalls,
        append: Append,
        settings: ev.SessionCreated,
        next_request: Callable[[], ModelRequest],
    ) -> None:
        self.calls = calls
        self.append = append
        self.settings = settings
        self.next_request = next_request
        self.window = WindowMeter()  # fed every event by the harness
        self.window_limit = settings.context_window  # less if the API says it is less
        self.beta_refused = False  # the endpoint does not know the compaction beta
        self.just_compacted = False  # no response since the last compaction
        self.asked: str | None = None  # a compaction the next turn makes, and why

    def tokens(self) -> int:
        """The estimated size of the next request."""

        def whole() -> int:
            request = self.next_request()
            return estimate_tokens([request.system, list(request.tools), list(request.messages)])

        return self.window.tokens(whole)

    def due(self, messages: int) -> str | None:
        """Why the context is to be compacted before the next request, if it is: the API
        said the window is full (`asked`), or the request would pass the threshold."""
        settings, asked, self.asked = self.settings, self.asked, None
        if not settings.compaction or self.just_compacted or messages < 2:
            return None
        if asked is not None:
            return asked
        over = self.tokens() > settings.compact_threshold * self.window_limit
        return "threshold" if over else None

    def learn(self, exc: errors.ContextWindowExceeded) -> None:
        """The API said how large the window is ("... > 200000 maximum"): keep under it."""
        found = _MAXIMUM.search(str(exc))
        if found:
            self.window_limit = min(self.window_limit, int(found[1].replace(",", "")))

    def compact(self, trigger: str, turn: int) -> None:
        """Replace the context by a summary: the API's compaction, else tether's own summary.
        Raises ContextWindowExceeded if neither gives one, or if even the summary leaves
        the context over the window; RetriesExhausted if the API keeps failing."""
        before, base = self.tokens(), self.next_request()
        attempts = [] if self.beta_refused else [(compaction_request, "api")]
        attempts.append((summary_request, "summary"))
        if not any(
            self._attempt_fitting(make(base), method, before=before, trigger=trigger, turn=turn)
            for make, method in attempts
        ):
            raise errors.ContextWindowExceeded(
                f"the context ({before:,} tokens) could not be compacted: no summary came back"
            )
        self.just_compacted = True
        if self.tokens() > self.window_limit:
            raise errors.ContextWindowExceeded(
                "the context is still larger than the window after compaction; raise "
                "--context-window, or resume with a shorter prompt"
            )

    def _attempt_fitting(self, request: ModelRequest, method: str, **about: object) -> bool:
        """An attempt; if even the compaction request is too long for the window (the
        context passed it before tether knew), again with its oldest turns left out."""
        try:
            return self._attempt(request, method, **about)  # type: ignore[arg-type]
        except errors.ContextWindowExceeded as exc:
            self.learn(exc)
            shorter = trimmed_to(request, int(self.window_limit * TRIM_TO))
            return self._attempt(shorter, method, **about)  # type: ignore[arg-type]

    def _attempt(
        self, request: ModelRequest, method: str, *, before: int, trigger: str, turn: int
    ) -> bool:
        """One compaction request; False if it gave no summary or the beta was refused."""
        prefix = estimate_tokens([request.system, list(request.tools)])
        done: list[bool] = []

        def record(response: ModelResponse, duration_ms: int, start_id: str) -> None:
            event = compacted(response, method=method, before=before, prefix_tokens=prefix,
                              trigger=trigger)  # fmt: skip
            end = ev.ModelRequestEnd(
                model=response.model or request.model, model_request_start_id=start_id,
                usage=response.usage,
                stop_reason="compaction", duration_ms=duration_ms, turn=turn,
                is_error=event is None,  # no summary: nothing of it counts
            )  # fmt: skip
            self.append(*([event] if event else []), end)
            done.append(event is not None)

        try:
            self.calls.call(request, record, listen=False, turn=turn)
        except errors.InvalidRequest as exc:
            if method != "api" or not refuses_compaction(exc):
                raise
            log.info("the endpoint refused the compaction beta: %s", exc)
            self.beta_refused = True
            return False
        return bool(done) and done[0]
