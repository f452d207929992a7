"""Model calls as the log records them: a span around each attempt, the SDK's errors
sorted into retries (each one recorded, with backoff) and refusals (raised).

A call counts only once its content and its closing `span.model_request_end` are
appended together, with one fsync: a crash in between leaves a span without an
end, which the context fold ignores, and the call is made again.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from . import errors
from . import events as ev
from .interrupts import Cancelled
from .model import (
    Listener,
    ModelClient,
    ModelRequest,
    ModelResponse,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
)
from .model_errors import RetryableModelError
from .model_errors import retry_delay as _retry_delay
from .sandbox.preflight import Preflight

Append = Callable[..., None]
# A complete response, its duration in ms and the id of its span's start event.
Record = Callable[[ModelResponse, int, str], None]


class RetriesExhausted(Exception):
    """The model API kept failing (`ModelCalls.gave_up` says how); the run goes idle."""


class ModelCalls:
    """Makes model calls for the harness and records each attempt in the log."""

    def __init__(
        self,
        model: ModelClient,
        append: Append,
        max_retries: int,
        on_text: Listener | None = None,
        on_thinking: Listener | None = None,
    ) -> None:
        self.model = model
        self.append = append
        self.max_retries = max_retries
        self.on_text = on_text
        self.on_thinking = on_thinking
        self.gave_up: errors.ModelError | None = None  # why retries ran out, for the person
        self._open: tuple[str, str, float] | None = None  # the span without an end: model,
        # the id of its start event, and when it started
        self._turn = 0
        self.preflight: Preflight | None = None  # the sandbox's check, until it passes
        self.asking = False  # a request is under way (a failed preflight cancels it)

    def call(
        self, request: ModelRequest, record: Record, listen: bool = True, turn: int = 0
    ) -> None:
        """One response to `request`, handed to `record` (which appends it and the span's
        end); `turn` is the session's so far, for the spans of failed attempts. Raises the
        model's refusals, and RetriesExhausted."""
        self._turn = turn
        for attempt in range(self.max_retries + 1):
            self._stop_if_the_sandbox_cannot_start(wait_s=0)  # known before asking: ask nothing
            start = ev.ModelRequestStart(model=request.model)
            self._open = (request.model, start.id, time.monotonic())  # an interrupt may follow
            self.append(start)
            try:
                response = self._ask(request, listen)
            except RetryableModelError as exc:
                delay = _retry_delay(attempt, exc.retry_after_s)
                if not self._record_retry(exc, attempt, delay):
                    raise RetriesExhausted() from exc
                time.sleep(delay)
                continue
            except errors.ModelError:
                self.end_span(is_error=True, stop_reason="error", turn=turn)
                raise
            if any(isinstance(block, ToolUseBlock) for block in response.content):
                self._stop_if_the_sandbox_cannot_start(None, response.usage)
            _, start_id, started = self._open
            self._open = None
            record(response, ms_since(started), start_id)
            return
        raise RetriesExhausted()

    def end_span(
        self, *, is_error: bool, stop_reason: str, turn: int = 0, usage: ev.Usage | None = None
    ) -> None:
        """Close the span of a call that is not going to complete, if one is open; `usage`
        is what a response that will not be used was paid for."""
        if self._open is not None:
            (model, start_id, started), self._open = self._open, None
            self.append(
                ev.ModelRequestEnd(
                    model=model, model_request_start_id=start_id, duration_ms=ms_since(started),
                    is_error=is_error, stop_reason=stop_reason, turn=turn,
                    usage=usage or ev.Usage(),
                )
            )  # fmt: skip

    def _ask(self, request: ModelRequest, listen: bool) -> ModelResponse:
        """The model call; a failed preflight cancels it (nothing more is paid for)."""
        self.asking = True
        try:
            return self.model.create(
                request,
                on_text=self.on_text if listen else None,
                on_thinking=self.on_thinking if listen else None,
            )
        except Cancelled as cancelled:
            raise cancelled.error from None
        finally:
            self.asking = False

    def _stop_if_the_sandbox_cannot_start(
        self, wait_s: float | None, usage: ev.Usage | None = None
    ) -> None:
        """Raise what the preflight found, before any tool call is recorded; a response
        already paid for (`usage`) closes its span as an error that keeps its usage."""
        failure = self.preflight.failure(wait_s) if self.preflight is not None else None
        if failure is None:
            return
        self.preflight = None
        if usage is not None:
            self.end_span(is_error=True, stop_reason="error", turn=self._turn, usage=usage)
        raise failure

    def _record_retry(self, exc: RetryableModelError, attempt: int, delay_s: float) -> bool:
        """Record a failed attempt and the wait before the next; False when it was the
        last one allowed."""
        self.end_span(is_error=True, stop_reason="error", turn=self._turn)
        exhausted = attempt >= self.max_retries
        self.append(
            ev.SessionError(
                error_type=exc.error_type, message=str(exc),
                retry_status="exhausted" if exhausted else "retrying",
                retry_in_ms=None if exhausted else int(delay_s * 1000),
                attempt=attempt + 1, attempts=self.max_retries + 1,
            )
        )  # fmt: skip
        if exhausted:
            self.gave_up = errors.ModelError(
                f"the model API failed {attempt + 1} times in a row; the last: {exc}"
            )
        return not exhausted


def ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def content_events(
    response: ModelResponse, tool_event: Callable[[ToolUseBlock], ev.Event]
) -> list[ev.Event]:
    """A response's content as the events the log records; `tool_event` makes a call's."""
    events: list[ev.Event] = []
    for block in response.content:
        if isinstance(block, TextBlock):
            events.append(ev.AgentMessage(content=block.text))
        elif isinstance(block, ThinkingBlock):
            events.append(ev.AgentThinking(content=block.thinking, signature=block.signature))
        elif isinstance(block, RedactedThinkingBlock):
            events.append(ev.AgentThinking(content="", data=block.data))
        elif isinstance(block, ToolUseBlock):
            events.append(tool_event(block))
    return events
