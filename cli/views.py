"""How `ls` and `show` look: the session table and the detail view.

The `ls` table is laid out here rather than by `rich.table.Table`, which takes
seconds for thousands of rows; rich still decides whether and how to colour
(NO_COLOR, pipes), one short string per style.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache

from rich.cells import set_cell_size
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from tether.core.changes import CheckpointInfo
from tether.core.events import SessionCreated
from tether.core.summary import BROKEN, SessionStats, SessionSummary

from .render import clean, tool_input_summary, workspace_words

HEADERS = ("ID", "STATUS", "CREATED", "LAST ACTIVITY", "TURNS", "PROMPT")
STATUS_STYLES = {"running": "bold green", "crashed": "red", "terminated": "dim", BROKEN: "red"}
_GAP = "  "


def print_session_table(
    screen: Console,
    summaries: Sequence[SessionSummary],
    now: datetime | None = None,
    tree: bool = False,
) -> None:
    """Write the `ls` table for `summaries` to `screen`, one row each, prompts cut to fit;
    with `tree`, each fork under the session it was forked from."""
    now = now or datetime.now(UTC)
    ordered = family_order(summaries) if tree else [(s, "") for s in summaries]
    rows = [_row(s, now, branch) for s, branch in ordered]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(HEADERS[:-1])]
    # A pipe gets whole prompts (for grep); a terminal gets rows that fit its width.
    room = max(12, screen.width - sum(widths) - len(_GAP) * len(widths))
    fit = screen.is_terminal
    styled = _Styler(screen)
    header = _GAP.join(h.ljust(w) for h, w in zip(HEADERS, widths, strict=False)) + _GAP + "PROMPT"
    lines = [styled(header, "bold")]
    for (summary, _), row in zip(ordered, rows, strict=True):
        cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=True)]
        cells[1] = styled(cells[1], STATUS_STYLES.get(summary.status, ""))
        cells[4] = row[4].rjust(widths[4])
        prompt = clean(_family(summary, tree) + summary.prompt)
        cells.append(set_cell_size(prompt, room).rstrip() if fit else prompt)
        lines.append(_GAP.join(cells).rstrip())
    screen.file.write("\n".join(lines) + "\n")
    screen.file.flush()


def family_order(summaries: Sequence[SessionSummary]) -> list[tuple[SessionSummary, str]]:
    """Sessions as a tree: each one whose parent is listed under it (oldest fork first),
    with the branch drawn before its id; the others in the order given."""
    listed = {s.id for s in summaries}
    children: dict[str, list[SessionSummary]] = {}
    for summary in sorted(summaries, key=lambda s: (s.created or "", s.id)):
        if summary.parent in listed:
            children.setdefault(summary.parent, []).append(summary)  # type: ignore[arg-type]
    ordered: list[tuple[SessionSummary, str]] = []
    todo = [(s, "", "") for s in reversed(summaries) if s.parent not in listed]
    while todo:
        summary, branch, lead = todo.pop()
        ordered.append((summary, branch))
        kids = children.get(summary.id, [])
        for n, kid in reversed(list(enumerate(kids))):
            last = n == len(kids) - 1
            todo.append((kid, lead + ("└─ " if last else "├─ "), lead + ("   " if last else "│  ")))
    return ordered


def _family(summary: SessionSummary, tree: bool) -> str:
    if summary.parent is None:
        return ""
    return (
        f"(at {summary.parent_seq}) "
        if tree
        else f"fork of {summary.parent}@{summary.parent_seq}: "
    )


def _row(summary: SessionSummary, now: datetime, branch: str = "") -> list[str]:
    turns = "?" if summary.turns is None else str(summary.turns)
    return [
        branch + summary.id,
        summary.status,
        local_time(summary.created),
        ago(summary.last_activity, now),
        turns,
    ]


class _Styler:
    """Renders `text` in `style` through rich once per distinct pair (a handful per table)."""

    def __init__(self, screen: Console) -> None:
        self.screen = screen
        self.cache: dict[tuple[str, str], str] = {}

    def __call__(self, text: str, style: str) -> str:
        if not style or self.screen.no_color or not self.screen.is_terminal:
            return text
        key = (text, style)
        if key not in self.cache:
            with self.screen.capture() as capture:
                self.screen.print(Text(text, style=style), end="", soft_wrap=True)
            self.cache[key] = capture.get()
        return self.cache[key]


def parse_ts(ts: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(ts) if ts else None
    except ValueError:
        return None


def local_time(ts: str | None) -> str:
    """`ts` (RFC 3339, UTC) in local time to the minute, or `-`."""
    if not ts or len(ts) < 16:
        return "-"
    return _local_minute(ts[:16])  # sessions made in the same minute share the work


@lru_cache(maxsize=4096)
def _local_minute(minute: str) -> str:
    moment = parse_ts(minute + "+00:00")
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment else "-"


def ago(ts: str | None, now: datetime) -> str:
    """How long before `now` the moment `ts` was, roughly: `12s ago`, `5m ago`, `3d ago`."""
    moment = parse_ts(ts)
    if moment is None:
        return "-"
    seconds = max(0, int((now - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def stats_view(stats: SessionStats, now: datetime | None = None) -> RenderableType:
    """The `show` page: settings, status, usage and counts as aligned key/value rows."""
    now = now or datetime.now(UTC)
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for key, value in _stats_rows(stats, now):
        grid.add_row(key, value if isinstance(value, Text) else Text(clean(value)))
    return grid


def _stats_rows(stats: SessionStats, now: datetime) -> list[tuple[str, str | Text]]:
    s, u = stats.settings, stats.usage
    status = stats.status + (f" ({stats.stop_reason})" if stats.stop_reason else "")
    return [
        ("session", stats.id),
        ("status", Text(status, style=STATUS_STYLES.get(stats.status, ""))),
        ("created", f"{local_time(stats.created)} ({ago(stats.created, now)})"),
        ("last activity", f"{local_time(stats.last_activity)} ({ago(stats.last_activity, now)})"),
        ("prompt", stats.prompt or "-"),
        ("model", s.model),
        ("tools", ", ".join(s.tools) or "-"),
        ("mcp servers", ", ".join(s.mcp_servers) or "-"),
        ("permissions", " · ".join(s.permissions) or "defaults (ask:mcp__*, allow:*)"),
        ("sandbox", f"{s.image or '-'} · network {'on' if s.network else 'off'}"),
        (
            "",
            f"{s.memory} memory · {s.cpus:g} cpus · {s.pids_limit} processes · "
            f"{s.max_output} output kept per call",
        ),
        ("workspace", workspace_line(s, stats.counts.get("workspace.checkpoint", 0))),
        ("limits", _limits(stats)),
        ("context", _context(stats)),
        ("turns", str(stats.turns)),
        ("tokens", f"{u.total:,} ({u.input_tokens:,} in, {u.output_tokens:,} out,"),
        ("", f"{u.cache_read_input_tokens:,} cache read, {u.cache_creation_input_tokens:,} write)"),
        ("cache", f"{stats.cost.cache_hit_ratio:.0%} of input tokens read from the cache"),
        ("cost", _cost(stats)),
        ("tool calls", _tool_calls(stats)),
        ("errors", str(stats.errors)),
        ("events", f"{stats.events:,}"),
        ("", "\n".join(f"{count:>7,}  {name}" for name, count in stats.counts.items())),
    ]


def workspace_line(s: SessionCreated, checkpoints: int) -> str:
    """Where the workspace came from, and how many checkpoints it has."""
    return f"{workspace_words(s)} · {checkpoints} checkpoint{'s' if checkpoints != 1 else ''}"


def _limits(stats: SessionStats) -> str:
    s = stats.settings
    parts = [
        f"turns {s.max_turns if s.max_turns is not None else '-'}",
        f"token budget {s.token_budget if s.token_budget is not None else '-'}",
        *([f"${s.budget_usd:g} budget"] if s.budget_usd is not None else []),
        f"timeout {f'{s.timeout_s:g}s' if s.timeout_s is not None else '-'}",
        f"{s.max_tokens} tokens a response",
    ]
    return " · ".join(parts)


def _context(stats: SessionStats) -> str:
    s, compactions = stats.settings, stats.cost.compactions
    plural = "" if compactions == 1 else "s"
    when = f"compacted at {s.compact_threshold:.0%}" if s.compaction else "no compaction"
    return f"{s.context_window:,}-token window · {when} · {compactions} compaction{plural}"


def _cost(stats: SessionStats) -> str:
    cost = stats.cost
    if cost.usd is None:
        models = ", ".join(cost.unpriced)
        return f'unknown: no price for {models} (add [prices."{cost.unpriced[0]}"] to the config)'
    budget = stats.settings.budget_usd
    return f"${cost.usd:,.4f} (estimate)" + (f" of a ${budget:g} budget" if budget else "")


def _tool_calls(stats: SessionStats) -> str:
    total = sum(stats.tool_calls.values())
    if not total:
        return "0"
    names = ", ".join(f"{name} {count}" for name, count in stats.tool_calls.items())
    return f"{total} ({names}); {stats.tool_errors} failed"


def checkpoints_view(
    found: Sequence[CheckpointInfo], now: datetime | None = None
) -> RenderableType:
    """`show --checkpoints`: one row per checkpoint, the call it followed and what changed."""
    table = Table(box=None, pad_edge=False, padding=(0, 2, 0, 0), header_style="bold")
    for column, justify in (("SEQ", "right"), ("TIME", "left"), ("AFTER", "left"),
                            ("FILES", "left")):  # fmt: skip
        table.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for point in found:
        table.add_row(str(point.seq), local_time(point.ts), _after(point), _files(point))
    return table


def _after(point: CheckpointInfo) -> Text:
    if point.tool is None:
        return Text("start", style="bold") if point.tool_use_id is None else Text("?")
    text = Text(point.tool, style="cyan")
    text.append("  " + tool_input_summary(point.tool, point.input or {})[:60])
    return text


def _files(point: CheckpointInfo) -> Text:
    if point.error:
        return Text(clean(f"failed: {point.error}"), style="yellow")
    if point.tool_use_id is None:
        return Text(f"{point.changed} copied" if point.changed else "-")
    if not point.changed:
        return Text("unchanged", style="dim")
    shown = ", ".join(point.files[:3]) + (", …" if point.changed > 3 else "")
    return Text(clean(f"{point.changed} changed: {shown}"))
