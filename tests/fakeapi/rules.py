"""The Messages API's request rules: `validate(body)` is the API's 400 message, or None.

Stdlib only and stateless, so a test (the property test of the context fold) can
check a request body without a server. The wording is the real API's wherever it
is known (from its error bodies as users have reported them); the few rules whose
wording is not known say so beside them. The API combines consecutive messages of
the same role into one turn before it checks tool use, and so do these rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .wire import redacted_data_valid, verify

TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
THINKING_TYPES = ("enabled", "disabled", "adaptive", "between_tools")
EFFORTS = ("low", "medium", "high", "xhigh", "max")
BLOCK_TYPES = (
    "text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking",
    "compaction", "search_result",
)  # fmt: skip
MAX_BREAKPOINTS = 4


@dataclass(frozen=True)
class Refusal:
    """A 400 invalid_request_error: the API's message and, for some, its error code."""

    message: str
    code: str = ""


Body = dict[str, Any]
Rule = Callable[[Body], "Refusal | str | None"]


def validate(body: Any) -> str | None:
    """The API's own error message for a request it would refuse with a 400, or None."""
    refusal = check(body)
    return refusal.message if refusal else None


def check(body: Any) -> Refusal | None:
    """The first rule `body` breaks, as the API would report it, or None."""
    if not isinstance(body, dict):
        return Refusal("request body must be a JSON object")  # wording not known
    for rule in RULES:
        found = rule(body)
        if found:
            return found if isinstance(found, Refusal) else Refusal(found)
    return None


# -- the request's fields ----------------------------------------------------------


def _fields(body: Body) -> str | None:
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    tokens = body.get("max_tokens")
    if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 1:
        return "max_tokens: Field required"
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        return "messages: at least one message is required"
    return None


def _tools(body: Body) -> str | None:
    tools = body.get("tools", [])
    if not isinstance(tools, list):
        return "tools: Input should be a valid list"
    for i, tool in enumerate(tools):
        problem = _tool(i, tool)
        if problem:
            return problem
    names = [tool["name"] for tool in tools]
    return "tools: Tool names must be unique." if len(set(names)) < len(names) else None


def _tool(i: int, tool: Any) -> str | None:
    where = f"tools.{i}.custom"
    if not isinstance(tool, dict) or "name" not in tool:
        return f"{where}.name: Field required"
    if not isinstance(tool["name"], str) or not TOOL_NAME.match(tool["name"]):
        return f"{where}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'"
    schema = tool.get("input_schema")
    if not isinstance(schema, dict):
        return f"{where}.input_schema: Field required"
    if "type" not in schema:
        return f"{where}.input_schema.type: Field required"
    if schema["type"] != "object":
        return f"{where}.input_schema.type: Input should be 'object'"
    return None


def _thinking_config(body: Body) -> str | None:
    config = body.get("thinking")
    if config is not None:
        kind = config.get("type") if isinstance(config, dict) else None
        if kind not in THINKING_TYPES:
            tags = ", ".join(f"'{t}'" for t in THINKING_TYPES)
            return f"thinking: Input tag '{kind}' found using 'type' does not match any of the expected tags: {tags}"  # noqa: E501
        if kind == "enabled":
            return _budget(config.get("budget_tokens"), body["max_tokens"])
    effort = (body.get("output_config") or {}).get("effort")
    if effort is not None and effort not in EFFORTS:
        return "output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'"
    return None


def _budget(budget: Any, max_tokens: int) -> str | None:
    if not isinstance(budget, int) or budget < 1024:
        return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
    if budget >= max_tokens:
        return "`max_tokens` must be greater than `thinking.budget_tokens`."
    return None


# -- the messages ------------------------------------------------------------------


def blocks_of(message: Any) -> list[Any]:
    """A message's content as a list of blocks (a string is one text block)."""
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return content if isinstance(content, list) else []


def _roles(body: Body) -> str | None:
    messages = body["messages"]
    for n, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return f"messages.{n}.role: Input should be 'user' or 'assistant'"
        content = message.get("content")
        if isinstance(content, list) and all(isinstance(b, dict) for b in content):
            continue
        if not isinstance(content, str):
            return f"messages.{n}.content: Input should be a valid list"
    first = blocks_of(messages[0])
    starts_compacted = bool(first) and first[0].get("type") == "compaction"
    if messages[0]["role"] != "user" and not starts_compacted:
        return 'messages: first message must use the "user" role'
    return None


