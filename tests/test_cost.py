"""What a session cost, and how full its window is: plain functions of its events."""

from __future__ import annotations

import pytest

from tether.core import catalog, errors
from tether.core import events as ev
from tether.core.cost import session_cost
from tether.core.window import WindowMeter, estimate_tokens


def end(model: str = "claude-sonnet-5-5", is_error: bool = False, **usage: int) -> ev.Event:
    return ev.ModelRequestEnd(model=model, usage=ev.Usage(**usage), is_error=is_error)


def compacted() -> ev.Event:
    return ev.ThreadContextCompacted(method="api", summary="s", block={"type": "compaction"})


def test_the_price_is_per_response_and_per_model() -> None:
    tenth = 100_000  # a tenth of a million tokens in each response (no long-context rates)
    cost = session_cost([
        end(input_tokens=tenth),  # sonnet: $3 a million
        end(output_tokens=tenth),  # $15
        end(cache_read_input_tokens=tenth),  # $0.30
        end(cache_creation_input_tokens=tenth),  # $3.75
        end("claude-opus-4-8", input_tokens=tenth),  # opus: $5
        end("claude-haiku-4-5-20251001", output_tokens=tenth),  # haiku, dated id: $5
    ])  # fmt: skip
    assert cost.usd == pytest.approx((3 + 15 + 0.30 + 3.75 + 5 + 5) / 10)
    assert cost.input_tokens == 4 * tenth


def test_long_context_requests_cost_more() -> None:
    big = session_cost([end(input_tokens=300_000, output_tokens=1000)])
    assert big.usd == pytest.approx((300_000 * 3 * 2 + 1000 * 15 * 1.5) / 1e6)


def test_an_unknown_price_is_unknown_not_zero_and_the_config_can_give_it() -> None:
    events = [end("claude-mythos-5", input_tokens=1000)]
    cost = session_cost(events)
    assert cost.usd is None and cost.unpriced == ("claude-mythos-5",)
    priced = session_cost(events, {"claude-mythos-5": catalog.Prices.from_input(10, 50)})
    assert priced.usd == pytest.approx(0.01)


def test_cache_hit_ratio_and_compactions() -> None:
    cost = session_cost([
        end(input_tokens=100, cache_read_input_tokens=300),
        ev.ModelRequestStart(model="m"), compacted(), end(input_tokens=50),
        ev.ModelRequestStart(model="m"), compacted(),  # its end never came: it did not count
    ])  # fmt: skip
    assert cost.cache_hit_ratio == pytest.approx(300 / 450)
    assert cost.compactions == 1
    assert cost.to_dict()["cache_hit_ratio"] == pytest.approx(0.6667, abs=1e-4)


def test_the_config_prices_table_is_checked() -> None:
    table = catalog.prices_table({"m": {"input": 2, "output": 8}}, "f: prices")
    assert table["m"] == catalog.Prices(input=2, output=8, cache_write=2.5, cache_read=0.2)
    with pytest.raises(errors.ConfigError, match="f: prices.m must give input and output"):
        catalog.prices_table({"m": {"input": 2}}, "f: prices")
    with pytest.raises(errors.ConfigError, match="f: prices.m.output must be a number"):
        catalog.prices_table({"m": {"input": 2, "output": "lots"}}, "f: prices")


def test_the_window_estimate_is_what_was_counted_plus_what_came_since() -> None:
    meter = WindowMeter()
    assert meter.tokens(lambda: 123) == 123  # nothing counted yet: estimate the request
    meter.add(end(input_tokens=1000, cache_read_input_tokens=4000, output_tokens=200))
    assert meter.tokens(lambda: 0) == 5200
    meter.add(ev.AgentToolResult(tool_use_id="t", content="x" * 3000))
    assert meter.tokens(lambda: 0) == 5200 + estimate_tokens("x" * 3000)
    meter.add(compacted())
    meter.add(end(input_tokens=99_999))  # the compaction's own span: not the new size
    assert meter.tokens(lambda: 777) == 777


def test_the_estimate_errs_high() -> None:
    assert estimate_tokens("x" * 4000) > 1000  # a tokenizer's ~4 characters a token
