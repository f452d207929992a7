"""How a tool call reads, in `tail` and the live view of `run`: its input in one line,
its result with the status the sandbox gave it (and the first lines of its output),
and the person's decision on it. `render` maps the events to these.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from rich.text import Text

from tether.core import events as ev
from tether.core.mcp_tools import content_text

from . import fmt
from .text import LINE_CHARS, OneLine, clean, coloured, one_line, with_more

TOOL_GLYPH = "▸"
RESULT_GLYPH = "⎿"
RESULT_LINES = 4

# The input field that says the most about a call, per Managed Agents tool.
_MAIN_INPUT = {
    "bash": "command",
    "read": "file_path",
    "write": "file_path",
    "edit": "file_path",
    "glob": "pattern",
    "grep": "pattern",
}
# The last line the sandbox adds to a failed command's output.
_STATUS_LINE = re.compile(
    r"\n?\[(exit status (-?\d+)|timed out after ([\d.]+) s[^\]]*|stopped \(([^)]*)\)[^\]]*)\]\Z"
)


def tool_input_summary(name: str, tool_input: Mapping[str, Any]) -> str:
    """A short, one-line description of a tool call's input (`ls -la`, `src/app.py`, …)."""
    main = tool_input.get(_MAIN_INPUT.get(name, ""))
    if not isinstance(main, str):
        if name == "bash" and tool_input.get("restart"):
            return "(restart the shell)"
        return one_line(json.dumps(dict(tool_input), ensure_ascii=False))
    extra = ""
    if name in ("glob", "grep") and isinstance(tool_input.get("path"), str):
        extra = f"in {tool_input['path']}"
    elif name == "read" and tool_input.get("view_range"):
        extra = f"lines {tool_input['view_range']}"
    text = one_line(main)
    return f"{text}  ({one_line(extra)})" if extra else text


def tool_status(event: ev.AgentToolResult | ev.AgentMCPToolResult) -> tuple[str, str]:
    """(the output without the sandbox's status line, the status in words: `exit 1`,
    `timed out after 5 s`, `stopped (ctrl-c)`, `error`, or "" for a success)."""
    content = event.content if isinstance(event.content, str) else content_text(event.content)
    found = _STATUS_LINE.search(content)
    if found is None:
        return content, "error" if event.is_error else ""
    output = content[: found.start()]
    if found[2] is not None:
        return output, f"exit {found[2]}"
    if found[4] is not None:
        return output, f"stopped ({found[4]})"
    return output, f"timed out after {found[3]} s"


def tool_use(event: ev.AgentToolUse) -> OneLine:
    text = Text(f"{TOOL_GLYPH} ", style="cyan")
    text.append(clean(event.name), style="bold cyan")
    text.append("  " + tool_input_summary(event.name, event.input))
    return OneLine(text)


def tool_result(event: ev.AgentToolResult | ev.AgentMCPToolResult) -> Text:
    output, status = tool_status(event)
    output = output.strip("\n")
    failed = event.is_error or bool(status)
    text = Text(f"  {RESULT_GLYPH} ", style="dim")
    text.append(f"✗ {status or 'error'} ·" if failed else "✓", style="red" if failed else "green")
    text.append(f" {fmt.seconds(event.duration_ms / 1000)}", style="dim")
    if event.truncated:
        text.append(" · output truncated", style="dim")
    if not output.strip() or output == "(no output)":
        return text.append(" · no output", style="dim")
    lines = output.split("\n")
    if len(lines) == 1:
        return text.append(" · ").append(coloured(one_line_of(lines[0])))
    for line in lines[:RESULT_LINES]:
        text.append("\n    ").append(coloured(one_line_of(line)))
    return with_more(text, max(0, len(lines) - RESULT_LINES), indent="    ")


def one_line_of(line: str) -> str:
    return line if len(line) <= LINE_CHARS else line[:LINE_CHARS] + " …"


def mcp_tool_use(event: ev.AgentMCPToolUse) -> Text:
    text = Text(f"{TOOL_GLYPH} ", style="cyan")
    text.append(clean(event.api_name), style="bold cyan")
    text.append("  " + tool_input_summary(event.api_name, event.input))
    return text


def confirmation(event: ev.UserToolConfirmation) -> Text:
    if event.result == "allow":
        always = " (and later calls of this tool, for this session)" if event.always else ""
        return Text(f"  ✓ allowed by the user{always}", style="green")
    reason = f": {one_line(event.deny_message)}" if event.deny_message else ""
    return Text(clean(f"  ✗ denied by the user{reason}"), style="red")
