"""The `show` page: one session's settings, status, usage, cost and last error, as
aligned `key  value` lines (the counts of events by type with `--events`)."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table
from rich.text import Text

from tether.core.stats import SessionStats

from . import fmt
from .text import Unpadded, clean
from .views import OUTCOME_STYLES, STATUS_STYLES, ago, local_time, workspace_line

Row = tuple[str, str | Text]


def print_stats(
    screen: Console,
    stats: SessionStats,
    events: bool,
    now: datetime | None = None,
) -> None:
    """Print the page: wrapped to the terminal on one, one line per row in a pipe."""
    rows = stats_rows(stats, now or datetime.now(UTC))
    if events:
        rows += [("", f"{count:>7,}  {name}") for name, count in stats.counts.items()]
    if screen.is_terminal:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column()
        for key, value in rows:
            grid.add_row(key, value if isinstance(value, Text) else Text(clean(value)))
        screen.print(Unpadded(grid))
        return
    width = max(len(key) for key, _ in rows)
    lines = [f"{key.ljust(width)}  {clean(str(value))}".rstrip() for key, value in rows]
    screen.file.write("\n".join(lines) + "\n")


def stats_rows(stats: SessionStats, now: datetime) -> list[Row]:
    s, u = stats.settings, stats.usage
    word = fmt.outcome_word(stats.stop_reason)
    status = Text(stats.status, style=STATUS_STYLES.get(stats.status, ""))
    if stats.stop_reason:
        status.append(" · ").append(word, style=OUTCOME_STYLES.get(word, ""))
        if word != stats.stop_reason:
            status.append(f" ({stats.stop_reason})", style="dim")
    rows: list[Row] = [
        ("session", stats.id),
        ("status", status),
        ("created", f"{local_time(stats.created)} ({ago(stats.created, now)})"),
        ("last activity", f"{local_time(stats.last_activity)} ({ago(stats.last_activity, now)})"),
        ("prompt", stats.prompt or "-"),
        ("model", s.model),
        ("tools", ", ".join(s.tools) or "-"),
        ("mcp servers", ", ".join(s.mcp_servers) or "-"),
        ("permissions", " · ".join(s.permissions) or "defaults (ask:mcp__*, allow:*)"),
        ("sandbox", f"{s.image or '-'} · network {'on' if s.network else 'off'} · "
         f"{s.memory} memory · {s.cpus:g} cpus · {s.pids_limit} processes · "
         f"{s.max_output} output kept per call"),
        ("workspace", workspace_line(s, stats.counts.get("workspace.checkpoint", 0))),
        ("limits", _limits(stats)),
    ]  # fmt: skip
    rows += [("changed", _change(update, now)) for update in stats.updates]
    rows += [
        ("turns", str(stats.turns)),
        ("tokens", f"{fmt.count(u.total)} ({fmt.count(u.input_tokens)} in, "
         f"{fmt.count(u.output_tokens)} out, {fmt.count(u.cache_read_input_tokens)} cache read, "
         f"{fmt.count(u.cache_creation_input_tokens)} cache write)"),
    ]  # fmt: skip
    rows += [("context", _context(stats)), ("cache", _cache(stats)), ("cost", _cost(stats))]
    rows.append(("tool calls", _tool_calls(stats)))
    if stats.last_error:
        rows.append(("last error", Text(clean(stats.last_error), style="red")))
    rows.append(("events", f"{stats.events:,}"))
    return rows


def _limits(stats: SessionStats) -> str:
    s = stats.settings
    parts = [
        f"turns {s.max_turns if s.max_turns is not None else '-'}",
        f"budget {fmt.count(s.token_budget) if s.token_budget is not None else '-'}",
        *([f"${s.budget_usd:g} budget"] if s.budget_usd is not None else []),
        f"timeout {fmt.seconds(s.timeout_s) if s.timeout_s is not None else '-'}",
        f"{s.max_tokens} tokens a response",
    ]
    return " · ".join(parts)


def _context(stats: SessionStats) -> str:
    s, compactions = stats.settings, stats.cost.compactions
    when = f"compacted at {s.compact_threshold:.0%}" if s.compaction else "no compaction"
    return f"{s.context_window:,}-token window · {when} · {fmt.plural(compactions, 'compaction')}"


def _cache(stats: SessionStats) -> str:
    return f"{stats.cost.cache_hit_ratio:.0%} of input tokens read from the cache"


def _cost(stats: SessionStats) -> str:
    cost, budget = stats.cost, stats.settings.budget_usd
    if cost.usd is None:
        model = cost.unpriced[0] if cost.unpriced else stats.settings.model
        return f'unknown: no price for {model} (add [prices."{model}"] to the config)'
    return f"{fmt.dollars(cost.usd)} (estimate)" + (f" of a ${budget:g} budget" if budget else "")


def _change(update: dict, now: datetime) -> str:
    changes = ", ".join(f"{name} {value}" for name, value in update["changes"].items())
    return f"{changes} ({ago(update['ts'], now)}, on resume)"


def _tool_calls(stats: SessionStats) -> str:
    total = sum(stats.tool_calls.values())
    if not total:
        return "0"
    names = ", ".join(f"{name} {count}" for name, count in stats.tool_calls.items())
    return f"{total} ({names}); {stats.tool_errors} failed"
