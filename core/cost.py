"""What a session cost: its tokens, its cache hit ratio, its compactions and an
estimate in USD, as a plain function of its events.

`session_cost(events)` is what `show`, the result line and the live view report;
`CostMeter` is the same sum kept open, so the harness can check `--budget-usd`
as each response is recorded. The USD figure is an estimate from the price
table in `catalog` (or the config's), per response and per model, with
long-context rates past 200k input tokens; it is None when a model's price is
not known.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from . import events as ev
from .catalog import (
    LONG_CONTEXT_FROM,
    LONG_INPUT_FACTOR,
    LONG_OUTPUT_FACTOR,
    Prices,
    prices_for,
)


@dataclass(frozen=True, kw_only=True)
class Cost:
    """A session's usage and its estimated price."""

    usage: ev.Usage = field(default_factory=ev.Usage)
    usd: float | None = 0.0  # None: some model's price is unknown
    compactions: int = 0
    unpriced: tuple[str, ...] = ()  # models without a known price

    @property
    def input_tokens(self) -> int:
        """Every input token sent: fresh, written to the cache and read from it."""
        u = self.usage
        return u.input_tokens + u.cache_creation_input_tokens + u.cache_read_input_tokens

    @property
    def cache_hit_ratio(self) -> float:
        """The share of input tokens read from the prompt cache."""
        return self.usage.cache_read_input_tokens / self.input_tokens if self.input_tokens else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "input_tokens": self.usage.input_tokens,
            "output_tokens": self.usage.output_tokens,
            "cache_read_input_tokens": self.usage.cache_read_input_tokens,
            "cache_creation_input_tokens": self.usage.cache_creation_input_tokens,
            "cache_hit_ratio": round(self.cache_hit_ratio, 4),
            "compactions": self.compactions,
            "cost_usd": None if self.usd is None else round(self.usd, 6),
        }


class CostMeter:
    """The cost so far, updated one event at a time."""

    def __init__(self, prices: Mapping[str, Prices] | None = None) -> None:
        self.prices = prices or {}
        self.cost = Cost()
        self._compacting = False  # a compaction event waits for its span's end

    def add(self, event: ev.Event) -> None:
        if isinstance(event, ev.ModelRequestEnd):
            self._add_response(event)
        elif isinstance(event, ev.ThreadContextCompacted):
            self._compacting = True

    def _add_response(self, end: ev.ModelRequestEnd) -> None:
        cost = self.cost
        compactions = cost.compactions + (1 if self._compacting and not end.is_error else 0)
        self._compacting = False
        usd, unpriced = cost.usd, cost.unpriced
        prices = prices_for(end.model, self.prices)
        if prices is None and end.usage.total:
            usd, unpriced = None, tuple(sorted({*unpriced, end.model}))
        elif prices is not None and usd is not None:
            usd += response_usd(end.usage, prices)
        self.cost = replace(
            cost, usage=cost.usage + end.usage, usd=usd, unpriced=unpriced, compactions=compactions
        )


def response_usd(usage: ev.Usage, prices: Prices) -> float:
    """One response's price: long-context rates once its input passes 200k tokens."""
    sent = usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens
    long = sent > LONG_CONTEXT_FROM
    into, out = (LONG_INPUT_FACTOR, LONG_OUTPUT_FACTOR) if long else (1.0, 1.0)
    total = (
        usage.input_tokens * prices.input * into
        + usage.cache_creation_input_tokens * prices.cache_write * into
        + usage.cache_read_input_tokens * prices.cache_read * into
        + usage.output_tokens * prices.output * out
    )
    return total / 1_000_000


def session_cost(events: Iterable[ev.Event], prices: Mapping[str, Prices] | None = None) -> Cost:
    """What the session's events cost."""
    meter = CostMeter(prices)
    for event in events:
        meter.add(event)
    return meter.cost
