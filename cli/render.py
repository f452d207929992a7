"""Events as a person reads them: one pure function from an event to a rich
renderable, shared by `tail` and the live view of `run`.

Mostly one line per event; a tool call's lines are made in `render_tools`.
Structure is carried by glyphs and indentation, not only by colour, so the
output stays readable with NO_COLOR or in a pipe. Everything from the log is
`Text` (never markup), and control characters are made visible, so an agent's
output cannot restyle or drive the terminal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import RenderableType
from rich.text import Text

from tether.core import events as ev

from . import fmt
from .render_tools import confirmation, mcp_tool_use, tool_result, tool_use
from .text import ModelText, clean, first_lines, one_line, with_more

MESSAGE_LINES = 40


def render_event(event: ev.Event) -> RenderableType | None:
    """How `event` looks on a terminal, or None for events not worth a line."""
    renderer = _RENDERERS.get(type(event))
    return renderer(event) if renderer is not None else None


# -- one renderer per event type ---------------------------------------------------


def _created(event: ev.SessionCreated) -> Text:
    parts = [f"model {event.model}"]
    if event.tools:
        parts.append("tools " + ", ".join(event.tools))
    if event.image:
        parts.append(f"image {event.image}")
    parts.append("workspace " + workspace_words(event))
    return Text("● session created: " + clean(" · ".join(parts)), style="dim")


def workspace_words(event: ev.SessionCreated) -> str:
    """Where a session's workspace came from, in a few words."""
    if event.workspace_source in ("git", "dir"):
        return f"a copy of {event.workspace_from}"
    if event.workspace_source == "fork":
        return f"the files of {event.parent} at event {event.parent_seq}"
    if event.workspace:
        return f"{event.workspace}, mounted live"
    return "an empty Docker volume"


def _prepared(event: ev.WorkspacePrepared) -> Text:
    from tether.core.workspace import human_size

    files = fmt.plural(event.files, "file")
    copied = f"copied {files} ({human_size(event.bytes)})" if event.files else "ready"
    took = fmt.seconds(event.duration_ms / 1000)
    text = Text(clean(f"● workspace {copied} ({took})"), style="dim")
    if event.skipped:
        text.append(clean(f"\n! could not read: {', '.join(event.skipped)}"), style="yellow")
    if event.error:
        text.append(clean(f"\n! {event.error}"), style="yellow")
    return text


def _checkpoint(event: ev.WorkspaceCheckpoint) -> Text | None:
    if event.error:
        return Text(clean(f"! checkpoint failed: {one_line(event.error, 400)}"), style="yellow")
    if not event.changed:
        return None
    files = f"{fmt.plural(event.changed, 'file')} changed"
    return Text(f"  ✓ checkpoint {event.checkpoint[:10]}: {files}", style="dim")


def _updated(event: ev.SessionUpdated) -> Text:
    changes = " · ".join(f"{name} {_setting(value)}" for name, value in event.changes.items())
    return Text(clean(f"● settings changed: {changes}"), style="dim")


def _setting(value: Any) -> str:
    return "none" if value is None else str(value)


def _user_message(event: ev.UserMessage) -> Text:
    lines, more = first_lines(event.content, MESSAGE_LINES, limit=10_000)
    text = Text("> ", style="bold")
    text.append("\n  ".join(lines), style="bold")
    return with_more(text, more, indent="  ")


def _agent_message(event: ev.AgentMessage) -> ModelText:
    return ModelText(event.content)


def _thinking(event: ev.AgentThinking) -> Text:
    if event.data or not event.content.strip():
        what = "redacted thinking" if event.data else "thinking"
        return Text(f"∴ ({what})", style="dim italic")
    lines, more = first_lines(event.content, 3)
    text = Text("∴ " + "\n  ".join(lines), style="dim italic")
    return with_more(text, more, indent="  ")


def _tools_listed(event: ev.MCPToolsListed) -> Text:
    line = f"● MCP server {event.mcp_server_name}: {fmt.plural(len(event.tools), 'tool')}"
    return Text(clean(line + f" ({fmt.seconds(event.duration_ms / 1000)})"), style="dim")


