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
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from rich.console import Console

from tether.core import __version__, config, errors
from tether.core import events as ev
from tether.core.catalog import Prices
from tether.core.config import Settings
from tether.core.exit_codes import for_error
from tether.core.redact import StreamRedactor
from tether.core.store import SessionLog, SessionStore, check_session_id, new_session_id
from tether.core.summary import check_log

from . import console, tools

if TYPE_CHECKING:
    from tether.core.harness import Observer, Outcome
    from tether.core.mcp_client import MCPClients
    from tether.core.workspace import Source


def require_api_key() -> str:
    """The API key from the environment; checked before anything is created."""
    key = os.environ.get("ANTHROPIC_API_KEY", "").strip()
    if not key:
        raise errors.AuthError(
            "ANTHROPIC_API_KEY is not set: export ANTHROPIC_API_KEY=... and run again"
        )
    return key


class HumanObserver:
    """Streams text and renders events for a person; a spinner while the model thinks."""

    def __init__(self, screen: Console, hide_thinking: bool = False) -> None:
        self.screen = screen
        self.hide_thinking = hide_thinking
        self._streamed = False  # this response's text is already on screen
        self._thought = False  # ...and its thinking
        self._thinking_now = False  # the last thing streamed was thinking
        self._newline_due = False  # streamed text does not end its line
        self._spinner: Any = None
        self._words = StreamRedactor()

    def text(self, delta: str) -> None:
        self._stop_spinner()
        if self._thinking_now:
            self.screen.print()
            self._thinking_now = False
        self._streamed = self._newline_due = True
        self._show(self._words.feed(delta))

    def thinking(self, delta: str) -> None:
        """Thinking streams dimmed; an empty delta starts a thinking block."""
        if self.hide_thinking:
            return
        from .render import clean

        self._stop_spinner()
        self._show(self._words.flush())
        if not delta and self._newline_due:
            self.screen.print()
        shown = clean(delta) if delta else "∴ "
        self.screen.print(shown, end="", style="dim italic", markup=False, highlight=False,
                          soft_wrap=True)  # fmt: skip
        self._thought = self._thinking_now = self._newline_due = True

    def event(self, event: ev.Event) -> None:
        self._stop_spinner()
        self._show(self._words.flush())
        if self._newline_due:
            self.screen.print()
            self._newline_due = False
        if isinstance(event, ev.AgentMessage) and self._streamed:
            return  # already on screen, streamed
        if isinstance(event, ev.AgentThinking) and (
            self.hide_thinking or (self._thought and not event.data)
        ):
            return  # hidden, or already on screen, streamed
        if isinstance(event, ev.ModelRequestEnd):
            self._streamed = self._thought = self._thinking_now = False
        from .render import render_event

        renderable = render_event(event)
        if renderable is not None:
            self.screen.print(renderable)
        if isinstance(event, ev.ModelRequestStart) and self.screen.is_terminal:
            self._spinner = self.screen.status("waiting for the model…", spinner="dots")
            self._spinner.start()

    def _show(self, streamed: str) -> None:
        """Streamed model text, made as harmless as `tail` makes it (see render.clean)."""
        if streamed:
            from .render import clean

            self.screen.print(
                clean(streamed), end="", markup=False, highlight=False, soft_wrap=True
            )

    def _stop_spinner(self) -> None:
        if self._spinner is not None:
            self._spinner.stop()
            self._spinner = None


class JsonObserver:
    """Writes every recorded event to stdout as one JSON line, as it is appended."""

    def text(self, delta: str) -> None:
        pass

    def thinking(self, delta: str) -> None:
        pass

    def event(self, event: ev.Event) -> None:
        sys.stdout.write(event.to_json() + "\n")
        sys.stdout.flush()


class QuietObserver:
    def text(self, delta: str) -> None:
        pass

    def thinking(self, delta: str) -> None:
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

    def thinking(self, delta: str) -> None:
        for observer in self.observers:
            observer.thinking(delta)

    def event(self, event: ev.Event) -> None:
        for observer in self.observers:
            observer.event(event)


def observer_for(json_mode: bool, quiet: bool, hide_thinking: bool = False) -> Observer:
    """JSON on stdout with the human view on stderr, or the human view on stdout."""
    if json_mode:
        human = HumanObserver(console.err, hide_thinking)
        return JsonObserver() if quiet else Tee(JsonObserver(), human)
    return QuietObserver() if quiet else HumanObserver(console.out, hide_thinking)


