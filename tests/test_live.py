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
