"""End to end: the real `tether` CLI, the real `anthropic` SDK talking to our fake
Messages API over HTTP, and the real Docker sandbox."""

from __future__ import annotations

import signal
import time

import pytest
from e2e import (
    API_KEY,
    assert_invariants,
    files_under,
    finish,
    json_lines,
    kill9,
    of_type,
    only_session_id,
    run,
    running_in_sandbox,
    session_events,
    start,
    wait_for,
    wait_for_event,
)
from fakeapi import FakeAPI, bash, error, text, tool_use

from tether.core import events as ev
from tether.core.exit_codes import ExitCode

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_client")]


def tool_results(events: list[ev.Event]) -> list[ev.AgentToolResult]:
    return of_type(events, ev.AgentToolResult)


def test_run_then_resume_sends_the_whole_history_in_order(api: FakeAPI, env: dict) -> None:
    api.add(
        text("I'll write a file.") + bash("echo hello > note.txt && echo written"),
        bash("cat note.txt; pwd"),
        text("The note says hello."),
        bash("cat note.txt | tr a-z A-Z"),
        text("Done: HELLO."),
    )
    first = run(["run", "write a note"], env)
    assert first.returncode == 0, first.stderr
    session_id = only_session_id()
    assert first.stdout.splitlines()[0].split()[:2] == ["session", session_id]

    second = run(["resume", session_id[:6], "shout it"], env)
    assert second.returncode == 0, second.stderr

    messages = api.requests[-1].body["messages"]
    assert [m["role"] for m in messages] == [
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    assert messages[0]["content"][0]["text"] == "write a note"
    assert "written" in messages[2]["content"][0]["content"]
    assert "hello\n/workspace" in messages[4]["content"][0]["content"]
    assert messages[5]["content"][0]["text"] == "The note says hello."
    assert messages[6]["content"][0]["text"] == "shout it"
    assert "HELLO" in messages[8]["content"][0]["content"]
    assert_invariants(session_events(session_id))


def test_prompt_caching_breakpoints_reach_the_server(api: FakeAPI, env: dict) -> None:
    api.add(bash("true"), bash("true"), text("ok"))
    assert run(["run", "go", "--system", "You are careful."], env).returncode == 0
    body = api.requests[-1].body
    assert body["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    marked = [i for i, m in enumerate(body["messages"]) if "cache_control" in m["content"][-1]]
    assert marked == [2, 4]  # the last two user turns: the prefix is read, the rest written
    earlier = api.requests[1].body["messages"]
    assert "cache_control" in earlier[2]["content"][-1]  # what request 3 reads from the cache


def test_a_session_without_tool_calls_starts_no_container(api, env, docker_client) -> None:  # type: ignore[no-untyped-def]
    api.add(text("Just an answer."))
    result = run(["run", "hello"], env)
    assert result.returncode == 0, result.stderr
    events = session_events()
    assert not of_type(events, ev.SandboxProvisioned)
    label = f"tether.session={only_session_id()}"
    assert not docker_client.containers.list(all=True, filters={"label": label})


def test_unknown_tools_and_bad_inputs_become_error_results(api: FakeAPI, env: dict) -> None:
    api.add(
        tool_use("teleport", {"where": "mars"}) + tool_use("bash", {"cmd": 1}),
        text("I see, those failed."),
    )
    result = run(["run", "try things"], env)
    assert result.returncode == 0, result.stderr
    results = tool_results(session_events())
    assert [r.is_error for r in results] == [True, True]
    assert "teleport" in results[0].content
    assert "command" in results[1].content


def test_kill_9_while_a_tool_runs_never_reruns_it(api: FakeAPI, env: dict) -> None:
    api.add(
        bash("echo ran >> /workspace/counter; sleep 20"),
        bash("wc -l < /workspace/counter"),
        text("done"),
    )
    harness = start(["run", "count"], env)
    wait_for_event(ev.SandboxProvisioned)
    time.sleep(1.0)  # the command has started and appended to the counter
    kill9(harness)
    assert session_events()[-1].TYPE != ev.AgentToolResult.TYPE

    resumed = run(["resume", "--last"], env)
    assert resumed.returncode == 0, resumed.stderr
    events = session_events()
    assert_invariants(events)
    results = tool_results(events)
    assert results[0].is_error and "may or may not have run" in results[0].content
    assert results[1].content.strip().startswith("1")  # ran once, never again
    retried = api.requests[1].body["messages"][-1]["content"][0]
    assert retried["is_error"] and "Interrupted" in retried["content"]


def test_kill_9_while_the_model_streams_requests_it_again(api: FakeAPI, env: dict) -> None:
    slow = text("A long thought. " * 40, event_delay_s=0.1, chunk_chars=4)
    api.add(
        slow, bash("echo once >> /workspace/counter; wc -l < /workspace/counter"), text("finished")
    )
    harness = start(["run", "think"], env)
    wait_for_event(ev.ModelRequestStart)
    wait_for(lambda: len(api.requests) == 1, what="the first request")
    time.sleep(0.8)  # mid-stream
    kill9(harness)
    events = session_events()
    assert not of_type(events, ev.AgentMessage)  # nothing of the cut response was used

    resumed = run(["resume", "--last"], env)
    assert resumed.returncode == 0, resumed.stderr
    events = session_events()
    assert_invariants(events)
    assert api.requests[1].body["messages"] == api.requests[0].body["messages"]
    assert tool_results(events)[0].content.strip().startswith("1")
    assert [m.content for m in of_type(events, ev.AgentMessage)] == ["finished"]


def test_tether_kill_stops_a_running_harness_and_it_can_resume(api, env, docker_client) -> None:  # type: ignore[no-untyped-def]
    api.add(bash("sleep 60"), text("resumed fine"))
    harness = start(["run", "wait a while"], env)
    wait_for_event(ev.SandboxProvisioned)
    session_id = only_session_id()

    killed = run(["kill", session_id], env)
    assert killed.returncode == 0, killed.stderr
    assert finish(harness) == ExitCode.TERMINATED
    events = session_events()
    assert isinstance(events[-1], ev.StatusTerminated) and events[-1].by == "kill"
    assert of_type(events, ev.UserInterrupt)[-1].reason == "kill"
    label = f"tether.session={session_id}"
    assert not docker_client.containers.list(all=True, filters={"label": label})

    again = run(["kill", session_id], env)
    assert again.returncode == 0 and "already terminated" in again.stdout
    resumed = run(["resume", session_id], env)
    assert resumed.returncode == 0, resumed.stderr
    assert_invariants(session_events())


def test_tether_kill_after_a_crash_cleans_up(api, env, docker_client) -> None:  # type: ignore[no-untyped-def]
    api.add(bash("sleep 60"))
    harness = start(["run", "wait"], env)
    wait_for_event(ev.SandboxProvisioned)
    kill9(harness)
    session_id = only_session_id()
    label = f"tether.session={session_id}"
    assert docker_client.containers.list(all=True, filters={"label": label})

    killed = run(["kill", "--last"], env)
    assert killed.returncode == 0, killed.stderr
    assert not docker_client.containers.list(all=True, filters={"label": label})
    assert isinstance(session_events()[-1], ev.StatusTerminated)


@pytest.mark.parametrize(
    "signum,code,reason",
    [
        (signal.SIGINT, ExitCode.INTERRUPTED, "ctrl-c"),
        (signal.SIGTERM, ExitCode.TERMINATED, "sigterm"),
    ],
)
def test_signals_leave_the_session_idle_and_resumable(api, env, signum, code, reason) -> None:  # type: ignore[no-untyped-def]
    api.add(bash("sleep 60"), text("back"))
    harness = start(["run", "wait"], env)
    wait_for_event(ev.SandboxProvisioned)
    wait_for(lambda: running_in_sandbox("sleep 60"), 30, "the command to run")
    harness.send_signal(signum)
    assert finish(harness) == code
    events = session_events()
    assert of_type(events, ev.UserInterrupt)[-1].reason == reason
    assert isinstance(events[-1], ev.StatusIdle) and events[-1].stop_reason == "interrupted"
    assert "may or may not have run" in tool_results(events)[0].content
    assert run(["resume", "--last"], env).returncode == 0
    assert_invariants(session_events())


def test_resuming_a_live_session_is_refused(api: FakeAPI, env: dict) -> None:
    api.add(bash("sleep 60"))
    harness = start(["run", "wait"], env)
    wait_for_event(ev.SandboxProvisioned)
    second = run(["resume", "--last", "hello?"], env)
    assert second.returncode == ExitCode.BUSY
    assert "running in another harness" in second.stderr
    assert "Traceback" not in second.stderr
    harness.send_signal(signal.SIGINT)
    finish(harness)


def test_the_api_key_stays_in_the_harness(api, env, tether_home, docker_client) -> None:  # type: ignore[no-untyped-def]
    api.add(bash("env; cat /proc/1/environ | tr '\\0' '\\n'"), bash("sleep 30"))
    harness = start(["run", "--json", "look around"], env)
    wait_for_event(ev.AgentToolResult)
    label = f"tether.session={only_session_id()}"
    container = docker_client.containers.list(filters={"label": label})[0]
    assert not any(API_KEY in item for item in container.attrs["Config"]["Env"])
    harness.send_signal(signal.SIGINT)
    finish(harness)
    environment = tool_results(session_events())[0].content
    assert "PATH=" in environment and API_KEY not in environment
    for path in files_under(tether_home):
        assert API_KEY.encode() not in path.read_bytes(), path


def test_overloaded_then_success_is_retried_and_recorded(api: FakeAPI, env: dict) -> None:
    api.add(error(529, retry_after_ms=10), text("made it"))
    result = run(["run", "--json", "hi"], env)
    assert result.returncode == 0, result.stderr
    errors_ = of_type(session_events(), ev.SessionError)
    assert [e.retry_status for e in errors_] == ["retrying"]
    assert json_lines(result.stdout)[-1]["stop_reason"] == "end_turn"


def test_retries_exhausted_goes_idle_with_its_own_exit_code(api: FakeAPI, env: dict) -> None:
    api.add(*[error(529, retry_after_ms=5) for _ in range(5)], text("later"))
    result = run(["run", "--json", "hi"], env)
    assert result.returncode == ExitCode.MODEL
    final = json_lines(result.stdout)[-1]
    assert final["stop_reason"] == "retries_exhausted" and final["exit_code"] == ExitCode.MODEL
    events = session_events()
    assert [e.retry_status for e in of_type(events, ev.SessionError)][-1] == "exhausted"
    assert isinstance(events[-1], ev.StatusIdle)
    assert run(["resume", "--last"], env).returncode == 0


def test_a_rejected_key_is_not_retried(api: FakeAPI, env: dict) -> None:
    api.add(error(401))
    result = run(["run", "hi"], env)
    assert result.returncode == ExitCode.AUTH
    assert "the API key was rejected" in result.stderr
    assert len(api.requests) == 1
    assert "Traceback" not in result.stderr


def test_a_missing_key_is_reported_before_anything_is_created(env: dict, tether_home) -> None:  # type: ignore[no-untyped-def]
    del env["ANTHROPIC_API_KEY"]
    result = run(["run", "hi"], env)
    assert result.returncode == ExitCode.AUTH
    assert "ANTHROPIC_API_KEY" in result.stderr
    assert not (tether_home / "sessions").exists() or not any((tether_home / "sessions").iterdir())
