"""Watching a run: what the harness tells its observer, shown as it happens.

On a terminal the model's text streams into a live region and settles as
Markdown once recorded, and a running tool shows a spinner, its elapsed time
and the last lines of its output; in a pipe the text streams as written and
nothing is redrawn. `--json` writes each recorded event as one JSON line;
`--quiet` keeps only the model's final answer, for stdout.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from rich.console import Console

from tether.core import events as ev
from tether.core.redact import StreamRedactor

from . import console
from .live_view import LiveView
from .text import clean

if TYPE_CHECKING:
    from tether.core.harness import Observer

# Events a person watching a run does not need a line for: the closing line and the
# spinners say it (`tail` still shows them all).
_QUIET_TYPES = (
    ev.StatusRunning, ev.StatusIdle, ev.ModelRequestStart, ev.ModelRequestEnd, ev.UserMessage,
)  # fmt: skip


class HumanObserver:
    """Streams text and renders events for a person; live spinners on a terminal."""

    def __init__(self, screen: Console, hide_thinking: bool = False) -> None:
        self.screen = screen
        self.hide_thinking = hide_thinking
        self.view = LiveView(screen) if screen.is_terminal else None
        self._streamed = False  # this response's text is already on screen (in a pipe)
        self._thought = False  # ...and its thinking
        self._newline_due = False  # streamed text does not end its line
        self._words = StreamRedactor()  # keys scrubbed from text as it streams

    def text(self, delta: str) -> None:
        if self.view is not None:
            self.view.stream(self._words.feed(delta))
            return
        self._streamed = self._newline_due = True
        self._show(self._words.feed(delta))

    def thinking(self, delta: str) -> None:
        """Thinking streams dimmed (in a pipe; on a terminal the spinner says it), and is
        printed once recorded; an empty delta starts a thinking block."""
        if self.hide_thinking or self.view is not None:
            return
        self._show(self._words.flush())
        shown = clean(delta) if delta else ("\n∴ " if self._newline_due else "∴ ")
        self.screen.print(shown, end="", style="dim italic", markup=False, highlight=False)
        self._thought = self._newline_due = True

    def output(self, chunk: str) -> None:
        if self.view is not None:
            self.view.output(chunk)

    def event(self, event: ev.Event) -> None:
        self._show(self._words.flush())
        if self.view is not None:
            self.view.stop()
        if self._newline_due:
            self.screen.file.write("\n")
            self._newline_due = False
        if isinstance(event, ev.ModelRequestEnd):
            self._streamed = self._thought = False
        if self._shown(event):
            from .render import render_event

            renderable = render_event(event)
            if renderable is not None:
                self.screen.print(renderable)
        if self.view is not None:
            self.view.follow(event)

    def _shown(self, event: ev.Event) -> bool:
        if isinstance(event, _QUIET_TYPES):
            return False
        if isinstance(event, ev.AgentMessage):
            return not self._streamed
        if isinstance(event, ev.AgentThinking):
            return not (self.hide_thinking or (self._thought and not event.data))
        if isinstance(event, ev.SandboxReleased):
            return event.reason not in ("run ended", "error")
        if isinstance(event, ev.SessionError):
            return event.retry_status == "retrying"  # the closing line says the rest
        return True

    def _show(self, streamed: str) -> None:
        """Streamed model text (in a pipe), made as harmless as `tail` makes it."""
        if streamed and self.view is None:
            self.screen.file.write(clean(streamed))
            self.screen.file.flush()

    def close(self) -> None:
        if self.view is not None:
            self.view.stop()


class Unseen:
    """An observer that shows nothing: a base for those that only want events."""

    def text(self, delta: str) -> None:
        pass

    def thinking(self, delta: str) -> None:
        pass

    def output(self, chunk: str) -> None:
        pass

    def event(self, event: ev.Event) -> None:
        pass


class JsonObserver(Unseen):
    """Writes every recorded event to stdout as one JSON line, as it is appended."""

    def event(self, event: ev.Event) -> None:
        sys.stdout.write(event.to_json() + "\n")
        sys.stdout.flush()

    def close(self) -> None:
        pass


class AnswerObserver(Unseen):
    """`--quiet`: the text of the run's last answer, on stdout when the run ends."""

    def __init__(self) -> None:
        self.answer: list[str] = []

    def event(self, event: ev.Event) -> None:
        if isinstance(event, ev.ModelRequestStart):
            self.answer = []
        elif isinstance(event, ev.AgentMessage):
            self.answer.append(event.content)

    def close(self) -> None:
        text = "\n\n".join(part.strip("\n") for part in self.answer if part.strip())
        if text:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()


class Tee:
    """Tells several observers the same thing."""

    def __init__(self, *observers: Observer) -> None:
        self.observers = observers

    def text(self, delta: str) -> None:
        for observer in self.observers:
            observer.text(delta)

    def thinking(self, delta: str) -> None:
        for observer in self.observers:
            observer.thinking(delta)

    def output(self, chunk: str) -> None:
        for observer in self.observers:
            observer.output(chunk)

    def event(self, event: ev.Event) -> None:
        for observer in self.observers:
            observer.event(event)

    def close(self) -> None:
        for observer in self.observers:
            observer.close()


def observer_for(json_mode: bool, quiet: bool, hide_thinking: bool = False) -> Observer:
    """JSON on stdout (with the human view on stderr), the final answer, or the human view."""
    if json_mode:
        human = HumanObserver(console.err, hide_thinking)
        return JsonObserver() if quiet else Tee(JsonObserver(), human)
    return AnswerObserver() if quiet else HumanObserver(console.out, hide_thinking)
