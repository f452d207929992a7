"""Naming a session on the command line: an id (any unique prefix) or `--last`.

Commands declare `session_id: IdArgument = None, last: LastOption = False` and
call `resolve_session(session_id, last)`, so every command that takes a
session reads the same way and fails with the same messages.
"""

from __future__ import annotations

from typing import Annotated

import typer

from tether.core import errors
from tether.core.store import SessionLog, SessionStore

from .completion import complete_session_id

IdArgument = Annotated[
    str | None,
    typer.Argument(
        metavar="ID",
        help="Session id, or any unique prefix of it.",
        show_default=False,
        autocompletion=complete_session_id,
    ),
]
LastOption = Annotated[
    bool,
    typer.Option("--last", help="Use the most recently created session instead of an ID."),
]


def resolve_session(
    session_id: str | None, last: bool, store: SessionStore | None = None, need_log: bool = True
) -> SessionLog:
    """The session named by `session_id` (a unique prefix) or by `--last`; exactly one of them.

    With `need_log` False, a session directory without a log is found too (for `rm`)."""
    if session_id is not None and last:
        raise errors.UsageError("give a session ID or --last, not both")
    store = store if store is not None else SessionStore()
    if last:
        return store.last()
    if not session_id:
        raise errors.UsageError("missing session ID (or use --last)")
    if not need_log:
        return SessionLog(store.root / store.resolve(session_id))
    return store.open(session_id)
