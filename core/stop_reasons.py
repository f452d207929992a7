"""What the harness does after each response, by the API's `stop_reason`.

The API defines them (`anthropic.types.StopReason`): `end_turn`, `stop_sequence`
and `tool_use` are ordinary; the others each need their own handling:
- `max_tokens`: the response was cut. A tool call it was writing is incomplete
  and never run: it gets an error result that says so. Cut text is continued
  with a recorded prompt asking the model to go on, a few times in a row at most;
  after that the run stops, reporting the cut (exit 12).
- `pause_turn`: the API paused a long turn; the next request continues it.
- `refusal`: the model declined to go on; the run stops (exit 11).
- `model_context_window_exceeded`: the response filled the context window: a cut,
  as with `max_tokens`, and the context is compacted before going on (or, with
  compaction off, the run stops: exit 14).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .model import ModelResponse, ToolUseBlock

WINDOW_FULL = "model_context_window_exceeded"
CUT_STOPS = ("max_tokens", WINDOW_FULL)
MAX_CUTS_IN_A_ROW = 3  # cut responses continued in a row before the run reports the cut

CUT_CALL_RESULT = (
    "Not run: your response was cut off at {limit} while this tool call was being "
    "written, so its input is incomplete. Send it again in a shorter form (for example, "
    "write a long file in several parts)."
)
CONTINUE_PROMPT = (
    "(tether) Your last response was cut off at {limit}. Continue exactly where it stopped."
)
WINDOW_END = "the end of the context window"


@dataclass(frozen=True)
class AfterResponse:
    """What to record and do next: error results for cut calls, a compaction, a prompt
    to go on with cut text, or a stop (a `session.status_idle` stop reason)."""

    cut_calls: tuple[str, ...] = ()
    cut_result: str = ""
    compact: bool = False
    continue_prompt: str | None = None
    stop: str | None = None


def after_response(response: ModelResponse, cuts_in_a_row: int, limit: str) -> AfterResponse:
    """The handling of `response`; `cuts_in_a_row` counts it if it was cut. `limit` names
    the output limit, as "the output limit (8192 tokens)"."""
    reason = response.stop_reason
    if reason == "refusal":
        return AfterResponse(stop="refusal")
    if reason not in CUT_STOPS:
        return AfterResponse()
    full = reason == "model_context_window_exceeded"
    where = WINDOW_END if full else limit
    last = response.content[-1] if response.content else None
    cut = AfterResponse(
        cut_calls=(last.id,) if isinstance(last, ToolUseBlock) else (),
        cut_result=cut_call_result(where),
    )
    if cuts_in_a_row >= MAX_CUTS_IN_A_ROW:
        return replace(cut, stop=reason)
    calls = any(isinstance(block, ToolUseBlock) for block in response.content)
    prompt = None if calls else continue_prompt(where)
    return replace(cut, compact=full, continue_prompt=prompt)


def cut_call_result(limit: str) -> str:
    return CUT_CALL_RESULT.format(limit=limit)


def continue_prompt(limit: str) -> str:
    return CONTINUE_PROMPT.format(limit=limit)
