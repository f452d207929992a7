"""A run's turns: each the model's next response, fully recorded, and what its stop
reason calls for (see `stop_reasons`). The context is compacted first when it nears
its window, and once more when the API finds the prompt too long for it.
"""

from __future__ import annotations

from collections.abc import Callable

from . import errors
from . import events as ev
from .calls import Append, ModelCalls, content_events
from .compaction import Compactor
from .context import Context
from .model import ModelRequest, ModelResponse
from .open_calls import OpenCalls
from .stop_reasons import CUT_STOPS, WINDOW_END, WINDOW_FULL, after_response
from .toolbox import Toolbox


class Turns:
    """Takes a session's turns one at a time and counts them: `turn` over the whole
    session (what the log numbers responses by), `run_turns` in this run (what
    `--max-turns` limits)."""

    def __init__(
        self,
        settings: ev.SessionCreated,
        context: Context,
        calls: ModelCalls,
        compactor: Compactor,
        tools: Toolbox,
        open_calls: OpenCalls,
        append: Append,
        next_request: Callable[[], ModelRequest],
    ) -> None:
        self.settings = settings
        self.context = context
        self.calls = calls
        self.compactor = compactor
        self.tools = tools
        self.open_calls = open_calls
        self.append = append
        self.next_request = next_request
        self.turn = 0
        self.run_turns = 0
        self._cuts_in_a_row = 0

    def take(self) -> str | None:
        """One model response and what its stop reason calls for; a stop reason ends the
        run. The context is compacted first if it nears its window."""
        trigger = self.compactor.due(len(self.context.messages))
        if trigger is not None:
            self.compactor.compact(trigger, self.turn)
        return self._handle_stop_reason(self._respond())

    def count(self, event: ev.Event) -> None:
        """Count a response the log records (the log numbers them by turn)."""
        if isinstance(event, ev.ModelRequestEnd) and not event.is_error:
            self.turn = max(self.turn, event.turn)

    def _respond(self) -> ModelResponse:
        """The model's next response, fully recorded. A prompt the API finds too long for
        the window is compacted and asked for again, once."""
        try:
            return self._call(self.next_request())
        except errors.ContextWindowExceeded as exc:
            if not self.settings.compaction or self.compactor.just_compacted:
                raise
            self.compactor.learn(exc)
            self.compactor.compact("prompt_too_long", self.turn)
            return self._call(self.next_request())

    def _call(self, request: ModelRequest) -> ModelResponse:
        got: list[ModelResponse] = []

        def record(response: ModelResponse, duration_ms: int, start_id: str) -> None:
            """All of a response's content and its span end, with a single fsync."""
            got.append(response)
            self.turn += 1
            self.run_turns += 1
            self.compactor.just_compacted = False
            end = ev.ModelRequestEnd(
                model=response.model or self.settings.model, model_request_start_id=start_id,
                usage=response.usage, stop_reason=response.stop_reason, duration_ms=duration_ms,
                turn=self.turn,
            )  # fmt: skip
            self.append(*content_events(response, self.tools.use_event), end)

        self.calls.call(request, record, turn=self.turn)
        return got[0]

    def _handle_stop_reason(self, response: ModelResponse) -> str | None:
        """Record what the response's stop reason calls for; a stop reason ends the run."""
        cut = response.stop_reason in CUT_STOPS
        self._cuts_in_a_row = self._cuts_in_a_row + 1 if cut else 0
        then = after_response(response, self._cuts_in_a_row, self.limit)
        for use_id in then.cut_calls:
            self.append(self.open_calls.error_result(use_id, then.cut_result))
        stop = then.stop
        if then.compact and self.settings.compaction and self.context.open_tool_uses:
            self.compactor.asked = WINDOW_FULL  # once its whole calls have run
        elif then.compact and self.settings.compaction:
            self.compactor.compact(WINDOW_FULL, self.turn)
        elif then.compact:
            stop = response.stop_reason
        if stop is not None:
            self.open_calls.close_unrun(list(self.context.open_tool_uses), stop)
            return stop
        if then.continue_prompt is not None:
            self.append(ev.UserMessage(content=then.continue_prompt))
        return None

    @property
    def limit(self) -> str:
        return f"the output limit ({self.settings.max_tokens} tokens)"

    @property
    def cut_at(self) -> str:
        """Where the last response was cut: the output limit, or the context window."""
        full = self.context.last_stop_reason == "model_context_window_exceeded"
        return WINDOW_END if full else self.limit
