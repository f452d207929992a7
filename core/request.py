"""Building the next model request from the session's settings and its context.

Prompt caching: a `cache_control` breakpoint writes the prefix up to it to the
cache, and a later request that starts with that prefix reads it for a tenth of
the price. The API takes at most four breakpoints, so they go where the prefix
stays stable the longest: the tools, the system prompt, the compaction block
(stable until the next compaction), then the last user turns with what is left
(the one before the last is what the next request reads back).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import events as ev
from .catalog import COMPACTION_BETA, betas_for
from .context import Message
from .model import ModelRequest

MAX_BREAKPOINTS = 4
_EPHEMERAL = {"type": "ephemeral"}


def build_request(
    settings: ev.SessionCreated, messages: Sequence[Message], tools: Sequence[Mapping[str, Any]]
) -> ModelRequest:
    """The request for the model's next turn: `messages` with breakpoints, and the
    session's model, system prompt, tools, output limit, thinking settings and betas."""
    system = system_blocks(settings.system)
    compacted = _starts_compacted(list(messages))
    used = (1 if tools else 0) + (1 if system else 0) + (1 if compacted else 0)
    marked = with_cache_breakpoints(messages, MAX_BREAKPOINTS - used)
    if compacted:
        marked = _cached_compaction(marked)
    betas = betas_for(settings.context_window) + ((COMPACTION_BETA,) if compacted else ())
    return ModelRequest(
        model=settings.model,
        system=system,
        messages=tuple(ready_to_send(marked)),
        tools=tuple(tools),
        max_tokens=settings.max_tokens,
        thinking=thinking_config(settings.thinking),
        output_config={"effort": settings.effort} if settings.effort else None,
        betas=betas,
    )


def thinking_config(thinking: str | None) -> Mapping[str, Any] | None:
    """The SDK's ThinkingConfigParam for tether's setting (None: the model's default)."""
    if thinking == "adaptive":
        return {"type": "adaptive", "display": "summarized"}
    if thinking == "off":
        return {"type": "disabled"}
    return None


def with_cache_breakpoints(messages: Sequence[Message], budget: int = 2) -> list[Message]:
    """A copy of `messages` whose last user turns (at most `budget`, and two) end in a
    cache breakpoint. The last one writes the whole conversation to the cache; the one
    before it lets this request read what the previous one wrote. The messages given
    are never modified."""
    marked = list(messages)
    user_turns = [i for i, m in enumerate(marked) if m["role"] == "user"]
    for index in user_turns[len(user_turns) - min(budget, 2) :] if budget > 0 else []:
        content = [dict(block) for block in marked[index]["content"]]
        content[-1]["cache_control"] = _EPHEMERAL
        marked[index] = {"role": "user", "content": content}
    return marked


NO_PROMPT = "(No prompt was recorded before this point of the session.)"


def ready_to_send(messages: list[Message]) -> list[Message]:
    """What the API requires of a conversation's ends: a user message first (a log whose
    first prompt was blank has none), and a final assistant message (a turn it is asked
    to continue) that does not end in whitespace."""
    if messages and messages[0]["role"] == "assistant" and not _starts_compacted(messages):
        messages = [{"role": "user", "content": [{"type": "text", "text": NO_PROMPT}]}, *messages]
    if not messages or messages[-1]["role"] != "assistant":
        return messages
    content = [dict(block) for block in messages[-1]["content"]]
    if content and content[-1]["type"] == "text":
        content[-1]["text"] = content[-1]["text"].rstrip()
    return [*messages[:-1], {"role": "assistant", "content": content}]


def _starts_compacted(messages: list[Message]) -> bool:
    first = messages[0]["content"] if messages else []
    return bool(first) and first[0]["type"] == "compaction"


def _cached_compaction(messages: list[Message]) -> list[Message]:
    """A breakpoint on the compaction block: the prefix that stays until the next one."""
    first = messages[0]
    block = {**first["content"][0], "cache_control": _EPHEMERAL}
    return [{**first, "content": [block, *first["content"][1:]]}, *messages[1:]]


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
