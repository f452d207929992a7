"""Decisions on tool calls: what the log says about each call (the permission its
policy gave it, a person's confirmation, tools allowed for the rest of the
session), which calls wait for a decision, and asking for one.

`Approvals` is a fold over events, like the context, so the harness and
`tether approve` / `tether deny` read the same answer from the same log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from . import errors
from . import events as ev
from .context import Context
from .permissions import ALLOW, ASK, DENY
from .store import SessionLog

RUN, WAIT = "run", "wait"
POLICY_DENIED = "Denied: the permission policy does not allow {name}."
USER_DENIED = "Denied: the user did not allow this call."


@dataclass(frozen=True, kw_only=True)
class Call:
    """A recorded tool call, as the model made it."""

    tool_use_id: str
    name: str  # as the model called it (mcp__SERVER__TOOL for an MCP tool)
    input: Mapping[str, Any]
    permission: str | None = None  # the policy's answer when it was recorded
    server: str | None = None  # the MCP server, for an MCP tool
    tool: str = ""  # the tool's own name on that server


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """What happens to a call now: `run`, `deny` (with the message the model reads),
    `ask` (nobody decided yet) or `wait` (nobody is there to decide)."""

    kind: str
    message: str = ""


@dataclass(frozen=True, kw_only=True)
class Answer:
    """A person's answer to a question about one call."""

    allow: bool
    always: bool = False  # allow this tool for the rest of the session
    reason: str | None = None  # for a denial: what the model is told


class Asker(Protocol):
    """Whoever can answer for the user right now (a terminal), if anyone."""

    def ask(self, call: Call) -> Answer | None:
        """The person's answer, or None when nobody is there to give one."""
        ...


class Approvals:
    """Every recorded call and what has been decided about it."""

    def __init__(self) -> None:
        self.calls: dict[str, Call] = {}
        self.decisions: dict[str, ev.UserToolConfirmation] = {}
        self.always: set[str] = set()  # tools a person allowed for the rest of the session

    def add(self, event: ev.Event) -> None:
        if isinstance(event, ev.AgentToolUse | ev.AgentMCPToolUse):
            self.calls[event.tool_use_id] = call_of(event)
        elif isinstance(event, ev.UserToolConfirmation):
            self.decisions[event.tool_use_id] = event
            call = self.calls.get(event.tool_use_id)
            if event.result == ALLOW and event.always and call is not None:
                self.always.add(call.name)

    def add_all(self, events: Iterable[ev.Event]) -> Approvals:
        for event in events:
            self.add(event)
        return self

    def verdict(self, use_id: str) -> Verdict:
        """What the log says about a call: run, deny, or ask (nobody decided yet)."""
        call = self.calls.get(use_id)
        if call is None or call.permission in (None, ALLOW):
            return Verdict(kind=RUN)
        if call.permission == DENY:
            return Verdict(kind=DENY, message=POLICY_DENIED.format(name=call.name))
        decision = self.decisions.get(use_id)
        if decision is not None:
            return Verdict(kind=RUN) if decision.result == ALLOW else _denied(decision)
        return Verdict(kind=RUN) if call.name in self.always else Verdict(kind=ASK)

    def waiting(self, open_ids: Iterable[str]) -> list[Call]:
        """The calls among `open_ids` that wait for a decision, in order."""
        return [self.calls[i] for i in open_ids if self.verdict(i).kind == ASK]

    def before_question(self, open_ids: Iterable[str]) -> list[str]:
        """The calls among `open_ids` before the first that waits for a decision: a harness
        runs calls in order and stops at a question, so only these can have started."""
        started = []
        for use_id in open_ids:
            if self.verdict(use_id).kind == ASK:
                break
            started.append(use_id)
        return started


class Gate:
    """Whether a call may run: the log's verdict, or a person's answer asked for now
    and recorded (through `record`) before anything acts on it."""

    def __init__(
        self, approvals: Approvals, asker: Asker | None, record: Callable[[ev.Event], None]
    ) -> None:
        self.approvals = approvals
        self.asker = asker
        self.record = record

    def check(self, use_id: str) -> Verdict:
        verdict = self.approvals.verdict(use_id)
        if verdict.kind != ASK:
            return verdict
        answer = self.asker.ask(self.approvals.calls[use_id]) if self.asker else None
        if answer is None:
            return Verdict(kind=WAIT)
        self.record(confirmation(use_id, answer))
        return self.approvals.verdict(use_id)


def confirmation(use_id: str, answer: Answer) -> ev.UserToolConfirmation:
    return ev.UserToolConfirmation(
        tool_use_id=use_id,
        result=ALLOW if answer.allow else DENY,
        deny_message=None if answer.allow else (answer.reason or None),
        always=answer.allow and answer.always,
    )


def call_of(event: ev.AgentToolUse | ev.AgentMCPToolUse) -> Call:
    if isinstance(event, ev.AgentMCPToolUse):
        return Call(
            tool_use_id=event.tool_use_id, name=event.api_name, input=event.input,
            permission=event.evaluated_permission, server=event.mcp_server_name, tool=event.name,
        )  # fmt: skip
    return Call(
        tool_use_id=event.tool_use_id, name=event.name, input=event.input,
        permission=event.evaluated_permission, tool=event.name,
    )  # fmt: skip


def _denied(decision: ev.UserToolConfirmation) -> Verdict:
    reason = f" Their reason: {decision.deny_message}" if decision.deny_message else ""
    return Verdict(kind=DENY, message=USER_DENIED + reason)


def decide(
    session: SessionLog, call_id: str | None, answer: Answer, every: bool = False
) -> list[Call]:
    """Record `answer` for the waiting call `call_id` (an id or a unique prefix), for
    the only one, or with `every` for all of them; returns the calls decided.

    Only a session that stopped cleanly is decided on: one that crashed while it
    waited asks again when it is resumed, so that nothing runs unasked.
    """
    session.acquire()  # SessionBusy while a harness runs it
    try:
        if isinstance(session.last_status(), ev.StatusRunning):
            raise errors.UsageError(
                f"session {session.id} stopped without saying why (it crashed); "
                f"`tether resume {session.id}` asks again about any call that waits"
            )
        events = session.read()
        waiting = Approvals().add_all(events).waiting(Context().add_all(events).open_tool_uses)
        chosen = _choose(session.id, waiting, call_id, every)
        session.append_many([confirmation(call.tool_use_id, answer) for call in chosen])
    finally:
        session.close()
    return chosen


def _choose(session_id: str, waiting: list[Call], call_id: str | None, every: bool) -> list[Call]:
    if not waiting:
        raise errors.UsageError(f"session {session_id} has no tool call waiting for a decision")
    if call_id is not None:
        matches = [c for c in waiting if c.tool_use_id.startswith(call_id)] if call_id else []
        if len(matches) == 1:
            return matches
        problem = "matches no" if not matches else "matches more than one"
        raise errors.UsageError(f"{call_id!r} {problem} waiting call; {_listed(waiting)}")
    if every or len(waiting) == 1:
        return waiting
    message = f"{len(waiting)} calls wait: name one, or give --all; {_listed(waiting)}"
    raise errors.UsageError(message)


def _listed(calls: list[Call]) -> str:
    return "waiting: " + ", ".join(f"{c.tool_use_id} ({c.name})" for c in calls)