def _contents(body: Body) -> str | None:
    messages = body["messages"]
    last = len(messages) - 1
    for n, message in enumerate(messages):
        blocks = blocks_of(message)
        final_assistant = n == last and message["role"] == "assistant"
        if not blocks and not final_assistant:
            return (
                f"messages.{n}: all messages must have non-empty content "
                "except for the optional final assistant message"
            )
        for i, block in enumerate(blocks):
            if block.get("type") not in BLOCK_TYPES:
                return f"messages.{n}.content.{i}.type: Input tag '{block.get('type')}' found using 'type' does not match any of the expected tags"  # noqa: E501
        problem = _texts(blocks) or (_trailing_whitespace(blocks) if final_assistant else None)
        if problem:
            return problem
    return None


def _all_texts(blocks: list[Any]) -> Iterator[Any]:
    for block in blocks:
        if block.get("type") == "text":
            yield block.get("text")
        elif block.get("type") == "tool_result" and isinstance(block.get("content"), list):
            yield from _all_texts([b for b in block["content"] if isinstance(b, dict)])


def _texts(blocks: list[Any]) -> str | None:
    for text in _all_texts(blocks):
        if not isinstance(text, str) or not text:
            return "messages: text content blocks must be non-empty"
        if not text.strip():
            return "messages: text content blocks must contain non-whitespace text"
    return None


def _trailing_whitespace(blocks: list[Any]) -> str | None:
    last = blocks[-1] if blocks else None
    if last and last.get("type") == "text" and last["text"] != last["text"].rstrip():
        return "messages: final assistant content cannot end with trailing whitespace"
    return None


def _thinking_blocks(body: Body) -> str | None:
    for n, message in enumerate(body["messages"]):
        for i, block in enumerate(blocks_of(message)):
            where = f"messages.{n}.content.{i}"
            if block.get("type") == "thinking":
                if "signature" not in block:
                    return f"{where}.thinking.signature: Field required"
                if not verify("thinking", block.get("thinking", ""), block["signature"]):
                    return f"{where}: Invalid `signature` in `thinking` block"
            elif block.get("type") == "redacted_thinking" and not redacted_data_valid(
                block.get("data")
            ):
                return f"{where}: Invalid `data` in `redacted_thinking` block"  # wording not known
    return None


def _needs_tools(body: Body) -> str | None:
    kinds = {b.get("type") for m in body["messages"] for b in blocks_of(m)}
    if kinds & {"tool_use", "tool_result"} and not body.get("tools"):
        return "Requests which include `tool_use` or `tool_result` blocks must define tools."
    return None


# -- tool use, on the turns as the API combines them ---------------------------------


@dataclass(frozen=True)
class Turn:
    index: int  # of its first message in the request
    role: str
    blocks: list[Any]


def turns(messages: list[Any]) -> list[Turn]:
    """Consecutive messages of one role combined, as the API combines them."""
    combined: list[Turn] = []
    for n, message in enumerate(messages):
        if combined and combined[-1].role == message["role"]:
            combined[-1].blocks.extend(blocks_of(message))
        else:
            combined.append(Turn(n, message["role"], list(blocks_of(message))))
    return combined


def _tool_pairs(body: Body) -> str | None:
    combined, seen = turns(body["messages"]), set[str]()
    for k, turn in enumerate(combined):
        asked = [b.get("id") for b in turn.blocks if b.get("type") == "tool_use"]
        if seen.intersection(asked) or len(set(asked)) < len(asked):
            return f"messages.{turn.index}: `tool_use` ids must be unique"
        seen.update(asked)
        following = combined[k + 1] if k + 1 < len(combined) else None
        problem = _answered(turn, asked, following)
        if not problem and turn.role == "user":
            problem = _results_asked_for(turn, combined[k - 1] if k else None)
        if problem:
            return problem
    return None


