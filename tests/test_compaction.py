"""Compaction's pure parts: the requests it sends, the event it records, the breakpoints
of the requests after it, and the settings that shape it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fakeapi import sign
from fakeapi.rules import count_cache_control, validate

from tether.core import config, errors
from tether.core import events as ev
from tether.core.catalog import COMPACTION_BETA, LONG_CONTEXT_BETA
from tether.core.compaction_requests import (
    OMITTED,
    compacted,
    compaction_request,
    summary_request,
    trimmed_to,
)
from tether.core.context import Context
from tether.core.model import (
    CompactionBlock,
    ModelRequest,
    ModelResponse,
    TextBlock,
    request_params,
)
from tether.core.request import build_request, cached_tools
from tether.core.sandbox.tools import TOOL_SPECS
from tether.core.window import estimate_tokens

SETTINGS = ev.SessionCreated(
    model="claude-sonnet-5-5", system="Be careful.", tools=tuple(s.name for s in TOOL_SPECS)
)
TOOLS = cached_tools([{"name": "bash", "description": "run", "input_schema": {"type": "object"}}])


def body(request: ModelRequest) -> dict[str, Any]:
    params = request_params(request)
    params.pop("betas", None)  # a header, not the body
    return params | {"stream": True}


def session(turns: int, output: str = "x" * 3000) -> list[ev.Event]:
    events: list[ev.Event] = [ev.UserMessage(content="check every module")]
    for n in range(turns):
        use = ev.AgentToolUse(tool_use_id=f"toolu_{n}", name="bash", input={"command": "ls"})
        end = ev.ModelRequestEnd(model="m", stop_reason="tool_use", turn=n + 1)
        result = ev.AgentToolResult(tool_use_id=f"toolu_{n}", content=output)
        events += [ev.ModelRequestStart(model="m"), use, end, result]
    return events


def request_for(events: list[ev.Event]) -> ModelRequest:
    return build_request(SETTINGS, Context().add_all(events).messages, TOOLS)


def api_compaction(summary: str = "So far: modules 1-3 pass.") -> list[ev.Event]:
    block = {"type": "compaction", "content": summary, "signature": sign("compaction", summary)}
    done = ev.ThreadContextCompacted(method="api", summary=summary, block=block)
    return [ev.ModelRequestStart(model="m"), done, ev.ModelRequestEnd(model="m", turn=9)]


def test_the_compaction_request_is_the_conversation_with_the_beta() -> None:
    request = compaction_request(request_for(session(3)))
    assert request.compaction == {"type": "summarize"}
    assert COMPACTION_BETA in request.betas
    assert validate(body(request)) is None


def test_tethers_own_summary_request_asks_for_the_summary_without_tools() -> None:
    request = summary_request(request_for(session(3)))
    last = request.messages[-1]
    assert last["role"] == "user" and last["content"][0]["type"] == "tool_result"
    assert "file path" in last["content"][-1]["text"]  # what the summary must keep
    assert request.tool_choice == {"type": "none"} and request.compaction is None
    assert validate(body(request)) is None


def test_a_conversation_past_the_window_is_trimmed_from_its_oldest_turns() -> None:
    request = request_for(session(30))
    target = estimate_tokens([request.system, list(request.tools), list(request.messages)]) // 3
    trimmed = trimmed_to(request, target)
    first = trimmed.messages[0]["content"]
    assert first[0]["text"] == "check every module" and first[-1]["text"] == OMITTED
    assert trimmed.messages[1]["role"] == "assistant"
    assert estimate_tokens([trimmed.system, list(trimmed.tools), list(trimmed.messages)]) <= target
    assert validate(body(compaction_request(trimmed))) is None


def test_after_a_compaction_the_block_goes_first_with_a_breakpoint_and_at_most_four() -> None:
    request = request_for([*session(3), *api_compaction(), *session(4)[1:]])
    assert request.messages[0]["content"][0]["type"] == "compaction"
    assert request.messages[0]["content"][0]["cache_control"] == {"type": "ephemeral"}
    parts = [list(request.tools), list(request.system or []), list(request.messages)]
    assert sum(count_cache_control(p) for p in parts) == 4
    assert COMPACTION_BETA in request.betas
    assert validate(body(request)) is None


def test_a_window_past_200k_sends_the_1m_beta() -> None:
    settings = ev.SessionCreated(model="claude-sonnet-5-5", context_window=1_000_000)
    request = build_request(settings, Context().add_all(session(1)).messages, TOOLS)
    assert request.betas == (LONG_CONTEXT_BETA,)
    assert build_request(SETTINGS, [], TOOLS).betas == ()


def response(*blocks: Any) -> ModelResponse:
    return ModelResponse(content=blocks, stop_reason="compaction", usage=ev.Usage(), model="m")


def test_a_compaction_without_a_summary_records_nothing() -> None:
    failed = response(CompactionBlock(data={"type": "compaction"}))  # content null: it failed
    assert compacted(failed, method="api", before=1, prefix_tokens=1, trigger="t") is None
    blank = response(TextBlock(text="  "))
    assert compacted(blank, method="summary", before=1, prefix_tokens=1, trigger="t") is None
    good = response(TextBlock(text="Task: x. Done: y."))
    event = compacted(good, method="summary", before=9000, prefix_tokens=100, trigger="t")
    assert event is not None and event.tokens_before == 9000
    assert 100 < event.tokens_after < 9000 and event.block == {}


def test_a_window_larger_than_the_model_takes_is_refused(tmp_path: Path) -> None:
    none = tmp_path / "none.toml"
    flags = {"model": "claude-haiku-5-5", "context_window": 1_000_000}
    with pytest.raises(errors.ConfigError, match="claude-haiku-5-5 takes at most 200,000"):
        config.resolve(flags, none)
    flags["model"] = "claude-sonnet-5-5"
    assert config.resolve(flags, none).settings.context_window == 1_000_000
    flags["model"] = "a-proxy-model"  # unknown: whatever it is given
    assert config.resolve(flags, none).settings.context_window == 1_000_000


def test_a_budget_in_dollars_needs_the_models_price(tmp_path: Path) -> None:
    none = tmp_path / "none.toml"
    with pytest.raises(errors.ConfigError, match=r'add \[prices."claude-mythos-5"\]'):
        config.resolve({"model": "claude-mythos-5", "budget_usd": 5.0}, none)
    priced = tmp_path / "priced.toml"
    priced.write_text('[prices."claude-mythos-5"]\ninput = 20\noutput = 100\n')
    resolved = config.resolve({"model": "claude-mythos-5", "budget_usd": 5.0}, priced)
    assert resolved.settings.prices["claude-mythos-5"].cache_read == 2.0
