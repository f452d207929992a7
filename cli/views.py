"""How `ls` and `show` look: the session table and the detail view.

The `ls` table is laid out here rather than by `rich.table.Table`, which takes
seconds for thousands of rows; rich still decides whether and how to colour
(NO_COLOR, pipes), one short string per style.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache

from rich.cells import cell_len, set_cell_size
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from tether.core.changes import CheckpointInfo
from tether.core.events import SessionCreated
from tether.core.summary import BROKEN, SessionSummary

from . import fmt
from .render import workspace_words
from .render_tools import tool_input_summary
from .text import clean

STATUS_STYLES = {"running": "bold green", "crashed": "red", "terminated": "dim", BROKEN: "red"}
OUTCOME_STYLES = {"done": "green", "error": "red", "killed": "yellow", "interrupted": "yellow"}
_GAP = "  "
_MIN_PROMPT = 20  # below this much room for the prompt, a terminal drops columns
# Columns a narrow terminal gives up, first to last (the id and status always stay).
_DROPPABLE = ("CREATED", "TURNS", "OUTCOME", "LAST ACTIVITY")


def print_session_table(
    screen: Console,
    summaries: Sequence[SessionSummary],
    now: datetime | None = None,
    tree: bool = False,
) -> None:
    """Write the `ls` table for `summaries` to `screen`, one row each, prompts cut to fit;
    with `tree`, each fork under the session it was forked from.

    A terminal gets rows that fit its width (columns dropped, prompts cut with `…`) and
    each id's shortest unique prefix in bold; a pipe gets every column and whole prompts.
    """
    now = now or datetime.now(UTC)
    ordered = family_order(summaries) if tree else [(s, "") for s in summaries]
    prefixes = unique_prefixes([s.id for s in summaries])
    columns = {name: [cell(s, now) for s, _ in ordered] for name, cell in _COLUMNS.items()}
    columns["ID"] = [branch + s.id for s, branch in ordered]
    fit = screen.is_terminal
    if fit:
        _drop_columns(columns, screen.width)
    widths = {name: max(len(name), *map(len, cells)) for name, cells in columns.items()}
    room = max(1, screen.width - sum(widths.values()) - len(_GAP) * len(widths))
    styled = _Styler(screen)
    lines = [styled(_GAP.join([*(n.ljust(widths[n]) for n in columns), "PROMPT"]), "bold")]
    for index, (summary, branch) in enumerate(ordered):
        cells = [_cell(name, columns[name][index], widths[name], styled) for name in columns]
        cells[0] = styled(branch, "dim") + _id_cell(
            summary.id, prefixes[summary.id], widths["ID"] - len(branch), styled
        )
        prompt = clean(_family(summary, tree) + summary.prompt)
        cells.append(_cut(prompt, room) if fit else prompt)
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


def _drop_columns(columns: dict[str, list[str]], width: int) -> None:
    """Drop columns, least needed first, until the prompt has room (or none are left)."""
    for name in _DROPPABLE:
        used = sum(max(len(n), *map(len, c)) for n, c in columns.items())
        if width - used - len(_GAP) * len(columns) >= _MIN_PROMPT:
            return
        columns.pop(name, None)


def _cell(name: str, text: str, width: int, styled: _Styler) -> str:
    if name == "TURNS":
        return text.rjust(width)
    style = STATUS_STYLES.get(text, "") if name == "STATUS" else ""
    if name == "OUTCOME":
        style = OUTCOME_STYLES.get(text, "")
    return styled(text, style) + " " * (width - len(text))


def _id_cell(session_id: str, prefix: int, width: int, styled: _Styler) -> str:
    """The id with its shortest unique prefix in bold (on a terminal), padded."""
    shown = styled(session_id[:prefix], "bold cyan") + styled(session_id[prefix:], "dim")
    return shown + " " * (width - len(session_id))


def _cut(text: str, room: int) -> str:
    """`text` cut to `room` cells, with `…` when something was cut."""
    if cell_len(text) <= room:
        return text
    return set_cell_size(text, max(0, room - 1)).rstrip() + "…"


def unique_prefixes(ids: Sequence[str]) -> dict[str, int]:
    """For each id, the length of its shortest prefix no other id starts with."""
    ordered = sorted(ids)
    lengths = {}
    for i, session_id in enumerate(ordered):
        neighbours = ordered[max(0, i - 1) : i] + ordered[i + 1 : i + 2]
        shared = max((_common(session_id, other) for other in neighbours), default=0)
        lengths[session_id] = min(len(session_id), shared + 1)
    return lengths


def _common(a: str, b: str) -> int:
    count = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        count += 1
    return count


def _turns(summary: SessionSummary) -> str:
    return "?" if summary.turns is None else str(summary.turns)


_COLUMNS: dict[str, Callable[[SessionSummary, datetime], str]] = {
    "ID": lambda s, now: s.id,
    "STATUS": lambda s, now: s.status,
    "OUTCOME": lambda s, now: fmt.outcome_word(s.stop_reason),
    "CREATED": lambda s, now: local_time(s.created),
    "LAST ACTIVITY": lambda s, now: ago(s.last_activity, now),
    "TURNS": lambda s, now: _turns(s),
}


class _Styler:
    """Wraps text in a style's codes, asking rich for them once per style (a handful per
    table), so that thousands of rows cost string joins."""

    def __init__(self, screen: Console) -> None:
        self.screen = screen
        self.codes: dict[str, tuple[str, str]] = {}
        self.plain = screen.no_color or not screen.is_terminal

    def __call__(self, text: str, style: str) -> str:
        if not style or self.plain or not text:
            return text
        if style not in self.codes:
            with self.screen.capture() as capture:
                self.screen.print(Text("\x00", style=style), end="", soft_wrap=True)
            before, _, after = capture.get().partition("\x00")
            self.codes[style] = (before, after)
        before, after = self.codes[style]
        return before + text + after


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


def workspace_line(s: SessionCreated, checkpoints: int) -> str:
    """Where the workspace came from, and how many checkpoints it has."""
    return f"{workspace_words(s)} · {checkpoints} checkpoint{'s' if checkpoints != 1 else ''}"


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
