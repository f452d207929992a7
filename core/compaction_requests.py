"""The requests a compaction sends, and the event it records: pure functions.

The API's compaction request is the conversation as the next request would send
it, with `compaction={"type": "summarize"}` and the compaction beta. tether's
own summary request, for endpoints without the beta, is the same conversation
with a last instruction to summarize and no tool use allowed. A conversation
already past the window is first trimmed: its oldest turns are left out.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from . import errors
from . import events as ev
from .catalog import COMPACTION_BETA
from .model import CompactionBlock, ModelRequest, ModelResponse, TextBlock
from .window import estimate_tokens

SUMMARY_INSTRUCTIONS = (
    "(tether) The conversation is about to outgrow the context window, so it will be "
    "replaced by your summary. Write that summary now, instead of continuing the work, "
    "so that you can carry on from it alone. Keep: the task as the user gave it, word for "
    "word where it matters; what has been done and what was found; the decisions made "
    "and why; every file path, command, name and value that the rest of the work needs; "
    "the open problems and the next steps. Leave out what no longer matters. Do not call "
    "tools; answer with the summary only."
)


def compaction_request(request: ModelRequest) -> ModelRequest:
    """The API's compaction request for the conversation `request` would send."""
    betas = (*request.betas, COMPACTION_BETA)
    return replace(request, compaction={"type": "summarize"}, betas=betas)


def summary_request(request: ModelRequest) -> ModelRequest:
    """tether's own summary request, for endpoints without the compaction beta."""
    messages = list(request.messages)
    ask = {"type": "text", "text": SUMMARY_INSTRUCTIONS}
    if messages and messages[-1]["role"] == "user":
        last = messages[-1]
        messages[-1] = {"role": "user", "content": [*last["content"], ask]}
    else:
        messages.append({"role": "user", "content": [ask]})
    return replace(request, messages=tuple(messages), tool_choice={"type": "none"})


def refuses_compaction(exc: errors.ModelError) -> bool:
    """Whether the endpoint refused the compaction beta itself (not the conversation)."""
    text = str(exc)
    return isinstance(exc, errors.InvalidRequest) and not isinstance(
        exc, errors.ContextWindowExceeded
    ) and ("anthropic-beta" in text or "compaction" in text)  # fmt: skip


def compacted(
    response: ModelResponse, *, method: str, before: int, prefix_tokens: int, trigger: str
) -> ev.ThreadContextCompacted | None:
    """The event for a compaction response, or None if it holds no summary."""
    block = next((b for b in response.content if isinstance(b, CompactionBlock)), None)
    if method == "api":
        summary = str(block.data.get("content") or "") if block else ""
        kept = dict(block.data) if block else {}
    else:
        summary = "".join(b.text for b in response.content if isinstance(b, TextBlock)).strip()
        kept = {}
    if not summary.strip():
        return None  # a failed compaction: the API sends null content, a model an empty answer
    return ev.ThreadContextCompacted(
        method=method, summary=summary, block=kept, trigger=trigger, tokens_before=before,
        tokens_after=prefix_tokens + estimate_tokens(summary),
    )  # fmt: skip


OMITTED = "(tether) Earlier messages were left out here, to fit the context window."


def trimmed_to(request: ModelRequest, target: int) -> ModelRequest:
    """`request` with its oldest turns left out until it is estimated at `target` tokens:
    its first message stays (the task, or an earlier summary), then a note, then the
    newest turns from an assistant message on."""
    messages = list(request.messages)
    head, note = _head(messages[0]), {"type": "text", "text": OMITTED}
    fixed = estimate_tokens([request.system, list(request.tools), head, note])
    starts = [i for i in range(1, len(messages)) if messages[i]["role"] == "assistant"]
    keep = next(
        (i for i in starts if fixed + estimate_tokens(messages[i:]) <= target),
        starts[-1] if starts else len(messages),
    )
    if head["role"] == "user":
        kept = [{"role": "user", "content": [*head["content"], note]}, *messages[keep:]]
    else:
        kept = [head, {"role": "user", "content": [note]}, *messages[keep:]]
    return replace(request, messages=tuple(kept))


def _head(first: Any) -> dict[str, Any]:
    """The first message as a trimmed conversation keeps it: a summary block alone."""
    if first["role"] == "assistant":
        return {"role": "assistant", "content": [first["content"][0]]}
    return dict(first)
