"""The live region of a run on a terminal: redrawn in place, gone once the event it
waits for is recorded (the event then prints for good).

While the model answers it shows a spinner, then the answer as it streams (the
lines that fit); while a tool runs, a spinner with the tool, its elapsed time
and the last lines of its output as they arrive.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

from tether.core import events as ev

from . import fmt
from .text import ModelText, coloured

OUTPUT_LINES = 5
_KEEP_CHARS = 64 * 1024  # of a tool's output, only the end is ever shown live


class LiveView:
    """One live region at a time: `follow(event)` starts what the event leads to,
    `stop()` clears it before anything is printed for good."""

    def __init__(self, screen: Console) -> None:
        self.screen = screen
        self._live: Live | None = None
        self._state: _State | None = None
        self._calls: dict[str, _State] = {}  # recorded tool calls without a result, in order
        self._answering = False  # between a model request's start and its end

    def follow(self, event: ev.Event) -> None:
        """Start the spinner that `event` leaves due: the model's, or the next tool call's."""
        if isinstance(event, ev.ModelRequestStart):
            self._answering = True
            self._calls.clear()
            self._start(_State("waiting for the model"))
        elif isinstance(event, ev.ModelRequestEnd):
            self._answering = False
        elif isinstance(event, ev.AgentToolUse):
            self._calls[event.tool_use_id] = _State(f"{event.name} running", tool=True)
        elif isinstance(event, ev.AgentToolResult):
            self._calls.pop(event.tool_use_id, None)
        if self._calls and not self._answering:
            self._start(next(iter(self._calls.values())))  # its clock runs from its first show

    def stream(self, delta: str) -> None:
        if self._state is None:
            self._start(_State("waiting for the model"))
        assert self._state is not None
        self._state.text += delta

    def output(self, chunk: str) -> None:
        if self._state is not None and self._state.tool:
            self._state.output = (self._state.output + chunk)[-_KEEP_CHARS:]

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
        self._live = self._state = None

    def _start(self, state: _State) -> None:
        self.stop()
        self._state = state
        self._live = Live(
            _Region(state, self.screen),
            console=self.screen,
            transient=True,
            refresh_per_second=10,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.start()


class _State:
    """What the live region shows; the harness's thread writes it, the refresher reads."""

    def __init__(self, label: str, tool: bool = False) -> None:
        self.label = label
        self.tool = tool
        self.started = time.monotonic()
        self.text = ""
        self.output = ""
        self.spinner = Spinner("dots", style="cyan")


class _Region:
    """The live region's renderable, built anew at each refresh."""

    def __init__(self, state: _State, screen: Console) -> None:
        self.state = state
        self.screen = screen

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        state = self.state
        if state.text and not state.tool:
            room = max(3, self.screen.height - 2)
            yield _Tail(ModelText(state.text), room)
            return
        elapsed = fmt.seconds(time.monotonic() - state.started)
        state.spinner.update(text=Text(f"{state.label} · {elapsed}", style="dim"))
        parts: list[RenderableType] = [state.spinner]
        for line in state.output.rstrip("\n").split("\n")[-OUTPUT_LINES:] if state.output else []:
            shown = coloured(line[:400])
            shown.stylize("dim")
            parts.append(Text("    ").append_text(shown))
        yield Group(*parts)


class _Tail:
    """The last `count` lines of a renderable, so a long answer scrolls in its region."""

    def __init__(self, renderable: Any, count: int) -> None:
        self.renderable = renderable
        self.count = count

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.segment import Segment

        lines = console.render_lines(self.renderable, options, pad=False)
        for line in lines[-self.count :]:
            yield from line
            yield Segment.line()
