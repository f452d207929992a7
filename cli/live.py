"""Running a harness in the foreground: build its parts, watch it, report the outcome.

Shared by `run` and `resume`. In human mode the model's text streams to the
terminal and each event is rendered as it is recorded; with `--json` stdout
carries the recorded events as JSON Lines and ends with one `result` line.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict
from typing import TYPE_CHECKING

from rich.console import Console

from tether.core import errors
from tether.core import events as ev

from . import console

if TYPE_CHECKING:
    from tether.core.harness import Limits, Observer, Outcome
    from tether.core.store import SessionLog


def require_api_key() -> str:
    """The API key from the environment; checked before anything is created."""
    key = os.environ.get("ANTHROPIC_API_KEY", "").strip()
    if not key:
        raise errors.AuthError(
            "ANTHROPIC_API_KEY is not set: export ANTHROPIC_API_KEY=... and run again"
        )
    return key


class HumanObserver:
    """Streams text and renders events for a person."""

    def __init__(self, screen: Console) -> None:
        self.screen = screen
        self._streaming = False

    def text(self, delta: str) -> None:
        self._streaming = True
        self.screen.print(delta, end="", markup=False, highlight=False, soft_wrap=True)

    def event(self, event: ev.Event) -> None:
        if isinstance(event, ev.AgentMessage) and self._streaming:
            self._streaming = False
            self.screen.print()
            return  # already on screen, streamed
        from .render import render_event

        renderable = render_event(event)
        if renderable is not None:
            self.screen.print(renderable)


class JsonObserver:
    """Writes every recorded event to stdout as one JSON line, as it is appended."""

    def text(self, delta: str) -> None:
        pass

    def event(self, event: ev.Event) -> None:
        sys.stdout.write(event.to_json() + "\n")
        sys.stdout.flush()


class QuietObserver:
    def text(self, delta: str) -> None:
        pass

    def event(self, event: ev.Event) -> None:
        pass


class Tee:
    """Tells several observers the same thing."""

    def __init__(self, *observers: Observer) -> None:
        self.observers = observers

    def text(self, delta: str) -> None:
        for observer in self.observers:
            observer.text(delta)

    def event(self, event: ev.Event) -> None:
        for observer in self.observers:
            observer.event(event)


def observer_for(json_mode: bool, quiet: bool) -> Observer:
    """JSON on stdout with the human view on stderr, or the human view on stdout."""
    if json_mode:
        return JsonObserver() if quiet else Tee(JsonObserver(), HumanObserver(console.err))
    return QuietObserver() if quiet else HumanObserver(console.out)


def wake(
    session: SessionLog,
    api_key: str,
    base_url: str | None,
    limits: Limits,
    json_mode: bool,
    quiet: bool,
) -> int:
    """Run the harness on `session` in the foreground; returns the exit code."""
    from tether.core.harness import Harness
    from tether.core.model import AnthropicModel
    from tether.core.sandbox.docker import DockerSandbox

    started = time.monotonic()
    model = AnthropicModel(api_key=api_key, base_url=base_url)
    progress = None if (json_mode or quiet) else console.pull_progress()
    sandbox = DockerSandbox(on_pull=progress)
    harness = Harness(session, model, sandbox, observer_for(json_mode, quiet), limits)
    outcome = harness.wake()
    report(session.id, outcome, time.monotonic() - started, json_mode, quiet)
    return int(outcome.exit_code)


def report(session_id: str, outcome: Outcome, seconds: float, json_mode: bool, quiet: bool) -> None:
    """The closing line: a `result` JSON object, or a short summary for a person."""
    if json_mode:
        result = {
            "type": "result",
            "session_id": session_id,
            "stop_reason": outcome.stop_reason,
            "turns": outcome.turns,
            "usage": asdict(outcome.usage),
            "duration_ms": int(seconds * 1000),
            "exit_code": int(outcome.exit_code),
        }
        if outcome.error is not None:
            result["error"] = str(outcome.error)
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
        return
    if outcome.error is not None:
        console.fail(str(outcome.error))
    if not quiet:
        usage = outcome.usage
        tokens_in = usage.total - usage.output_tokens
        console.err.print(
            f"[dim]{outcome.stop_reason} · {outcome.turns} turns · {tokens_in} in / "
            f"{usage.output_tokens} out tokens · {seconds:.1f} s · tether resume {session_id}[/]"
        )