def _answered(turn: Turn, asked: list[Any], following: Turn | None) -> str | None:
    """Every call of `turn` is answered at the start of the next turn."""
    if not asked:
        return None
    blocks = following.blocks if following else []
    answered = {b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"}
    missing = [str(i) for i in asked if i not in answered]
    if missing:
        return (
            f"messages.{turn.index}: `tool_use` ids were found without `tool_result` blocks "
            f"immediately after: {', '.join(missing)}. Each `tool_use` block must have a "
            "corresponding `tool_result` block in the next message."
        )
    leading = blocks[: len(asked)]
    if following and any(b.get("type") != "tool_result" for b in leading):
        return (
            f"messages.{following.index}: Did not find {len(asked)} `tool_result` block(s) at "
            "the beginning of this message. Messages following `tool_use` blocks must begin "
            "with a matching number of `tool_result` blocks."
        )
    return None


def _results_asked_for(turn: Turn, previous: Turn | None) -> str | None:
    """Every result of `turn` answers a call of the turn just before."""
    prior = previous.blocks if previous else []
    asked = {b.get("id") for b in prior if b.get("type") == "tool_use"}
    for i, block in enumerate(turn.blocks):
        if block.get("type") == "tool_result" and block.get("tool_use_id") not in asked:
            return (
                f"messages.{turn.index}.content.{i}: unexpected `tool_use_id` found in "
                f"`tool_result` blocks: {block.get('tool_use_id')}. Each `tool_result` block "
                "must have a corresponding `tool_use` block in the previous message."
            )
    return None


# -- prompt caching and compaction ---------------------------------------------------


def count_cache_control(value: Any) -> int:
    if isinstance(value, dict):
        own = 1 if value.get("cache_control") else 0
        return own + sum(count_cache_control(v) for k, v in value.items() if k != "cache_control")
    if isinstance(value, list):
        return sum(count_cache_control(v) for v in value)
    return 0


def _cache(body: Body) -> str | None:
    parts = [body.get("tools"), body.get("system"), body["messages"]]
    found = sum(count_cache_control(p) for p in parts)
    if found > MAX_BREAKPOINTS:
        return f"A maximum of 4 blocks with cache_control may be provided. Found {found}."
    return None


# The compaction rules' messages are the installed SDK's descriptions of their error
# codes (anthropic.types.compaction_*_error): the API's own wording is not known.
def _compaction_blocks(body: Body) -> Refusal | None:
    found = [
        (n, i, b)
        for n, m in enumerate(body["messages"])
        for i, b in enumerate(blocks_of(m))
        if b.get("type") == "compaction"
    ]
    if len([b for _, _, b in found if b.get("content")]) > 1:
        return Refusal(
            "`messages` holds more than one `compaction` block with content. Send only the "
            "block the conversation returned last.",
            "compaction_block_ambiguous",
        )
    for n, i, block in found:
        problem = _compaction_block(n, i, block)
        if problem:
            return problem
    return None


def _compaction_block(n: int, i: int, block: Any) -> Refusal | None:
    if (n, i) != (0, 0):
        return Refusal(
            f"messages.{n}.content.{i}: The `compaction` block is not the first block of the "
            "conversation.",
            "compaction_block_misplaced",
        )
    content = block.get("content")
    if content is not None and not verify("compaction", content, block.get("signature")):
        return Refusal(
            f"messages.{n}.content.{i}: The `compaction` block's `content` differs from the "
            "text its `signature` recorded.",
            "compaction_content_mismatch",
        )
    return None


def _compaction_request(body: Body) -> Refusal | None:
    config = body.get("compaction")
    if config is None:
        return None
    if not isinstance(config, dict) or config.get("type") != "summarize":
        return Refusal("compaction.type: Input should be 'summarize'")
    if body.get("context_management"):
        return Refusal("`compaction` cannot be combined with `context_management`.")
    last = body["messages"][-1]
    if last["role"] == "assistant" and any(b.get("type") == "tool_use" for b in blocks_of(last)):
        return Refusal(
            "The compaction request ends on an `assistant` turn that is not finished.",
            "compaction_incomplete_turn",
        )
    return None


RULES: tuple[Rule, ...] = (
    _fields,
    _tools,
    _thinking_config,
    _roles,
    _contents,
    _thinking_blocks,
    _needs_tools,
    _tool_pairs,
    _cache,
    _compaction_blocks,
    _compaction_request,
)


def thinking_unchanged(body: Body, issued: dict[str, list[Any]]) -> str | None:
    """The thinking blocks of the latest assistant message are those the API returned with
    its calls (`issued`: tool_use id -> that response's thinking blocks), unchanged."""
    combined = [t for t in turns(body["messages"]) if t.role == "assistant"]
    if not combined:
        return None
    latest = combined[-1]
    ids = [b.get("id") for b in latest.blocks if b.get("type") == "tool_use"]
    original = next((issued[i] for i in ids if i in issued), None)
    if original is None:
        return None
    kinds = ("thinking", "redacted_thinking")
    sent = [(i, b) for i, b in enumerate(latest.blocks) if b.get("type") in kinds]
    for position, expected in enumerate(original):
        i, block = sent[position] if position < len(sent) else (0, None)
        if block is None or _without_cache(block) != expected:
            return (
                f"messages.{latest.index}.content.{i}: `thinking` or `redacted_thinking` blocks "
                "in the latest assistant message cannot be modified. These blocks must remain "
                "as they were in the original response."
            )
    return None


def _without_cache(block: Any) -> Any:
    return {k: v for k, v in block.items() if k != "cache_control"}
