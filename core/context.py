"""Context: the messages a model request carries, as a function of the events.

`build_messages(events)` is pure, so a new harness (or a new context strategy)
can be tried on an old session. `Context` is the same fold kept open, so the
harness adds each event as it is appended instead of re-reading the log.

The fold makes a request the Messages API accepts from any log, however it was
cut and whichever tether wrote it, by repairing at read time (the log itself is
never rewritten):
- a response counts only once its `span.model_request_end` (not an error) is in
  the log; the content of one that was not finished is dropped, and that request
  is simply made again;
- tool results go first in their turn, in the order of their calls; a prompt
  recorded while calls were open goes after their results;
- blank text is dropped, and so are results of calls the context does not hold;
- a refused response is not sent back; a response that continues a turn (after
  `pause_turn`, or after a compaction) joins that turn's message.

A compaction (`agent.thread_context_compacted`, counted once its span's end is in
the log) restarts the fold: the API's compaction block first, alone in an
assistant message as the API returned it, or tether's own summary as a user
message; everything after it follows as usual.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .events import (
    AgentMCPToolResult,
    AgentMCPToolUse,
    AgentMessage,
    AgentThinking,
    AgentToolResult,
    AgentToolUse,
    Event,
    ModelRequestEnd,
    ModelRequestStart,
    ThreadContextCompacted,
    UserMessage,
)

Message = dict[str, Any]
Block = dict[str, Any]
NO_RESULT = "No result was recorded for this tool call; it may or may not have run."
SUMMARY_PREFIX = (
    "(tether) The conversation so far outgrew the context window and was replaced by this "
    "summary of it:\n\n"
)


class Context:
    """The conversation so far, in Messages API form, built event by event."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.last_stop_reason: str | None = None  # of the last response that counted
        self._pending: list[Block] | None = None  # blocks of an unfinished response
        self._compaction: ThreadContextCompacted | None = None  # ...or its compaction
        self._calls: dict[str, Block] = {}  # tool_use blocks of the last response, in order
        self._results: dict[str, Block] = {}  # results of those calls so far
        self._held: list[Block] = []  # prompts recorded while calls were open
        self._model_next = False  # the user's side spoke last: the model is to answer

    def add(self, event: Event) -> None:
        if isinstance(event, UserMessage):
            self._add_prompt(event.content)
        elif isinstance(event, ModelRequestStart):
            self._pending, self._compaction = [], None
        elif isinstance(event, ThreadContextCompacted):
            if self._pending is not None:
                self._compaction = event
        elif isinstance(event, AgentMessage | AgentThinking | AgentToolUse | AgentMCPToolUse):
            if self._pending is not None:
                self._pending.append(_block(event))
        elif isinstance(event, ModelRequestEnd):
            self._finish_response(event)
        elif isinstance(event, AgentToolResult):
            self._add_tool_result(event.tool_use_id, event.content, event.is_error)
        elif isinstance(event, AgentMCPToolResult):
            self._add_tool_result(event.mcp_tool_use_id, _mcp_content(event), event.is_error)

    def add_all(self, events: Iterable[Event]) -> Context:
        for event in events:
            self.add(event)
        return self

    @property
    def open_tool_uses(self) -> dict[str, Block]:
        """The tool_use blocks of the last response that have no result yet, in order."""
        return {i: block for i, block in self._calls.items() if i not in self._results}

    def needs_model(self) -> bool:
        """Whether it is the model's turn: the user's side spoke last (or the model paused
        mid-turn) and no call is open."""
        return self._model_next and not self.open_tool_uses and bool(self.messages)

    # -- the user's side -----------------------------------------------------------

    def _add_prompt(self, text: str) -> None:
        if not text.strip():
            return
        block = {"type": "text", "text": text}
        if self._calls:
            self._held.append(block)  # it goes after the results of the open calls
        else:
            self._add_user_blocks([block])
            self._model_next = True

    def _add_tool_result(self, use_id: str, content: str | list[Any], is_error: bool) -> None:
        if use_id not in self._calls or use_id in self._results:
            return  # a result for a call of a response that was dropped, or a second one
        block = {"type": "tool_result", "tool_use_id": use_id, "content": content}
        self._results[use_id] = {**block, "is_error": is_error}
        if len(self._results) == len(self._calls):
            self._close_round()

    def _close_round(self) -> None:
        """All open calls are answered: their results, in call order, then held prompts."""
        results = [self._results[use_id] for use_id in self._calls]
        self._add_user_blocks([*results, *self._held])
        self._calls, self._results, self._held = {}, {}, []
        self._model_next = True

    def _add_user_blocks(self, blocks: list[Block]) -> None:
        if self.messages and self.messages[-1]["role"] == "user":
            self.messages[-1]["content"].extend(blocks)
        else:
            self.messages.append({"role": "user", "content": blocks})

    # -- the model's side ----------------------------------------------------------

    def _finish_response(self, end: ModelRequestEnd) -> None:
        blocks, self._pending = self._pending, None
        compaction, self._compaction = self._compaction, None
        if end.is_error or blocks is None:
            return
        if compaction is not None:
            return self._restart(compaction)
        self.last_stop_reason = end.stop_reason
        if self._calls:  # a log where a response followed unanswered calls
            self._answer_unanswered()
        kept = [b for b in blocks if _worth_sending(b)]
        if end.stop_reason == "refusal":
            kept = []  # a refused turn is not sent back
        self._model_next = end.stop_reason == "pause_turn"
        if kept:
            self._add_assistant_blocks(kept)
        for block in kept:
            if block["type"] == "tool_use":
                self._calls[block["id"]] = block

    def _restart(self, compaction: ThreadContextCompacted) -> None:
        """The summary takes the place of everything before it."""
        if compaction.block:
            first: Message = {"role": "assistant", "content": [dict(compaction.block)]}
        else:
            text = SUMMARY_PREFIX + compaction.summary
            first = {"role": "user", "content": [{"type": "text", "text": text}]}
        self.messages = [first]
        self._calls, self._results, self._held = {}, {}, []
        self.last_stop_reason = "compaction"
        self._model_next = True

    def _answer_unanswered(self) -> None:
        for use_id in self._calls:
            self._results.setdefault(
                use_id,
                {"type": "tool_result", "tool_use_id": use_id, "content": NO_RESULT,
                 "is_error": True},
            )  # fmt: skip
        self._close_round()

    def _add_assistant_blocks(self, blocks: list[Block]) -> None:
        if self.messages and self.messages[-1]["role"] == "assistant":
            self.messages[-1]["content"].extend(blocks)  # the same turn, continued
        else:
            self.messages.append({"role": "assistant", "content": blocks})


def build_messages(events: Iterable[Event]) -> list[Message]:
    """The Messages API conversation that `events` describe."""
    return Context().add_all(events).messages


def _block(event: AgentMessage | AgentThinking | AgentToolUse | AgentMCPToolUse) -> Block:
    if isinstance(event, AgentMessage):
        return {"type": "text", "text": event.content}
    if isinstance(event, AgentThinking):
        if event.data:
            return {"type": "redacted_thinking", "data": event.data}
        return {"type": "thinking", "thinking": event.content, "signature": event.signature}
    name = event.api_name if isinstance(event, AgentMCPToolUse) else event.name
    return {"type": "tool_use", "id": event.tool_use_id, "name": name, "input": event.input}


def _mcp_content(event: AgentMCPToolResult) -> list[Any]:
    """An MCP result's blocks, less blank text (which the API refuses)."""
    return [
        dict(b) for b in event.content if b.get("type") != "text" or str(b.get("text", "")).strip()
    ]


def _worth_sending(block: Block) -> bool:
    """Blank text is refused by the API; thinking without its signature cannot be verified."""
    if block["type"] == "text":
        return bool(block["text"].strip())
    if block["type"] == "thinking":
        return bool(block["signature"])
    return True
