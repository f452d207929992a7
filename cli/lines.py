"""The first and last lines of a run: the header that names what runs where, and
the closing line that says how it ended, in words."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from tether.core import errors
from tether.core import events as ev

from . import fmt
from .text import clean

if TYPE_CHECKING:
    from tether.core.harness import Outcome

_MARKS = {"done": ("✓", "green"), "interrupted": ("!", "yellow"), "limit": ("!", "yellow")}


def header(session_id: str, settings: ev.SessionCreated) -> Text:
    """`session 1m8tg… · claude-sonnet-5-5 · image python:3.12 · workspace ~/src/app`."""
    from .render import workspace_words

    workspace = workspace_words(settings)
    text = Text("session ", style="bold")
    text.append(session_id, style="bold cyan")
    text.append(clean(f" · {settings.model} · image {settings.image} · workspace {workspace}"))
    return text


def closing_line(session_id: str, outcome: Outcome, seconds: float) -> Text:
    """`✓ done · 4 turns · 4.7k tokens · 80% cached · ~$0.02 · 13.6 s`, and how to go on
    when it did not end its turn. The cost is core/cost.py's, as `show` gives it."""
    word = fmt.outcome_word(outcome.stop_reason)
    mark, style = _MARKS.get(word, ("✗", "red"))
    parts = [
        fmt.outcome_phrase(outcome.stop_reason),
        fmt.plural(outcome.turns, "turn"),
        fmt.plural(outcome.usage.total, "token"),
    ]
    cost = outcome.cost
    if cost.input_tokens:
        parts.append(f"{cost.cache_hit_ratio:.0%} cached")
    if cost.compactions:
        parts.append(fmt.plural(cost.compactions, "compaction"))
    if cost.usd is not None and outcome.usage.total:
        parts.append(fmt.dollars(cost.usd))
    parts.append(fmt.seconds(seconds))
    text = Text(f"{mark} ", style=style)
    text.append(" · ".join(parts), style="bold" if word == "done" else "")
    if word != "done":
        hint = " --image NAME" if isinstance(outcome.error, errors.ImageNotFound) else ""
        text.append(f"\n  continue with: tether resume {session_id}{hint}", style="dim")
    return text
