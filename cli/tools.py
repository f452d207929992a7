"""What a run's tools need from the command line: the session's MCP servers, someone to
ask about tool calls (a person at a terminal, when there is one), and telling the
person or the program which calls wait for a decision."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text

from tether.core import mcp_config
from tether.core.approvals import Asker, Call
from tether.core.mcp_config import ServerConfig

from . import console
from .render_tools import tool_input_summary

if TYPE_CHECKING:
    from tether.core.mcp_client import MCPClients


def load_servers(sources: tuple[str, ...]) -> dict[str, ServerConfig]:
    """The servers `sources` define, `${VAR}`s expanded: a bad file or an unset variable
    stops the run before it starts. A file that is gone is skipped: flags and variables
    were checked to name files that exist, so only the config file's opt-in (a project's
    .mcp.json, where the project has one) or a session's file deleted since can be."""
    return mcp_config.load(sources, missing_ok=True)


def recorded(sources: tuple[str, ...], servers: dict[str, ServerConfig]) -> dict[str, Any]:
    """What session.created keeps of the MCP config: the files (never their secrets, which
    are read again on resume) and the servers' names."""
    present = tuple(s for s in sources if Path(s.removesuffix(mcp_config.INLINE)).exists())
    return {"mcp_config": present, "mcp_servers": tuple(servers)}


def clients(servers: dict[str, ServerConfig], session_dir: Path, timeout_s: float) -> MCPClients:
    """The session's servers, none started yet; their stderr goes beside the log."""
    from tether.core.mcp_client import MCPClients
    from tether.core.toolbox import stderr_dir

    return MCPClients(servers, timeout_s=timeout_s, stderr_dir=stderr_dir(session_dir))


def asker_for(json_mode: bool) -> Asker | None:
    """A person at a terminal to ask about tool calls; with --json, or no terminal on
    stdin, nobody: a call that needs a decision stops the run (requires_action)."""
    if json_mode or not sys.stdin.isatty():
        return None
    from .ask import TerminalAsker

    return TerminalAsker(console.err)


def pending_json(calls: tuple[Call, ...]) -> list[dict[str, Any]]:
    return [{"tool_use_id": c.tool_use_id, "name": c.name, "input": dict(c.input)} for c in calls]


def show_pending(session_id: str, calls: tuple[Call, ...]) -> None:
    """The calls that wait, and the commands that decide on them."""
    for call in calls:
        line = Text("waiting for a decision: ", style="yellow")
        line.append(f"{call.tool_use_id} ", style="bold")
        line.append(call.name, style="bold cyan")
        line.append("  " + tool_input_summary(call.name, call.input))
        console.err.print(line)
    which = " CALL" if len(calls) > 1 else ""
    console.err.print(
        f"[dim]allow with: tether approve {session_id}{which}   refuse with: "
        f'tether deny {session_id}{which} --reason "..."   then: tether resume {session_id}[/]'
    )


def created_fields(settings: Any, servers: dict[str, ServerConfig]) -> dict[str, Any]:
    """The session.created fields of the tools' settings."""
    return {**recorded(settings.mcp_config, servers), "permissions": settings.permissions}
