"""The human view of a run: streamed text is not printed twice, pulls show progress."""

from __future__ import annotations

import io

from rich.console import Console

from tether.cli.console import PullProgress
from tether.cli.live import HumanObserver
from tether.core import events as ev


def screen() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=False, width=100), buffer


def test_streamed_text_is_shown_once_per_block() -> None:
    console, buffer = screen()
    observer = HumanObserver(console)
    observer.event(ev.ModelRequestStart(model="m"))
    for delta in ("Hel", "lo. ", "Second"):
        observer.text(delta)
    observer.event(ev.AgentMessage(content="Hello. "))
    observer.event(ev.AgentMessage(content="Second"))
    observer.event(ev.ModelRequestEnd(model="m", turn=1))
    observer.event(ev.AgentMessage(content="not streamed"))
    out = buffer.getvalue()
    assert out.count("Hello.") == 1 and out.count("Second") == 1
    assert "not streamed" in out


def test_pull_progress_follows_the_engine_messages() -> None:
    console, buffer = screen()
    console = Console(file=buffer, force_terminal=True, width=80)
    progress = PullProgress()
    import tether.cli.console as module

    module.err, saved = console, module.err
    try:
        progress({"status": "Pulling from library/python", "id": "3.12"})
        progress(
            {"status": "Downloading", "id": "a1", "progressDetail": {"current": 5, "total": 10}}
        )
        progress(
            {"status": "Downloading", "id": "b2", "progressDetail": {"current": 1, "total": 30}}
        )
        assert progress._progress is not None
        task = progress._progress.tasks[0]
        assert (task.completed, task.total) == (6, 40)
        progress({"status": "Status: Downloaded newer image for python:3.12-bookworm"})
        assert progress._progress is None
    finally:
        module.err = saved


def terminal() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=True, width=60, height=20, color_system=None), buffer


def region_text(observer: HumanObserver) -> str:
    """What the live region shows right now."""
    from tether.cli.live_view import _Region

    assert observer.view is not None and observer.view._state is not None
    console, _ = terminal()
    with console.capture() as capture:
        console.print(_Region(observer.view._state, console))
    return capture.get()


def test_a_running_tool_shows_a_spinner_its_clock_and_its_last_lines() -> None:
    console, buffer = terminal()
    observer = HumanObserver(console)
    try:
        observer.event(ev.ModelRequestStart(model="m"))
        assert "waiting for the model" in region_text(observer)
        observer.event(ev.AgentToolUse(tool_use_id="t1", name="bash", input={"command": "make"}))
        observer.event(ev.ModelRequestEnd(model="m", turn=1))
        shown = region_text(observer)
        assert "bash running · " in shown and " ms" in shown
        observer.output("".join(f"step {i}\n" for i in range(1, 9)))
        shown = region_text(observer)
        assert "step 8" in shown and "step 4" in shown and "step 3" not in shown  # the last 5
        observer.event(ev.AgentToolResult(tool_use_id="t1", content="done\n[exit status 2]",
                                          is_error=True, duration_ms=1500))  # fmt: skip
        assert observer.view is not None and observer.view._state is None  # spinner gone
    finally:
        observer.close()
    assert "  ⎿ ✗ exit 2 · 1.5 s · done" in buffer.getvalue()


def test_streamed_text_settles_as_markdown_on_a_terminal() -> None:
    console, buffer = terminal()
    observer = HumanObserver(console)
    try:
        observer.event(ev.ModelRequestStart(model="m"))
        observer.text("## Title\n\nsome **bold**")
        assert "some" in region_text(observer)  # the last word waits (a key may go on)
        observer.text(" text")
        assert "some bold" in region_text(observer)
        observer.event(ev.AgentMessage(content="## Title\n\nsome **bold** text"))
        observer.event(ev.ModelRequestEnd(model="m", turn=1))
    finally:
        observer.close()
    out = buffer.getvalue()
    assert "some bold text" in out and "**" not in out and "##" not in out


def test_quiet_keeps_only_the_last_answer(capsys) -> None:  # type: ignore[no-untyped-def]
    from tether.cli.live import AnswerObserver

    observer = AnswerObserver()
    for content in ("thinking aloud", "The answer."):
        observer.event(ev.ModelRequestStart(model="m"))
        observer.event(ev.AgentMessage(content=content))
        observer.event(ev.ModelRequestEnd(model="m", turn=1))
    observer.close()
    assert capsys.readouterr().out == "The answer.\n"


def test_workspace_and_mcp_lines_use_the_one_number_format() -> None:
    from tether.cli.render import render_event

    def shown(event: ev.Event) -> str:
        rendered = render_event(event)
        return rendered.plain if rendered is not None else ""  # type: ignore[union-attr]

    one = ev.WorkspacePrepared(source="git", files=1, bytes=2048, duration_ms=412)
    assert shown(one) == "● workspace copied 1 file (2 KiB) (412 ms)"
    many = ev.WorkspacePrepared(source="git", files=10_000, bytes=53_040_478, duration_ms=2_182)
    assert shown(many).startswith("● workspace copied 10k files (") and "(2.2 s)" in shown(many)
    listed = ev.MCPToolsListed(mcp_server_name="time", tools=({"name": "now"},), duration_ms=1_100)
    assert shown(listed) == "● MCP server time: 1 tool (1.1 s)"
    checkpoint = ev.WorkspaceCheckpoint(tool_use_id="t", checkpoint="fc0b7a10c6aa", changed=1)
    assert shown(checkpoint) == "  ✓ checkpoint fc0b7a10c6: 1 file changed"
