"""Decisions on tool calls: the fold over the log, and `tether approve` / `tether deny`
run as a person runs them, on logs written the way a stopped harness leaves them."""

from __future__ import annotations

import os
import subprocess
import sys

from tether.core import events as ev
from tether.core.approvals import RUN, WAIT, Answer, Approvals, Gate, confirmation
from tether.core.permissions import ALLOW, ASK, DENY
from tether.core.store import SessionLog, SessionStore

TETHER = [sys.executable, "-m", "tether.cli"]


def use(use_id: str, permission: str | None, tool: str = "get_time") -> ev.AgentMCPToolUse:
    return ev.AgentMCPToolUse(
        tool_use_id=use_id, name=tool, mcp_server_name="time", input={"tz": "UTC"},
        api_name=f"mcp__time__{tool}", evaluated_permission=permission,
    )  # fmt: skip


def response(*uses: ev.Event) -> list[ev.Event]:
    end = ev.ModelRequestEnd(model="m", stop_reason="tool_use", turn=1)
    return [ev.ModelRequestStart(model="m"), *uses, end]


def session_with(*events: ev.Event, status: ev.Event | None = None) -> SessionLog:
    log = SessionStore().create(ev.SessionCreated(model="m"), "s1")
    log.append_many([ev.UserMessage(content="go"), *events])
    if status is not None:
        log.append(status)
    log.close()
    return log


def waiting(*ids: str) -> ev.StatusIdle:
    return ev.StatusIdle(stop_reason="requires_action", event_ids=ids)


def tether(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run([*TETHER, *args], env=env, capture_output=True, text=True, timeout=60)


def confirmations() -> list[ev.UserToolConfirmation]:
    return [e for e in SessionStore().open("s1").read() if isinstance(e, ev.UserToolConfirmation)]


# -- the fold --------------------------------------------------------------------------


def test_verdicts_follow_the_policy_and_the_decisions() -> None:
    approvals = Approvals().add_all(
        [use("a", ALLOW), use("b", DENY), use("c", ASK), use("d", ASK), use("e", None)]
    )
    assert approvals.verdict("a").kind == RUN and approvals.verdict("e").kind == RUN
    assert approvals.verdict("b").kind == DENY
    assert "does not allow mcp__time__get_time" in approvals.verdict("b").message
    assert [c.tool_use_id for c in approvals.waiting(["a", "b", "c", "d"])] == ["c", "d"]
    approvals.add(confirmation("c", Answer(allow=False, reason="not now")))
    assert approvals.verdict("c").kind == DENY
    assert approvals.verdict("c").message.endswith("Their reason: not now")
    approvals.add(confirmation("d", Answer(allow=True)))
    assert approvals.verdict("d").kind == RUN


def test_always_allows_later_calls_of_the_same_tool_only() -> None:
    approvals = Approvals().add_all([use("a", ASK), use("b", ASK), use("c", ASK, tool="other")])
    approvals.add(confirmation("a", Answer(allow=True, always=True)))
    assert approvals.verdict("b").kind == RUN
    assert approvals.verdict("c").kind == ASK


class Scripted:
    def __init__(self, *answers: Answer | None) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    def ask(self, call: object) -> Answer | None:
        self.asked.append(getattr(call, "tool_use_id", ""))
        return self.answers.pop(0)


def test_the_gate_asks_records_the_answer_first_and_waits_without_anyone() -> None:
    approvals = Approvals().add_all([use("a", ASK), use("b", ASK), use("c", ALLOW)])
    recorded: list[ev.Event] = []

    def record(event: ev.Event) -> None:
        recorded.append(event)
        approvals.add(event)

    asker = Scripted(Answer(allow=True), None)
    gate = Gate(approvals, asker, record)
    assert gate.check("c").kind == RUN and asker.asked == []  # allowed: nobody is asked
    assert gate.check("a").kind == RUN
    assert [(e.tool_use_id, e.result) for e in recorded] == [("a", ALLOW)]  # type: ignore[attr-defined]
    assert gate.check("b").kind == WAIT
    assert Gate(approvals, None, record).check("b").kind == WAIT


# -- the commands ----------------------------------------------------------------------


def test_approve_records_the_decision_for_the_only_waiting_call() -> None:
    session_with(*response(use("toolu_01abc", ASK)), status=waiting("toolu_01abc"))
    result = tether("approve", "s1")
    assert result.returncode == 0, result.stderr
    assert "allowed toolu_01abc mcp__time__get_time" in result.stdout
    assert "tether resume s1" in result.stderr
    (decision,) = confirmations()
    assert (decision.tool_use_id, decision.result, decision.always) == ("toolu_01abc", ALLOW, False)
    again = tether("approve", "s1")
    assert again.returncode == 2 and "no tool call waiting" in again.stderr


def test_deny_with_a_reason_and_approve_always() -> None:
    session_with(
        *response(use("toolu_a1", ASK), use("toolu_b2", ASK)),
        status=waiting("toolu_a1", "toolu_b2"),
    )
    result = tether("deny", "s1", "toolu_a", "--reason", "use the staging database")
    assert result.returncode == 0, result.stderr
    assert tether("approve", "--last", "toolu_b", "--always").returncode == 0
    denied, allowed = confirmations()
    assert (denied.result, denied.deny_message) == (DENY, "use the staging database")
    assert (allowed.tool_use_id, allowed.result, allowed.always) == ("toolu_b2", ALLOW, True)


def test_several_waiting_calls_need_a_call_id_or_all() -> None:
    session_with(*response(use("toolu_a1", ASK), use("toolu_a2", ASK)), status=waiting())
    result = tether("approve", "s1")
    assert result.returncode == 2
    assert "2 calls wait: name one, or give --all" in result.stderr
    assert "toolu_a1 (mcp__time__get_time)" in result.stderr
    ambiguous = tether("deny", "s1", "toolu_a")
    assert ambiguous.returncode == 2 and "matches more than one waiting call" in ambiguous.stderr
    unknown = tether("deny", "s1", "toolu_zz")
    assert unknown.returncode == 2 and "matches no waiting call" in unknown.stderr
    assert tether("deny", "s1", "--all").returncode == 0
    assert [c.result for c in confirmations()] == [DENY, DENY]


def test_calls_already_run_or_allowed_do_not_wait() -> None:
    result = ev.AgentMCPToolResult(mcp_tool_use_id="toolu_done", content=())
    events = [*response(use("toolu_done", ASK), use("toolu_ok", ALLOW))]
    session_with(*events, confirmation("toolu_done", Answer(allow=True)), result, status=waiting())
    denied = tether("deny", "s1")
    assert denied.returncode == 2 and "no tool call waiting" in denied.stderr


def test_a_session_that_crashed_while_waiting_asks_again_on_resume_instead() -> None:
    running = ev.StatusRunning(pid=1, host="h")
    session_with(running, *response(use("toolu_a1", ASK)))
    result = tether("approve", "s1")
    assert result.returncode == 2
    assert "crashed" in result.stderr and "tether resume s1" in result.stderr
    assert confirmations() == []


def test_a_running_session_is_not_decided_on_from_outside() -> None:
    session_with(*response(use("toolu_a1", ASK)), status=waiting("toolu_a1"))
    holder = SessionStore().open("s1")
    holder.acquire()
    try:
        result = tether("approve", "s1")
    finally:
        holder.close()
    assert result.returncode == 9 and "running in another harness" in result.stderr
    assert confirmations() == []
