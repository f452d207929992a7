"""Numbers and outcomes in words, one format everywhere: `4.7k`, `1.1M`, `13.6 s`,
`1 turn` and `4 turns`, `done` for `end_turn`."""

from __future__ import annotations

# How a session ended, in one word (the `ls` column) and in a phrase (the closing line).
OUTCOMES: dict[str, tuple[str, str]] = {
    "end_turn": ("done", "done"),
    "max_turns": ("limit", "stopped at the turn limit"),
    "budget_reached": ("limit", "stopped at the token budget"),
    "timeout": ("timeout", "stopped at the time limit"),
    "retries_exhausted": ("error", "the model API kept failing"),
    "interrupted": ("interrupted", "interrupted"),
    "terminated": ("killed", "killed"),
    "error": ("error", "failed"),
    "refusal": ("refused", "the model refused to go on"),
    "max_tokens": ("limit", "the answer was cut at --max-tokens"),
    "requires_action": ("waiting", "waiting for approval"),
    "model_context_window_exceeded": ("limit", "the context window is full"),
}


def outcome_word(stop_reason: str | None) -> str:
    """`done`, `error`, `timeout`, `interrupted`, `limit`, `killed`; `-` when unknown."""
    if stop_reason is None:
        return "-"
    return OUTCOMES.get(stop_reason, (stop_reason.replace("_", " "), ""))[0]


def outcome_phrase(stop_reason: str) -> str:
    return OUTCOMES.get(stop_reason, ("", stop_reason.replace("_", " ")))[1]


def count(number: float) -> str:
    """A count the way people say it: 950, 4.7k, 13k, 1.1M."""
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(number) >= size * 0.9995:
            scaled = number / size
            text = f"{scaled:.1f}" if abs(scaled) < 100 else f"{scaled:.0f}"
            return text.removesuffix(".0") + unit
    return f"{number:.0f}"


def plural(number: int, word: str, words: str | None = None) -> str:
    """`1 turn`, `4 turns`, `1.2k tokens`."""
    return f"{count(number)} {word if number == 1 else (words or word + 's')}"


def seconds(value: float) -> str:
    """A duration: 45 ms, 3.6 s, 13.6 s, 2 min 5 s, 1 h 4 min."""
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.1f} s"
    minutes, rest = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def dollars(amount: float) -> str:
    """An estimated cost: ~$0.02, ~$1.30, ~$12; below a cent, <$0.01."""
    if amount < 0.005:
        return "<$0.01"
    return f"~${amount:.2f}" if amount < 100 else f"~${amount:,.0f}"
