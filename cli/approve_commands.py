"""`approve` and `deny`: decide on a tool call that waits for a decision (a session
idle with `requires_action`); `tether resume` then carries on."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from tether.core.approvals import Answer, Call, decide

from . import console
from .ids import IdArgument, LastOption, resolve_session
from .render_tools import tool_input_summary

CallArgument = Annotated[
    str | None,
    typer.Argument(
        metavar="[CALL]",
        help="The waiting call's id (toolu_..., any unique prefix); needed when several wait.",
        show_default=False,
    ),
]
AllOption = Annotated[bool, typer.Option("--all", help="Decide on every call that waits.")]


def approve(
    session: IdArgument = None,
    call: CallArgument = None,
    last: LastOption = False,
    every: AllOption = False,
    always: Annotated[
        bool, typer.Option("--always", help="Allow this tool for the rest of the session too.")
    ] = False,
) -> None:
    """Allow a tool call that waits for a decision; `tether resume ID` then runs it.

    Example: tether approve 1m86k && tether resume 1m86k
    """
    _decide(session, call, last, every, Answer(allow=True, always=always))


def deny(
    session: IdArgument = None,
    call: CallArgument = None,
    last: LastOption = False,
    every: AllOption = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="What the model is told, with the denial.")
    ] = None,
) -> None:
    """Refuse a tool call that waits for a decision; the model reads the denial on resume.

    Example: tether deny 1m86k --reason "use the staging database"
    """
    _decide(session, call, last, every, Answer(allow=False, reason=reason))


def _decide(session: str | None, call: str | None, last: bool, every: bool, answer: Answer) -> None:
    if last and session is not None and call is None:
        session, call = None, session  # `approve --last CALL`
    log = resolve_session(session, last)
    for decided in decide(log, call, answer, every):
        console.out.print(_line(decided, answer))
    console.err.print(f"[dim]continue with: tether resume {log.id}[/]")


def _line(call: Call, answer: Answer) -> Text:
    verb = "allowed" if answer.allow else "denied"
    text = Text(f"{verb} ", style="green" if answer.allow else "red")
    text.append(call.tool_use_id + " ")
    text.append(call.name, style="bold")
    text.append("  " + tool_input_summary(call.name, call.input))
    if answer.always:
        text.append("  (and later calls of it, for this session)", style="dim")
    return text


COMMANDS = {"approve": approve, "deny": deny}
