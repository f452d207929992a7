"""Asking the person at the terminal about a tool call its permission policy asks
about: y (this call), n (with an optional reason the model reads) or a (always,
for the rest of the session). The answer is recorded before anything acts on it.
"""

from __future__ import annotations

import json
import sys
from typing import TextIO

from rich.console import Console
from rich.text import Text

from tether.core.approvals import Answer, Call

from .render_tools import TOOL_GLYPH
from .text import clean, first_lines

INPUT_LINES = 12
_ANSWERS = {"y": "yes", "yes": "yes", "n": "no", "no": "no", "a": "always", "always": "always"}


class TerminalAsker:
    """Asks on the terminal; reads answers from `stdin` (a tty)."""

    def __init__(self, screen: Console, stdin: TextIO | None = None) -> None:
        self.screen = screen
        self.stdin = stdin or sys.stdin

    def ask(self, call: Call) -> Answer | None:
        self.screen.print(describe(call))
        while True:
            answer = self._read("allow it? [y]es / [n]o / [a]lways for this session: ")
            if answer is None:
                return None  # the terminal went away: the call waits, as with no terminal
            choice = _ANSWERS.get(answer.strip().lower())
            if choice == "yes":
                return Answer(allow=True)
            if choice == "always":
                return Answer(allow=True, always=True)
            if choice == "no":
                reason = self._read("why (the model reads it; Enter for no reason): ")
                return Answer(allow=False, reason=(reason or "").strip() or None)
            self.screen.print("please answer y, n or a", style="yellow")

    def _read(self, prompt: str) -> str | None:
        self.screen.print(prompt, end="", markup=False, highlight=False)
        self.screen.file.flush()
        line = self.stdin.readline()
        return line if line else None


def describe(call: Call) -> Text:
    """The call as the question shows it: the tool, and its input in full (within reason)."""
    text = Text("? ", style="bold yellow")
    text.append(f"{TOOL_GLYPH} ", style="cyan")
    text.append(clean(call.name), style="bold cyan")
    if call.server is not None:
        text.append(f"  (MCP server {clean(call.server)})", style="dim")
    pretty = json.dumps(dict(call.input), ensure_ascii=False, indent=2)
    lines, more = first_lines(pretty, INPUT_LINES)
    text.append("\n  " + "\n  ".join(lines))
    if more:
        text.append(f"\n  … {more} more lines", style="dim")
    return text
