"""Removing sessions: `rm` names them, `prune` finds the finished ones."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tether.core import errors
from tether.core.store import SessionLog, SessionStore

from . import console
from .completion import complete_session_id
from .ids import LastOption, resolve_session


def rm(
    session_ids: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="ID...",
            help="Session ids, or unique prefixes.",
            show_default=False,
            autocompletion=complete_session_id,
        ),
    ] = None,
    last: LastOption = False,
    force: Annotated[
        bool, typer.Option("--force", help="Stop its harness first if one is running it.")
    ] = False,
) -> None:
    """Delete sessions: their logs, their files, and their Docker volumes and containers.

    Every id is checked before anything is removed. Example:  tether rm 01jd3k 01jd9x
    """
    from tether.core.prune import remove_session

    sessions = _resolve_all(session_ids or [], last)
    for session in sessions:
        remove_session(session, force=force)
        console.out.print(f"removed {session.id}", markup=False)


def _resolve_all(session_ids: list[str], last: bool) -> list[SessionLog]:
    if not session_ids:
        return [resolve_session(None, last, need_log=False)]
    if last:
        raise errors.UsageError("give session IDs or --last, not both")
    store = SessionStore()
    found = {
        s.id: s for s in (resolve_session(i, False, store, need_log=False) for i in session_ids)
    }
    return list(found.values())


def prune(
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            metavar="AGE",
            help="Only sessions idle for longer than AGE (7d, 12h, 30m).",
            show_default="any",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would go; remove nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask on a terminal.")] = False,
) -> None:
    """Remove finished sessions, and the volumes and containers no session owns.

    Finished means idle or terminated; running and crashed sessions stay.
    Example:  tether prune --older-than 7d --dry-run
    """
    from tether.core import prune as pruning

    age = pruning.parse_age(older_than) if older_than is not None else None
    store = SessionStore()
    chosen = pruning.plan(store, age)
    from .prune_view import confirm, describe

    describe(console.out, chosen, dry_run)
    if dry_run or not (chosen.sessions or chosen.volumes or chosen.containers):
        return
    if not yes and sys.stdin.isatty() and not confirm():
        raise typer.Exit(1)
    pruning.execute(store, chosen)


COMMANDS = {"rm": rm, "prune": prune}