def start(
    text: str, settings: Settings, source: Source, session_id: str | None, *, json_mode: bool,
    quiet: bool, hide_thinking: bool = False,
) -> int:  # fmt: skip
    """Create a session for `text` and run it; returns the exit code."""
    api_key = require_api_key()
    session_id = new_session_id() if session_id is None else check_session_id(session_id)
    servers = tools.load_servers(settings.mcp_config)
    created = _created(session_id, settings, source, tools.created_fields(settings, servers))

    def prepare() -> SessionLog:
        session = SessionStore().create(created, session_id)
        session.append(ev.UserMessage(content=text))
        return session

    def run(session: SessionLog) -> int:
        _announce(session, session.read(), json_mode, quiet)
        if source.kind == "empty" and source.note and not quiet:
            console.err.print(f"[dim]note: {source.note}[/]", highlight=False)
        limits = {
            "max_turns": settings.max_turns,
            "token_budget": settings.token_budget,
            "budget_usd": settings.budget_usd,
            "timeout_s": settings.timeout_s,
        }
        mcp = tools.clients(servers, session.dir, settings.mcp_timeout_s)
        mcp.prefetch(list(servers))  # a new session lists every server: start them while we load
        return wake(
            session, api_key, settings.base_url, limits, json_mode, quiet,
            hide_thinking=hide_thinking, mcp=mcp, prices=settings.prices,
        )  # fmt: skip

    return _until_awake(prepare, run, json_mode, quiet)


def resume(
    session: SessionLog, text: str | None, overrides: dict[str, Any], *, json_mode: bool,
    quiet: bool, hide_thinking: bool = False,
) -> int:  # fmt: skip
    """Wake a harness on `session`, adding `text` as a new prompt first if given."""
    given = {k: config.check(k, v) for k, v in overrides.items() if v is not None}
    api_key = require_api_key()
    found: list[ev.SessionCreated] = []

    def prepare() -> SessionLog:
        session.acquire()
        found.append(check_log(session))
        return session

    def run(session: SessionLog) -> int:
        created = found[0]
        # The prompt is the harness's to record: after the results of calls a crash left open.
        _announce(session, [created], json_mode, quiet)
        recorded = {
            "max_turns": created.max_turns,
            "token_budget": created.token_budget,
            "budget_usd": created.budget_usd,
            "timeout_s": created.timeout_s,
        }
        limits = {**recorded, **given}
        current = config.resolve().settings
        # The endpoint, like the key, comes from now (flag, environment, config file), never
        # from the log: a copied or stale log must not send the key anywhere else.
        base_url = limits.pop("base_url", None) or current.base_url
        servers = tools.load_servers(created.mcp_config)  # the session's files, read again
        mcp = tools.clients(servers, session.dir, current.mcp_timeout_s)
        return wake(
            session, api_key, base_url, limits, json_mode, quiet, prompt=text,
            hide_thinking=hide_thinking, mcp=mcp, prices=current.prices,
        )  # fmt: skip

    return _until_awake(prepare, run, json_mode, quiet)


def _until_awake(
    prepare: Callable[[], SessionLog], run: Callable[[SessionLog], int], json_mode: bool,
    quiet: bool,
) -> int:  # fmt: skip
    """`prepare` the session (its writes shielded), then `run` it, with Ctrl-C, SIGTERM
    and SIGHUP taken from the start: one that comes before the harness has woken (the
    SDKs take a second to load) is recorded as the harness would record it, so that
    `tether kill` at any moment stops the run, leaves a resumable log and a result."""
    from tether.core.interrupts import InterruptGuard

    started = time.monotonic()
    session: SessionLog | None = None
    with InterruptGuard() as guard:
        try:
            with guard.shielded():
                session = prepare()
            return run(session)
        except errors.Interrupted as exc:
            if session is None:
                raise
            from tether.core.harness import stop_before_wake

            outcome = stop_before_wake(session, exc, observer_for(json_mode, quiet))
    report(session.id, outcome, time.monotonic() - started, json_mode, quiet)
    return int(outcome.exit_code)


@contextmanager
def result_on_error(json_mode: bool) -> Iterator[None]:
    """With --json, an error before or around the run still ends stdout with a result line."""
    try:
        yield
    except (errors.TetherError, errors.Interrupted) as exc:
        if json_mode:
            write_error_result(int(for_error(exc)), str(exc))
        raise


def write_error_result(exit_code: int, message: str) -> None:
    """The `result` line of a run that failed before it could start."""
    _write_result({
        "type": "result", "session_id": None, "stop_reason": "error", "turns": 0,
        "usage": asdict(ev.Usage()), "duration_ms": 0, "exit_code": exit_code,
        "error": message,
    })  # fmt: skip


