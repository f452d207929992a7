"""Permission policies end to end: `ask` on a terminal (a real pty: y, n, always), `ask`
with no terminal (exit 13, the result line, approve, deny, resume), deny rules, and
kill -9 or Ctrl-C while a question waits. The tools are MCP tools of a test server
that counts its calls in a file, so a call that runs unasked would show."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
from e2e import (
    TETHER,
    assert_invariants,
    json_lines,
    of_type,
    only_session_id,
    run,
    session_events,
)
from fakeapi import FakeAPI, text, tool_use
from mcp_servers import scripted_server
from ptyrun import PtyProcess

from tether.core import events as ev

pytestmark = pytest.mark.slow
QUESTION = "allow it? [y]es / [n]o / [a]lways for this session: "
REQUIRES_ACTION = 13


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps({"mcpServers": {"t": scripted_server()}}))
    return str(path)


@pytest.fixture
def counter(tmp_path: Path) -> Path:
    return tmp_path / "count"


def count_call(counter: Path, use_id: str | None = None) -> Any:
    return tool_use("mcp__t__count", {"path": str(counter)}, id=use_id)


def calls_run(counter: Path) -> int:
    return counter.read_text().count("called") if counter.exists() else 0


def on_a_terminal(args: list[str], env: dict[str, str]) -> PtyProcess:
    return PtyProcess([*TETHER, *args], env)


def asked_to_count(api: FakeAPI, env: dict[str, str], config: str, counter: Path) -> PtyProcess:
    """A run on a terminal whose one call (counting) waits for an answer."""
    api.add(count_call(counter), text("Counted."))
    terminal = on_a_terminal(["run", "--mcp-config", config, "count once"], env)
    terminal.expect(QUESTION)
    return terminal


def results() -> list[ev.AgentMCPToolResult]:
    return of_type(session_events(), ev.AgentMCPToolResult)


def result_text(result: ev.AgentMCPToolResult) -> str:
    return "\n".join(block.get("text", "") for block in result.content)


# -- on a terminal -----------------------------------------------------------------------


def test_yes_on_a_terminal_runs_the_call_after_recording_the_answer(
    api: FakeAPI, env: dict[str, str], config: str, counter: Path
) -> None:
    api.add(count_call(counter), text("Counted."))
    terminal = on_a_terminal(["run", "--mcp-config", config, "count once"], env)
    shown = terminal.expect(QUESTION)
    assert "mcp__t__count" in shown and str(counter) in shown and calls_run(counter) == 0
    terminal.send("y\n")
    assert terminal.finish() == 0, terminal.output
    assert calls_run(counter) == 1
    events = session_events()
    (use,) = of_type(events, ev.AgentMCPToolUse)
    (decision,) = of_type(events, ev.UserToolConfirmation)
    (answer,) = of_type(events, ev.AgentMCPToolResult)
    assert use.evaluated_permission == "ask"
    assert (decision.tool_use_id, decision.result) == (use.tool_use_id, "allow")
    assert not decision.always
    assert events.index(decision) < events.index(answer) and not answer.is_error


def test_no_on_a_terminal_is_a_denial_the_model_reads(
    api: FakeAPI, env: dict[str, str], config: str, counter: Path
) -> None:
    api.add(count_call(counter), text("Understood."))
    terminal = on_a_terminal(["run", "--mcp-config", config, "count once"], env)
    terminal.expect(QUESTION)
    terminal.send("n\n")
    terminal.expect("why")
    terminal.send("the counter is frozen today\n")
    assert terminal.finish() == 0, terminal.output
    assert calls_run(counter) == 0
    (decision,) = of_type(session_events(), ev.UserToolConfirmation)
    assert (decision.result, decision.deny_message) == ("deny", "the counter is frozen today")
    (answer,) = results()
    assert answer.is_error and "the counter is frozen today" in result_text(answer)
    block = api.requests[-1].body["messages"][-1]["content"][0]
    assert block["is_error"] is True and "did not allow" in block["content"][0]["text"]


def test_always_on_a_terminal_allows_the_tool_for_the_rest_of_the_session(
    api: FakeAPI, env: dict[str, str], config: str, counter: Path
) -> None:
    api.add(count_call(counter), count_call(counter), text("Twice."))
    terminal = on_a_terminal(["run", "--mcp-config", config, "count twice"], env)
    terminal.expect(QUESTION)
    terminal.send("what?\n")  # not an answer: asked again
    terminal.expect("please answer y, n or a")
    terminal.send("a\n")
    assert terminal.finish() == 0, terminal.output
    assert terminal.output.count(QUESTION) == 2  # the bad answer, then a; never for call two
    assert calls_run(counter) == 2
    (decision,) = of_type(session_events(), ev.UserToolConfirmation)
    assert decision.always


def test_kill_9_while_the_question_waits_leaves_the_call_pending(
    api: FakeAPI, env: dict[str, str], config: str, counter: Path
) -> None:
    terminal = asked_to_count(api, env, config, counter)
    terminal.kill(signal.SIGKILL)
    terminal.finish()
    assert calls_run(counter) == 0
    assert of_type(session_events(), ev.UserToolConfirmation) == [] and results() == []
    again = run(["resume", "--json", only_session_id()], env)  # no terminal: asked again, so waits
    assert again.returncode == REQUIRES_ACTION, again.stderr
    assert calls_run(counter) == 0
    terminal = on_a_terminal(["resume", only_session_id()], env)
    terminal.expect(QUESTION)
    terminal.send("y\n")
    assert terminal.finish() == 0, terminal.output
    assert calls_run(counter) == 1
    assert_invariants(session_events())


def test_ctrl_c_while_the_question_waits_leaves_the_call_pending(
    api: FakeAPI, env: dict[str, str], config: str, counter: Path
) -> None:
    terminal = asked_to_count(api, env, config, counter)
    terminal.kill(signal.SIGINT)
    assert terminal.finish() == 130
    events = session_events()
    assert results() == [] and calls_run(counter) == 0
    assert isinstance(events[-1], ev.StatusIdle) and events[-1].stop_reason == "interrupted"
    approved = run(["approve", only_session_id()], env)  # it stopped cleanly: decidable now
    assert approved.returncode == 0, approved.stderr
    assert run(["resume", "-q", only_session_id()], env).returncode == 0
    assert calls_run(counter) == 1


# -- with no terminal ----------------------------------------------------------------------


def test_with_no_terminal_the_run_stops_requiring_action_then_approve_and_resume(
    api: FakeAPI, env: dict[str, str], config: str, counter: Path
) -> None:
    api.add(count_call(counter, "toolu_count_0001"), text("Counted."))
    result = run(["run", "--json", "--mcp-config", config, "count once"], env)
    assert result.returncode == REQUIRES_ACTION, result.stderr
    final = json_lines(result.stdout)[-1]
    assert final["stop_reason"] == "requires_action" and final["exit_code"] == REQUIRES_ACTION
    (pending,) = final["pending"]
    assert pending == {
        "tool_use_id": "toolu_count_0001", "name": "mcp__t__count", "input": {"path": str(counter)},
    }  # fmt: skip
    idle = session_events()[-1]
    assert isinstance(idle, ev.StatusIdle) and idle.stop_reason == "requires_action"
    assert idle.event_ids == ("toolu_count_0001",)
    assert calls_run(counter) == 0 and len(api.requests) == 1
    session_id = only_session_id()
    assert run(["approve", session_id, "toolu_count"], env).returncode == 0
    resumed = run(["resume", "--json", session_id], env)
    assert resumed.returncode == 0, resumed.stderr
    assert calls_run(counter) == 1
    assert json_lines(resumed.stdout)[-1]["stop_reason"] == "end_turn"
    assert_invariants(session_events())


def test_with_no_terminal_deny_with_a_reason_then_resume(
    api: FakeAPI, env: dict[str, str], config: str, counter: Path
) -> None:
    api.add(count_call(counter), text("I will not count."))
    assert run(["run", "-q", "--mcp-config", config, "count"], env).returncode == REQUIRES_ACTION
    denied = run(["deny", only_session_id(), "--reason", "not in production"], env)
    assert denied.returncode == 0, denied.stderr
    assert run(["resume", "-q", only_session_id()], env).returncode == 0
    assert calls_run(counter) == 0
    (answer,) = results()
    assert answer.is_error and "not in production" in result_text(answer)
    sent = api.requests[-1].body["messages"][-1]["content"][0]
    assert sent["type"] == "tool_result" and "not in production" in sent["content"][0]["text"]


def test_the_human_view_names_the_waiting_call_and_what_to_do(
    api: FakeAPI, env: dict[str, str], config: str, counter: Path
) -> None:
    api.add(count_call(counter, "toolu_count_0002"))
    result = run(["run", "--mcp-config", config, "count"], env)
    assert result.returncode == REQUIRES_ACTION
    output = result.stdout + result.stderr
    assert "waiting for a decision: toolu_count_0002 mcp__t__count" in output
    assert f"tether approve {only_session_id()}" in output and "tether deny" in output


def test_allowed_calls_before_a_waiting_one_run_and_later_ones_wait_their_turn(
    api: FakeAPI, env: dict[str, str], config: str, counter: Path
) -> None:
    echo = tool_use("mcp__t__echo", {"text": "first"})
    api.add(echo + count_call(counter) + tool_use("mcp__t__echo", {"text": "last"}), text("Ok."))
    args = ["run", "-q", "--mcp-config", config, "--allow", "mcp__t__echo", "go"]
    assert run(args, env).returncode == REQUIRES_ACTION
    assert [result_text(r) for r in results()] == ["first"]
    assert run(["approve", only_session_id()], env).returncode == 0
    assert run(["resume", "-q", only_session_id()], env).returncode == 0
    assert [result_text(r) for r in results()] == ["first", "1", "last"]


# -- rules ---------------------------------------------------------------------------------


def test_a_deny_rule_is_an_error_result_without_a_question(
    api: FakeAPI, env: dict[str, str], config: str, counter: Path
) -> None:
    api.add(count_call(counter), text("Denied, fine."))
    args = ["run", "-q", "--mcp-config", config, "--deny", "mcp__t__count", "count"]
    result = run(args, env)
    assert result.returncode == 0, result.stderr
    (answer,) = results()
    assert answer.is_error
    assert "permission policy does not allow mcp__t__count" in result_text(answer)
    assert calls_run(counter) == 0 and of_type(session_events(), ev.UserToolConfirmation) == []


def test_built_in_tools_follow_the_policy_too(api: FakeAPI, env: dict[str, str]) -> None:
    api.add(tool_use("bash", {"command": "rm -rf /workspace"}), text("Stopped."))
    result = run(["run", "--json", "--ask", "bash", "clean up"], env)
    assert result.returncode == REQUIRES_ACTION
    (use,) = of_type(session_events(), ev.AgentToolUse)
    assert use.evaluated_permission == "ask"
    assert run(["deny", only_session_id()], env).returncode == 0
    assert run(["resume", "-q", only_session_id()], env).returncode == 0
    (answer,) = of_type(session_events(), ev.AgentToolResult)
    assert answer.is_error and "did not allow" in answer.content
    assert of_type(session_events(), ev.SandboxProvisioned) == []  # never ran


def test_the_policy_is_the_sessions_and_resume_keeps_it(
    api: FakeAPI, env: dict[str, str], config: str, counter: Path
) -> None:
    api.add(text("Nothing yet."), count_call(counter), text("Counted."))
    args = ["run", "-q", "--mcp-config", config, "--allow", "mcp__t", "wait"]
    assert run(args, env).returncode == 0
    assert run(["resume", "-q", only_session_id(), "now count"], env).returncode == 0
    assert calls_run(counter) == 1