def _model_end(event: ev.ModelRequestEnd) -> Text:
    if event.is_error and not event.usage.total:
        line = f"· turn {event.turn + 1} not answered ({event.stop_reason or 'error'})"
        return Text(f"{line} · {fmt.seconds(event.duration_ms / 1000)}", style="red dim")
    usage = event.usage
    what = "compaction" if event.stop_reason == "compaction" else f"turn {event.turn}"
    tokens_in = usage.total - usage.output_tokens  # fresh, cache read and cache written
    line = f"· {what} · {fmt.count(tokens_in)} in · {fmt.count(usage.output_tokens)}"
    line += f" out · {fmt.seconds(event.duration_ms / 1000)}"
    return Text(line, style="red dim" if event.is_error else "dim")


def _compacted(event: ev.ThreadContextCompacted) -> Text:
    how = "by the API" if event.method == "api" else "by tether's own summary"
    line = f"⟲ context compacted {how}: ~{fmt.count(event.tokens_before)} → "
    line += f"~{fmt.count(event.tokens_after)} tokens"
    return Text(line, style="yellow")


def _interrupt(event: ev.UserInterrupt) -> Text:
    return Text(f"! interrupted ({clean(event.reason)})", style="yellow")


def _provisioned(event: ev.SandboxProvisioned) -> Text:
    seconds = fmt.seconds(event.duration_ms / 1000)
    line = f"● sandbox ready: {event.image}, container {event.container_id[:12]} ({seconds})"
    return Text(clean(line), style="dim")


def _lost(event: ev.SandboxLost) -> Text:
    line = f"! sandbox lost: {event.reason} (container {event.container_id[:12]})"
    return Text(clean(line), style="yellow")


def _released(event: ev.SandboxReleased) -> Text:
    reason = f" ({event.reason})" if event.reason else ""
    return Text(clean(f"● sandbox released{reason}"), style="dim")


def _running(event: ev.StatusRunning) -> Text:
    return Text(clean(f"● running (pid {event.pid} on {event.host})"), style="dim")


def _idle(event: ev.StatusIdle) -> Text:
    waiting = f" ({', '.join(event.event_ids)} waits for a decision)" if event.event_ids else ""
    return Text(clean(f"● idle: {event.stop_reason}{waiting}"), style="dim")


def _terminated(event: ev.StatusTerminated) -> Text:
    return Text(clean(f"● terminated by {event.by}"), style="yellow")


def _error(event: ev.SessionError) -> Text:
    line = f"✗ {one_line(event.message, 400)}"
    if event.retry_status == "retrying":
        line = f"! {one_line(event.message, 400)} · retrying"
        if event.retry_in_ms is not None:
            line += f" in {fmt.seconds(event.retry_in_ms / 1000)}"
        if event.attempt and event.attempts:
            line += f" ({event.attempt}/{event.attempts})"
        return Text(line, style="yellow")
    if event.retry_status == "exhausted":
        line += f" · gave up after {fmt.plural(event.attempt or 1, 'try', 'tries')}"
    return Text(line, style="red")


_RENDERERS: dict[type[ev.Event], Callable[[Any], RenderableType | None]] = {
    ev.SessionCreated: _created,
    ev.SessionUpdated: _updated,
    ev.UserMessage: _user_message,
    ev.UserInterrupt: _interrupt,
    ev.ThreadContextCompacted: _compacted,
    ev.ModelRequestEnd: _model_end,
    ev.AgentMessage: _agent_message,
    ev.AgentThinking: _thinking,
    ev.AgentToolUse: tool_use,
    ev.AgentToolResult: tool_result,
    ev.AgentMCPToolUse: mcp_tool_use,
    ev.AgentMCPToolResult: tool_result,
    ev.UserToolConfirmation: confirmation,
    ev.MCPToolsListed: _tools_listed,
    ev.SandboxProvisioned: _provisioned,
    ev.SandboxLost: _lost,
    ev.SandboxReleased: _released,
    ev.WorkspacePrepared: _prepared,
    ev.WorkspaceCheckpoint: _checkpoint,
    ev.StatusRunning: _running,
    ev.StatusIdle: _idle,
    ev.StatusTerminated: _terminated,
    ev.SessionError: _error,
}
