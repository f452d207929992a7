"""Read-side commands: ls, show, tail, export. None of them ever writes to a log."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Annotated, Any

import typer

from tether.core import errors
from tether.core.catalog import Prices
from tether.core.events import Event
from tether.core.session import EventLog, iter_events
from tether.core.session import status as session_status
from tether.core.store import SessionStore
from tether.core.summary import check_log, list_sessions, reading

from . import console
from .ids import IdArgument, LastOption, resolve_session

log = logging.getLogger(__name__)

DEFAULT_TAIL = 10
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON Lines for programs.")]


def ls(
    json_out: JsonOption = False,
    tree: Annotated[
        bool, typer.Option("--tree", help="Each fork under the session it was forked from.")
    ] = False,
) -> None:
    """List sessions, newest first: id, status, created, last activity, turns, prompt.
    A fork names its parent and the event it was taken at.

    Example:  tether ls --json | jq -r 'select(.status == "crashed") | .id'
    """
    summaries = list_sessions(SessionStore())
    if json_out:
        _write_json(s.to_dict() for s in summaries)
    elif summaries:
        from .views import print_session_table

        print_session_table(console.out, summaries, tree=tree)
    else:
        console.err.print('No sessions yet. Start one with: tether run "..."', markup=False)


def show(
    session_id: IdArgument = None,
    last: LastOption = False,
    json_out: JsonOption = False,
    checkpoints: Annotated[
        bool,
        typer.Option(
            "--checkpoints", help="List the workspace's checkpoints: seq, time, call, files."
        ),
    ] = False,
    events: Annotated[
        bool, typer.Option("--events", help="Also count the session's events by type.")
    ] = False,
) -> None:
    """Show a session: settings, status, usage, cost, the last error, tool calls.

    Example:  tether show 01jd3k --json | jq .usage      or      tether show --last --checkpoints
    """
    from tether.core.stats import session_stats

    session = resolve_session(session_id, last)
    check_log(session)
    if checkpoints:
        _show_checkpoints(session, json_out)
        return
    stats = session_stats(session, _prices())
    if json_out:
        _write_json([stats.to_dict()])
    else:
        from .show_view import print_stats

        print_stats(console.out, stats, events)


def _show_checkpoints(session: EventLog, json_out: bool) -> None:
    from tether.core.changes import checkpoint_list

    check_log(session)
    with reading(session):
        found = checkpoint_list(session.read())
    if json_out:
        _write_json(c.to_dict() for c in found)
    elif found:
        from .views import checkpoints_view

        console.out.print(checkpoints_view(found))
    else:
        console.err.print(f"session {session.id} has no checkpoints yet", markup=False)


def tail(
    session_id: IdArgument = None,
    last: LastOption = False,
    lines: Annotated[
        int | None,
        typer.Option(
            "-n",
            "--lines",
            min=0,
            help=f"Show the last N events (default {DEFAULT_TAIL}).",
            show_default=False,
        ),
    ] = None,
    follow: Annotated[
        bool,
        typer.Option("-f", "--follow", help="Print new events until the session stops."),
    ] = False,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="With -f: wait for a session that is not running to run."),
    ] = False,
    since: Annotated[
        int | None, typer.Option("--since", min=0, metavar="SEQ", help="Start at event number SEQ.")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the events as JSON Lines, for jq (all of them).")
    ] = False,
    hide_thinking: Annotated[
        bool, typer.Option("--hide-thinking", help="Leave the model's thinking out.")
    ] = False,
) -> None:
    """Print a session's events, and with -f follow it until it stops running.

    `tether logs` is the same command. Ctrl-C stops following, never the run.

    Example:  tether tail --last -f      or      tether tail 01jd3k --json | jq .type
    """
    if lines is not None and since is not None:
        raise errors.UsageError("give -n or --since, not both")
    if json_out and lines is None and since is None:
        since = 0  # a program wants the whole log
    session = resolve_session(session_id, last)
    check_log(session)
    emit: Callable[[Event], None] = _print_json if json_out else _print_event
    if hide_thinking:
        emit = _without_thinking(emit)
    with reading(session):
        running = session.lock.held()  # before the backlog: what is appended meanwhile follows
        start = _print_backlog(session, lines, since, emit)
        if follow and _may_follow(session, wait, running):
            stopped = _Stopped(session, running)
            for event in session.follow(start, until=stopped):
                stopped.saw(event)
                emit(event)
                sys.stdout.flush()


class ExportFormat(StrEnum):
    managed_agents = "managed-agents"


def export(
    session_id: IdArgument = None,
    last: LastOption = False,
    format: Annotated[
        ExportFormat,
        typer.Option("--format", help="managed-agents: the body of Managed Agents' events.list."),
    ] = ExportFormat.managed_agents,
) -> None:
    """Write a session's events for other tools, as one JSON document on stdout.

    managed-agents: {"data": [...], "next_page": null}, the events Managed Agents
    defines, with its fields only, as its events.list returns them.

    Example:  tether export 01jd3k --format managed-agents > events.json
    """
    session = resolve_session(session_id, last)
    check_log(session)
    from tether.core.export import managed_agents_page

    with reading(session):
        page = managed_agents_page(iter_events(session))
    sys.stdout.write(json.dumps(page, ensure_ascii=False) + "\n")


def _may_follow(session: EventLog, wait: bool, running: bool) -> bool:
    """Whether to follow: yes if it was running, or with --wait; else say why not."""
    if wait or running:
        if not running:
            console.err.print(f"session {session.id} is not running; waiting for it to run…")
        return True
    status = session_status(session)
    console.err.print(
        f"session {session.id} is {status}, not running: nothing to follow "
        "(--wait waits for it to run again)",
        markup=False,
        highlight=False,
    )
    return False


class _Stopped:
    """Whether following is over: once the session has run (it was running when tail
    began, its lock was seen held, or a run was recorded since) and no longer runs. The
    lock is only looked at when there is nothing new to read, so a run that starts and
    ends between two looks is known by its status_running event."""

    def __init__(self, session: EventLog, running: bool) -> None:
        self.session = session
        self.ran = running

    def saw(self, event: Event) -> None:
        self.ran = self.ran or event.TYPE == "session.status_running"

    def __call__(self) -> bool:
        locked = self.session.lock.held()
        self.ran = self.ran or locked
        return self.ran and not locked


def _without_thinking(emit: Callable[[Event], None]) -> Callable[[Event], None]:
    from tether.core.events import AgentThinking

    return lambda event: None if isinstance(event, AgentThinking) else emit(event)


def _print_backlog(
    session: EventLog, lines: int | None, since: int | None, emit: Callable[[Event], None]
) -> int:
    """Print the events asked for; returns the seq to follow from."""
    if since is not None:
        backlog = session.read(since)
    else:
        count = DEFAULT_TAIL if lines is None else lines
        backlog = session.read(-count) if count else []
    for event in backlog:
        emit(event)
    if backlog:
        return backlog[-1].seq + 1
    if since is not None:
        return since
    newest = session.read(-1)
    return newest[-1].seq + 1 if newest else 0


def _print_event(event: Event) -> None:
    from .render import render_event

    renderable = render_event(event)
    if renderable is not None:
        console.out.print(renderable)


def _print_json(event: Event) -> None:
    sys.stdout.write(event.to_json() + "\n")


def _write_json(objects: Any) -> None:
    sys.stdout.write("".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objects))
    sys.stdout.flush()


COMMANDS: dict[str, Callable[..., None]] = {
    "ls": ls, "show": show, "tail": tail, "export": export,
}  # fmt: skip


def _prices() -> Mapping[str, Prices]:
    """The config's prices for the cost estimate. A broken config file must not stop
    anyone reading a session (run and config report it): the built-in table then."""
    from tether.core import config

    try:
        return config.resolve().settings.prices
    except errors.ConfigError as exc:
        log.warning("the config's prices are not used: %s", exc)
        return {}
