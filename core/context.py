"""Context: the messages a model request carries, as a function of the events.

`build_messages(events)` is pure, so a new harness (or a new context strategy)
can be tried on an old session. `Context` is the same fold kept open, so the
harness adds each event as it is appended instead of re-reading the log.

A model response counts only once its `span.model_request_end` (not an
error) is in the log: content events of a response the harness did not
finish recording are dropped, and that request is simply made again.
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
    UserMessage,
)

Message = dict[str, Any]
_EPHEMERAL = {"type": "ephemeral"}


class Context:
    """The conversation so far, in Messages API form, built event by event."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._pending: list[dict[str, Any]] | None = None  # blocks of an unfinished response
        self.open_tool_uses: dict[str, dict[str, Any]] = {}  # tool_use blocks without a result

    def add(self, event: Event) -> None:
        if isinstance(event, UserMessage):
            self._add_user_block({"type": "text", "text": event.content})
        elif isinstance(event, ModelRequestStart):
            self._pending = []
        elif isinstance(event, AgentMessage | AgentThinking | AgentToolUse | AgentMCPToolUse):
            if self._pending is not None:
                self._pending.append(_block(event))
        elif isinstance(event, ModelRequestEnd):
            self._finish_response(event)
        elif isinstance(event, AgentToolResult):
            self._add_tool_result(event.tool_use_id, event.content, event.is_error)
        elif isinstance(event, AgentMCPToolResult):
            self._add_tool_result(event.mcp_tool_use_id, list(event.content), event.is_error)

    def add_all(self, events: Iterable[Event]) -> Context:
        for event in events:
            self.add(event)
        return self

    def needs_model(self) -> bool:
        """Whether it is the model's turn: the user's side spoke last and no call is open."""
        if self.open_tool_uses or not self.messages:
            return False
        return bool(self.messages[-1]["role"] == "user")

    def _finish_response(self, end: ModelRequestEnd) -> None:
        blocks, self._pending = self._pending, None
        if end.is_error or not blocks:
            return
        self.messages.append({"role": "assistant", "content": blocks})
        for block in blocks:
            if block["type"] == "tool_use":
                self.open_tool_uses[block["id"]] = block

    def _add_tool_result(self, use_id: str, content: str | list[Any], is_error: bool) -> None:
        if self.open_tool_uses.pop(use_id, None) is None:
            return  # a result for a call of a response that was dropped
        block = {"type": "tool_result", "tool_use_id": use_id, "content": content}
        self._add_user_block({**block, "is_error": is_error})

    def _add_user_block(self, block: dict[str, Any]) -> None:
        if self.messages and self.messages[-1]["role"] == "user":
            self.messages[-1]["content"].append(block)
        else:
            self.messages.append({"role": "user", "content": [block]})


def build_messages(events: Iterable[Event]) -> list[Message]:
    """The Messages API conversation that `events` describe."""
    return Context().add_all(events).messages


def _block(event: AgentMessage | AgentThinking | AgentToolUse | AgentMCPToolUse) -> dict[str, Any]:
    if isinstance(event, AgentMessage):
        return {"type": "text", "text": event.content}
    if isinstance(event, AgentThinking):
        return {"type": "thinking", "thinking": event.content, "signature": event.signature}
    name = event.api_name if isinstance(event, AgentMCPToolUse) else event.name
    return {"type": "tool_use", "id": event.tool_use_id, "name": name, "input": event.input}


def with_cache_breakpoints(messages: list[Message]) -> list[Message]:
    """A copy of `messages` whose last two user turns end in a cache breakpoint.

    The last breakpoint writes the whole conversation to the prompt cache; the
    one before it lets the next request read everything up to there, so a
    long session pays full price only for what is new. The conversation kept
    by `Context` is never modified.
    """
    marked = list(messages)
    user_turns = [i for i, m in enumerate(marked) if m["role"] == "user"][-2:]
    for index in user_turns:
        content = [dict(block) for block in marked[index]["content"]]
        content[-1]["cache_control"] = _EPHEMERAL
        marked[index] = {"role": "user", "content": content}
    return marked


def system_blocks(system: str | None) -> list[dict[str, Any]] | None:
    """The system prompt as one cached text block (tools and system are the stable prefix)."""
    if not system:
        return None
    return [{"type": "text", "text": system, "cache_control": _EPHEMERAL}]


def cached_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tool definitions with a breakpoint on the last one, so they are read from cache."""
    if not tools:
        return tools
    return [*tools[:-1], {**tools[-1], "cache_control": _EPHEMERAL}]
