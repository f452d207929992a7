"""What tether knows about models: their context window and their price.

A small table, matched by the start of the model id (a dated id such as
`claude-haiku-4-5-20251001` is priced as its family). Every Claude model has a
200k-token window by default; a larger one, up to 1M tokens for the models that
allow it (Sonnet and Opus since 4, not Haiku), is an opt-in with
`--context-window`, which sends the API's 1M beta. A model tether does not know
(a proxy's own name) takes whatever window it is given. Prices are USD per
million tokens, as Anthropic lists them; the config file's `[prices."MODEL"]`
tables override them or add models this table does not know.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from . import errors

T = TypeVar("T")

DEFAULT_CONTEXT_WINDOW = 200_000
COMPACTION_BETA = "compact-2026-09-04"  # the `compaction` request parameter and its blocks
LONG_CONTEXT_BETA = "context-1m-2025-08-07"  # lets a request use more than 200k tokens
LONG_CONTEXT_FROM = 200_000  # input tokens past which a request is billed at long-context rates
LONG_INPUT_FACTOR = 2.0  # ...input at twice the price
LONG_OUTPUT_FACTOR = 1.5  # ...and output at one and a half times


@dataclass(frozen=True, kw_only=True)
class Prices:
    """USD per million tokens."""

    input: float
    output: float
    cache_write: float  # a 5-minute cache write: 1.25 times input
    cache_read: float  # a cache hit: a tenth of input

    @classmethod
    def from_input(cls, input: float, output: float) -> Prices:
        """The cache prices follow from the input price, as Anthropic sets them."""
        return cls(input=input, output=output, cache_write=input * 1.25, cache_read=input / 10)


OPUS = Prices.from_input(5.0, 25.0)
SONNET = Prices.from_input(3.0, 15.0)
HAIKU = Prices.from_input(1.0, 5.0)

# Longest prefix first wins. Families whose price is not published here (mythos,
# fable) have none: their cost shows as unknown until the config gives one.
PRICES: tuple[tuple[str, Prices], ...] = (
    ("claude-opus-4-1", Prices.from_input(15.0, 75.0)),
    ("claude-opus-4-0", Prices.from_input(15.0, 75.0)),
    ("claude-opus-4-2025", Prices.from_input(15.0, 75.0)),
    ("claude-opus", OPUS),
    ("claude-sonnet", SONNET),
    ("claude-haiku-3", Prices.from_input(0.25, 1.25)),
    ("claude-haiku", HAIKU),
)


LONG_CONTEXT_WINDOW = 1_000_000
# The largest window a model takes, longest prefix first; with the 1M beta past 200k.
MAX_WINDOWS: tuple[tuple[str, int], ...] = (
    ("claude-haiku", DEFAULT_CONTEXT_WINDOW),
    ("claude-opus-4-0", DEFAULT_CONTEXT_WINDOW),
    ("claude-opus-4-1", DEFAULT_CONTEXT_WINDOW),
    ("claude-opus-4-5", DEFAULT_CONTEXT_WINDOW),
    ("claude-opus-4-2025", DEFAULT_CONTEXT_WINDOW),
    ("claude-", LONG_CONTEXT_WINDOW),
)


def context_window(model: str) -> int:
    """The model's default context window, in tokens."""
    return DEFAULT_CONTEXT_WINDOW


def max_context_window(model: str) -> int | None:
    """The largest window the model takes; None for a model tether does not know."""
    return _longest_prefix(model, MAX_WINDOWS)


def betas_for(window: int) -> tuple[str, ...]:
    """The beta a window past the default needs."""
    return (LONG_CONTEXT_BETA,) if window > DEFAULT_CONTEXT_WINDOW else ()


def prices_for(model: str, overrides: Mapping[str, Prices] | None = None) -> Prices | None:
    """The model's prices: the config's, else the table's (by the longest matching
    prefix), else None when tether cannot know them."""
    if overrides and model in overrides:
        return overrides[model]
    return _longest_prefix(model, PRICES)


def _longest_prefix(model: str, table: tuple[tuple[str, T], ...]) -> T | None:
    matches = [(prefix, value) for prefix, value in table if model.startswith(prefix)]
    return max(matches, key=lambda match: len(match[0]))[1] if matches else None


def prices_table(value: Any, where: str) -> dict[str, Prices]:
    """The config file's `[prices."MODEL"]` tables, checked: input and output (USD per
    million tokens) and, if given, cache_write and cache_read."""
    if not isinstance(value, dict):
        raise errors.ConfigError(f"{where} must be a table of models")
    return {str(model): _prices(entry, f"{where}.{model}") for model, entry in value.items()}


def _prices(entry: Any, where: str) -> Prices:
    known = {"input", "output", "cache_write", "cache_read"}
    if not isinstance(entry, dict) or not {"input", "output"} <= set(entry) <= known:
        raise errors.ConfigError(
            f"{where} must give input and output (and may give cache_write, cache_read)"
        )
    for key, number in entry.items():
        if isinstance(number, bool) or not isinstance(number, int | float) or number < 0:
            raise errors.ConfigError(f"{where}.{key} must be a number of USD, not {number!r}")
    base = Prices.from_input(float(entry["input"]), float(entry["output"]))
    return replace(base, **{k: float(v) for k, v in entry.items() if k.startswith("cache")})
