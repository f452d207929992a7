"""Text from the log made safe and shaped for a terminal: control characters made
harmless, colour codes kept as colour or stripped, lines cut, Markdown rendered
on a terminal and left as written in a pipe, and no line padded at its end."""

from __future__ import annotations

import re
from collections.abc import Iterable

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.segment import Segment
from rich.text import Text

LINE_CHARS = 160

# C0 controls (but newline and tab), DEL and C1 controls, shown as U+FFFD; and the
# bidirectional overrides and isolates, which make text read other than it runs.
_CONTROLS = {
    c: "\ufffd"
    for c in [
        *range(0x20),
        0x7F,
        *range(0x80, 0xA0),
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
    ]
    if c not in (9, 10)
}
# SGR (colour and style) sequences, which tools print: kept as style or dropped cleanly.
_SGR = re.compile(r"\x1b\[[0-9;:]*m")
# Any other escape sequence (cursor moves, titles, OSC), dropped whole.
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


def clean(text: str) -> str:
    """`text` with control characters (escape sequences included) made harmless.

    The one cleaning function for model, tool and server text on its way to a
    terminal: `tail`, the live view of `run`, `ls`, `show` and error lines."""
    return text if text.isprintable() else text.translate(_CONTROLS)


def strip_codes(text: str) -> str:
    """`text` without terminal escape sequences (colours, cursor moves), then cleaned."""
    if "\x1b" in text:
        text = _ESCAPES.sub("", _SGR.sub("", text))
    return clean(text)


def coloured(text: str) -> Text:
    """A tool's output line: its colours kept as style, every other code dropped."""
    if "\x1b" not in text:
        return Text(clean(text))
    kept = _ESCAPES.sub("", text.replace("\x1b[", "\x00["))  # shield SGR from the sweep
    parts = re.split(r"(\x00\[[0-9;:]*m)", kept)
    shown = "".join(p.replace("\x00", "\x1b") if p.startswith("\x00[") else clean(p) for p in parts)
    return Text.from_ansi(shown)


def one_line(text: str, limit: int = LINE_CHARS) -> str:
    """The first line of `text`, cut to `limit` characters, with `…` if anything was left out."""
    stripped = strip_codes(text).strip()
    first = stripped.split("\n", 1)[0]
    cut = first[:limit]
    return cut + (" …" if len(cut) < len(stripped) else "")


def first_lines(text: str, count: int, limit: int = LINE_CHARS) -> tuple[list[str], int]:
    """Up to `count` lines of `text`, each cut to `limit`, and how many lines were left out."""
    lines = text.rstrip("\n").split("\n")
    shown = [clean(line[:limit]) + (" …" if len(line) > limit else "") for line in lines[:count]]
    return shown, max(0, len(lines) - count)


class Unpadded:
    """Renders `renderable` without the spaces rich pads lines with to the full width."""

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in console.render_lines(self.renderable, options, pad=False):
            yield from _rstrip(line)
            yield Segment.line()


def _rstrip(line: list[Segment]) -> Iterable[Segment]:
    while line and not line[-1].text.rstrip():
        line = line[:-1]
    if line:
        last = line[-1]
        line = [*line[:-1], Segment(last.text.rstrip(), last.style, last.control)]
    return line


class OneLine:
    """`text` on one line, cut with `…` at the edge of a terminal (a pipe gets it whole)."""

    def __init__(self, text: Text) -> None:
        self.text = text

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if console.soft_wrap:
            yield self.text
            return
        self.text.no_wrap, self.text.overflow = True, "ellipsis"
        yield self.text


class ModelText:
    """The model's text: Markdown on a terminal, the text as written anywhere else."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not console.is_terminal:
            yield Text(clean(self.text.strip("\n")))
            return
        from rich.markdown import Markdown

        yield Unpadded(Markdown(clean(self.text), code_theme="ansi_dark"))


def with_more(text: Text, more: int, indent: str) -> Text:
    if more:
        text.append(f"\n{indent}… {more} more line{'s' if more != 1 else ''}", style="dim")
    return text
