"""Running a harness for `run` and `resume`: in the foreground, watched, or detached.

In the foreground the model's text streams to the terminal and each event is
rendered as it is recorded; with `--json` stdout carries the recorded events
as JSON Lines and ends with one `result` line; with `--detach` a background
process runs the same harness on the same log and this one returns.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tether.core import __version__, config, errors
from tether.core import events as ev
from tether.core.config import Settings
from tether.core.store import SessionLog, SessionStore, check_session_id, new_session_id

from . import console, detach, tools
from .results import report

if TYPE_CHECKING:
    from tether.core.workspace import Source


@dataclass(frozen=True)
class Mode:
    """How a run is shown: JSON Lines, the final answer only (quiet), or detached."""

    json: bool = False
    quiet: bool = False
    detach: bool = False
    hide_thinking: bool = False


def require_api_key() -> str:
    """The API key from the environment; checked before anything is created."""
    key = os.environ.get("ANTHROPIC_API_KEY", "").strip()
    if not key:
        raise errors.AuthError(
            "ANTHROPIC_API_KEY is not set: export ANTHROPIC_API_KEY=... and run again"
        )
    return key


@dataclass(frozen=True)
class Given:
    """What this command says that the log does not keep: the endpoint (which, like the
    key, always comes from now, never from a log), the MCP timeout, and a note to show."""

    base_url: str | None = None
    mcp_timeout_s: float | None = None
    note: str | None = None


def start(text: str, settings: Settings, source: Source, session_id: str | None, mode: Mode) -> int:
    """Create a session for `text` (its workspace from `source`) and run it; returns the
    exit code."""
    api_key = require_api_key()
    session_id = new_session_id() if session_id is None else check_session_id(session_id)
    servers = tools.load_servers(settings.mcp_config)
    created = _created(session_id, settings, source, tools.created_fields(settings, servers))
    note = source.note if source.kind == "empty" else None
    given = Given(settings.base_url, settings.mcp_timeout_s, note)

    def prepare() -> SessionLog:
        session = SessionStore().create(created, session_id)
        session.append(ev.UserMessage(content=text))
        return session

    def go(session: SessionLog) -> int:
        shown = session.read()
        first: ev.SessionCreated = shown[0]  # type: ignore[assignment]
        return _go(session, first, shown, api_key, mode, None, given)

    return _until_awake(prepare, go, mode)


def resume(session: SessionLog, text: str | None, wanted: Mapping[str, Any], mode: Mode) -> int:
    """Wake a harness on `session` with the settings `wanted` changed, `text` added first."""
    from tether.core.resume import prepare as record_changes

    api_key = require_api_key()
    found: list[tuple[ev.SessionCreated, list[ev.Event]]] = []

    def prepare() -> SessionLog:
        session.acquire()
        try:
            found.append(record_changes(session, text, wanted))
        except BaseException:
            session.close()
            raise
        return session

    def go(session: SessionLog) -> int:
        settings, added = found[0]
        shown = [*session.read(0, 1), *added]
        return _go(session, settings, shown, api_key, mode, text, Given(wanted.get("base_url")))

    return _until_awake(prepare, go, mode)


def wake_detached(session: SessionLog, read_prompt: Callable[[], str | None]) -> int:
    """The background harness `--detach` starts: it takes the lock first (the parent
    returns once it holds it), then reads its prompt and runs, signals guarded as in the
    foreground so that `tether kill` at once is recorded too."""
    api_key = require_api_key()
    mode = Mode(quiet=True)

    def prepare() -> SessionLog:
        session.acquire()
        return session

    def go(session: SessionLog) -> int:
        prompt = read_prompt()
        settings = ev.effective_settings(session.read())
        if settings is None:
            raise errors.LogCorrupt(f"session {session.id} does not start with session.created")
        return wake(session, settings, api_key, mode, prompt)

    return _until_awake(prepare, go, mode)


def _until_awake(
    prepare: Callable[[], SessionLog], run: Callable[[SessionLog], int], mode: Mode
) -> int:
    """`prepare` the session (its writes shielded), then `run` it, with Ctrl-C, SIGTERM
    and SIGHUP taken from the start: one that comes before the harness has woken (the
    SDKs take a second to load) is recorded as the harness would record it, so that
    `tether kill` at any moment stops the run, leaves a resumable log and a result."""
    from tether.core.interrupts import InterruptGuard

    from .live import observer_for  # before any signal: never imported half-way after one

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

            outcome = stop_before_wake(session, exc, observer_for(mode.json, mode.quiet))
    report(session.id, outcome, time.monotonic() - started, mode.json, mode.quiet)
    return int(outcome.exit_code)


def _go(
    session: SessionLog, settings: ev.SessionCreated, shown: list[ev.Event], api_key: str,
    mode: Mode, prompt: str | None, given: Given,
) -> int:  # fmt: skip
    _announce(session, settings, shown, mode)
    if given.note and not (mode.quiet or mode.json):  # after the header: the session first
        console.err.print(f"note: {given.note}", style="dim", markup=False, highlight=False)
    if mode.detach:
        session.close()  # the background harness takes the lock
        return detach.spawn(session, prompt, given.mcp_timeout_s, given.base_url)
    return wake(session, settings, api_key, mode, prompt, given)


def wanted_settings(flags: Mapping[str, Any]) -> dict[str, Any]:
    """The settings `resume` was asked to change: its flags, checked, and TETHER_IMAGE."""
    wanted = {name: config.check(name, value) for name, value in flags.items() if value is not None}
    image_variable = config.env_variable("image")
    if "image" not in wanted and image_variable:
        wanted["image"] = config.check("image", os.environ[image_variable], source="env")
    return wanted


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
        base_url=without_credentials(settings.base_url), tether_version=__version__,
    )  # fmt: skip


def without_credentials(url: str | None) -> str | None:
    """The endpoint as the log may keep it: no user, password, query or fragment."""
    if not url:
        return url
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _announce(
    log: SessionLog, settings: ev.SessionCreated, shown: list[ev.Event], mode: Mode
) -> None:
    """The session id first: in JSON, the events; for a person, the header line."""
    console.keep_going(log.id)  # from here on, the run matters more than its output
    if mode.json:
        sys.stdout.write("".join(event.to_json() + "\n" for event in shown))
        sys.stdout.flush()
    elif mode.detach:
        console.out.print(log.id, markup=False)
    elif not mode.quiet:
        from .lines import header

        console.out.print(header(log.id, settings))


def wake(
    session: SessionLog, settings: ev.SessionCreated, api_key: str, mode: Mode,
    prompt: str | None = None, given: Given | None = None,
) -> int:  # fmt: skip
    """Run the harness on `session` (`prompt` first, if given); returns the exit code.
    The endpoint and the MCP timeout are the command's (`given`), else the config's."""
    from tether.core.checkpoints import SessionWorkspace
    from tether.core.harness import Harness, Limits
    from tether.core.model import AnthropicModel
    from tether.core.sandbox.docker import DockerSandbox

    from .live import observer_for

    started = time.monotonic()
    current = config.resolve().settings
    given = given or Given()
    base_url = given.base_url or current.base_url  # never the log's: see Given
    model = AnthropicModel(api_key=api_key, base_url=base_url)
    progress = None if (mode.json or mode.quiet) else console.pull_progress()
    observer = observer_for(mode.json, mode.quiet, mode.hide_thinking)
    servers = tools.load_servers(settings.mcp_config)  # the session's files, read again
    timeout_s = current.mcp_timeout_s if given.mcp_timeout_s is None else given.mcp_timeout_s
    mcp = tools.clients(servers, session.dir, timeout_s)
    if prompt is None and session.read(-1)[0].seq <= 1:  # only its first prompt yet
        mcp.prefetch(list(servers))  # a new session lists every server: start them now
    limits = Limits(
        max_turns=settings.max_turns,
        token_budget=settings.token_budget,
        budget_usd=settings.budget_usd,
        timeout_s=settings.timeout_s,
    )
    try:
        sandbox = DockerSandbox(on_pull=progress)
        asker = tools.asker_for(mode.json)
        harness = Harness(
            session, model, sandbox, observer, limits, mcp, asker, SessionWorkspace,
            prices=current.prices,
        )  # fmt: skip
        outcome = harness.wake(prompt)
    finally:
        observer.close()
    report(session.id, outcome, time.monotonic() - started, mode.json, mode.quiet)
    return int(outcome.exit_code)