def _created(
    session_id: str, settings: Settings, source: Source, extra: dict[str, Any]
) -> ev.SessionCreated:
    from tether.core.sandbox.tools import TOOL_SPECS

    return ev.SessionCreated(
        **extra,
        session_id=session_id, model=settings.model, system=settings.system,
        tools=tuple(spec.name for spec in TOOL_SPECS), image=settings.image,
        workspace=source.path if source.kind == "bind" else None,
        workspace_source=source.kind,
        workspace_from=source.path if source.kind != "bind" else None,
        network=settings.network, max_turns=settings.max_turns,
        max_tokens=settings.max_tokens, thinking=settings.thinking, effort=settings.effort,
        context_window=settings.context_window or 0, compaction=settings.compaction,
        compact_threshold=settings.compact_threshold, budget_usd=settings.budget_usd,
        token_budget=settings.token_budget,
        timeout_s=settings.timeout_s, memory=settings.memory, cpus=settings.cpus,
        pids_limit=settings.pids_limit, max_output=settings.max_output,
        base_url=_without_credentials(settings.base_url), tether_version=__version__,
    )  # fmt: skip


def _without_credentials(url: str | None) -> str | None:
    """The endpoint as the log may keep it: no user, password, query or fragment."""
    if not url:
        return url
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _announce(log: SessionLog, shown: list[ev.Event], json_mode: bool, quiet: bool) -> None:
    """The session id first: as the session.created event in JSON, or one line for a person."""
    console.keep_going(log.id)  # from here on, the run matters more than its output
    if json_mode:
        sys.stdout.write("".join(event.to_json() + "\n" for event in shown))
        sys.stdout.flush()
    elif quiet:
        console.out.print(log.id)
    else:
        console.out.print(f"[bold]session {log.id}[/]")


def wake(
    session: SessionLog,
    api_key: str,
    base_url: str | None,
    limits: dict[str, Any],
    json_mode: bool,
    quiet: bool,
    prompt: str | None = None,
    hide_thinking: bool = False,
    mcp: MCPClients | None = None,
    prices: Mapping[str, Prices] | None = None,
) -> int:
    """Run the harness on `session` (after `prompt`, if given) in the foreground; returns
    the exit code."""
    from tether.core.checkpoints import SessionWorkspace
    from tether.core.harness import Harness, Limits
    from tether.core.model import AnthropicModel
    from tether.core.sandbox.docker import DockerSandbox

    started = time.monotonic()
    model = AnthropicModel(api_key=api_key, base_url=base_url)
    progress = None if (json_mode or quiet) else console.pull_progress()
    sandbox = DockerSandbox(on_pull=progress)
    observer = observer_for(json_mode, quiet, hide_thinking)
    asker = tools.asker_for(json_mode)
    harness = Harness(
        session,
        model,
        sandbox,
        observer,
        Limits(**limits),
        mcp,
        asker,
        SessionWorkspace,
        prices=prices,
    )
    outcome = harness.wake(prompt)
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
            **{k: v for k, v in outcome.cost.to_dict().items() if not k.endswith("tokens")},
        }
        if outcome.error is not None:
            result["error"] = str(outcome.error)
        elif outcome.notice:
            result["error"] = outcome.notice
        if outcome.pending:
            result["pending"] = tools.pending_json(outcome.pending)
        _write_result(result)
        return
    if outcome.pending:
        tools.show_pending(session_id, outcome.pending)
    if outcome.error is not None:
        console.fail(str(outcome.error))
    elif outcome.notice:
        console.fail(outcome.notice)
    if not quiet:
        console.err.print(closing_line(session_id, outcome, seconds), style="dim", markup=False,
                          highlight=False)  # fmt: skip


def closing_line(session_id: str, outcome: Outcome, seconds: float) -> str:
    """How a run ended, for a person: turns, tokens, cache, compactions, cost, time."""
    cost, usage = outcome.cost, outcome.usage
    parts = [
        outcome.stop_reason, f"{outcome.turns} turns",
        f"{cost.input_tokens:,} in / {usage.output_tokens:,} out tokens",
        f"{cost.cache_hit_ratio:.0%} cached",
        *([f"{cost.compactions} compacted"] if cost.compactions else []),
        *([f"${cost.usd:.4f}"] if cost.usd is not None else []),
        f"{seconds:.1f} s", f"tether resume {session_id}",
    ]  # fmt: skip
    return " · ".join(parts)


def _write_result(result: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(result, separators=(",", ":")) + "\n")
    sys.stdout.flush()
