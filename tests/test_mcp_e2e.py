"""MCP tools end to end: the real `tether` command, the fake Messages API through the
real SDK, and real MCP servers (mcp-server-time from PyPI, server-everything from
npm, over stdio and streamable HTTP, and a test server that crashes, hangs and
reports its environment). No tool here touches the sandbox, so no Docker is needed.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from e2e import (
    API_KEY,
    assert_invariants,
    finish,
    json_lines,
    kill9,
    of_type,
    only_session_id,
    run,
    session_events,
    start,
    wait_for_event,
)
from fakeapi import FakeAPI, text, tool_use
from mcp_servers import (
    alive,
    everything_http,
    everything_stdio,
    free_port,
    pids,
    scripted_server,
    time_server,
)

from tether.core import events as ev

pytestmark = pytest.mark.slow


def mcp_file(tmp_path: Path, **servers: dict[str, Any]) -> str:
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps({"mcpServers": servers}))
    return str(path)


def tools_sent(api: FakeAPI, index: int = 0) -> dict[str, Any]:
    return {tool["name"]: tool for tool in api.requests[index].body.get("tools", [])}


def last_results(api: FakeAPI) -> list[dict[str, Any]]:
    content = api.requests[-1].body["messages"][-1]["content"]
    return [block for block in content if block["type"] == "tool_result"]


def result_text(result: ev.AgentMCPToolResult) -> str:
    return "\n".join(block.get("text", "") for block in result.content)


def test_an_mcp_tool_is_listed_called_and_recorded(
    api: FakeAPI, env: dict[str, str], tmp_path: Path
) -> None:
    config = mcp_file(tmp_path, time=time_server())
    api.add(tool_use("mcp__time__get_current_time", {"timezone": "Asia/Tokyo"}), text("Done."))
    args = ["run", "--json", "--mcp-config", config, "--allow", "mcp__time", "what time?"]
    result = run(args, env)
    assert result.returncode == 0, result.stderr
    offered = tools_sent(api)["mcp__time__get_current_time"]
    assert offered["input_schema"]["properties"]["timezone"]["type"] == "string"
    assert "bash" in tools_sent(api)  # the sandbox's tools are still there
    events = session_events()
    (listed,) = of_type(events, ev.MCPToolsListed)
    assert listed.mcp_server_name == "time"
    assert {t["name"] for t in listed.tools} >= {"get_current_time", "convert_time"}
    (use,) = of_type(events, ev.AgentMCPToolUse)
    assert (use.name, use.mcp_server_name, use.api_name) == (
        "get_current_time", "time", "mcp__time__get_current_time",
    )  # fmt: skip
    assert use.evaluated_permission == "allow" and use.input == {"timezone": "Asia/Tokyo"}
    (answer,) = of_type(events, ev.AgentMCPToolResult)
    assert answer.mcp_tool_use_id == use.tool_use_id and not answer.is_error
    assert json.loads(result_text(answer))["timezone"] == "Asia/Tokyo"
    (block,) = last_results(api)
    assert block["tool_use_id"] == use.tool_use_id and "Asia/Tokyo" in block["content"][0]["text"]
    created = events[0]
    assert isinstance(created, ev.SessionCreated)
    assert created.mcp_config == (config,) and created.mcp_servers == ("time",)
    assert "allow:mcp__time" in created.permissions
    lines = json_lines(result.stdout)
    assert any(line.get("type") == "agent.mcp_tool_use" for line in lines)


def test_server_everything_over_stdio_returns_an_image_the_api_takes(
    api: FakeAPI, env: dict[str, str], tmp_path: Path
) -> None:
    config = mcp_file(tmp_path, everything=everything_stdio())
    api.add(tool_use("mcp__everything__get-tiny-image", {}), text("A tiny image."))
    args = ["run", "-q", "--mcp-config", config, "--allow", "mcp__everything__*", "show me"]
    result = run(args, env)
    assert result.returncode == 0, result.stderr
    (answer,) = of_type(session_events(), ev.AgentMCPToolResult)
    kinds = [block["type"] for block in answer.content]
    assert "image" in kinds and not answer.is_error
    (block,) = last_results(api)
    image = next(b for b in block["content"] if b["type"] == "image")
    assert image["source"]["media_type"] == "image/png" and image["source"]["type"] == "base64"


def test_server_everything_over_streamable_http(
    api: FakeAPI, env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    with everything_http(port) as url:
        config = mcp_file(tmp_path, web={"type": "http", "url": url})
        api.add(tool_use("mcp__web__echo", {"message": "over http"}), text("Echoed."))
        result = run(["run", "-q", "--mcp-config", config, "--allow", "mcp__web", "echo"], env)
    assert result.returncode == 0, result.stderr
    (answer,) = of_type(session_events(), ev.AgentMCPToolResult)
    assert result_text(answer) == "Echo: over http"


def test_the_api_key_never_reaches_a_server(
    api: FakeAPI, env: dict[str, str], tmp_path: Path
) -> None:
    config = mcp_file(tmp_path, t=scripted_server(GREETING="hello"))
    api.add(tool_use("mcp__t__env", {}), text("Seen."))
    result = run(["run", "-q", "--mcp-config", config, "--allow", "mcp__t", "env?"], env)
    assert result.returncode == 0, result.stderr
    (answer,) = of_type(session_events(), ev.AgentMCPToolResult)
    seen = json.loads(result_text(answer))
    assert set(seen) == {"PATH", "HOME", "GREETING"}, seen
    assert API_KEY not in result_text(answer)


def test_a_server_that_crashes_mid_call_is_an_error_result_and_the_run_goes_on(
    api: FakeAPI, env: dict[str, str], tmp_path: Path
) -> None:
    pid_file = tmp_path / "pids"
    config = mcp_file(tmp_path, t=scripted_server("--pid-file", str(pid_file)))
    api.add(tool_use("mcp__t__crash", {}), tool_use("mcp__t__echo", {"text": "back"}), text("Ok."))
    result = run(["run", "-q", "--mcp-config", config, "--allow", "mcp__t", "go"], env)
    assert result.returncode == 0, result.stderr
    crashed, echoed = of_type(session_events(), ev.AgentMCPToolResult)
    assert crashed.is_error and "exited before it could answer" in result_text(crashed)
    assert "about to crash on purpose" in result_text(crashed)
    assert result_text(echoed) == "back"  # a fresh server
    assert len(pids(pid_file)) == 2 and not any(alive(p) for p in pids(pid_file))
    assert_invariants(session_events())


def test_a_server_that_hangs_is_an_error_result_after_the_timeout(
    api: FakeAPI, env: dict[str, str], tmp_path: Path
) -> None:
    pid_file = tmp_path / "pids"
    config = mcp_file(tmp_path, t=scripted_server("--pid-file", str(pid_file)))
    api.add(tool_use("mcp__t__hang", {}), text("It hung."))
    args = ["run", "-q", "--mcp-config", config, "--allow", "mcp__t", "--mcp-timeout", "5", "go"]
    result = run(args, env)
    assert result.returncode == 0, result.stderr
    (answer,) = of_type(session_events(), ev.AgentMCPToolResult)
    assert answer.is_error and "did not answer a call of hang within 5 s" in result_text(answer)
    assert 4500 < answer.duration_ms < 20_000
    assert not any(alive(p) for p in pids(pid_file))


def test_a_server_that_cannot_start_is_recorded_and_the_run_goes_on_without_it(
    api: FakeAPI, env: dict[str, str], tmp_path: Path
) -> None:
    config = mcp_file(tmp_path, broken=scripted_server("--crash-at-start"), time=time_server())
    api.add(text("Fine without it."))
    result = run(["run", "-q", "--mcp-config", config, "hi"], env)
    assert result.returncode == 0, result.stderr
    (error,) = of_type(session_events(), ev.SessionError)
    assert error.error_type == "mcp_connection_failed_error" and error.mcp_server_name == "broken"
    assert "asked me to crash" in error.message
    names = set(tools_sent(api))
    assert "mcp__time__get_current_time" in names
    assert not any(name.startswith("mcp__broken") for name in names)


def test_names_the_api_refuses_are_mended_and_still_reach_the_tool(
    api: FakeAPI, env: dict[str, str], tmp_path: Path
) -> None:
    config = mcp_file(tmp_path, **{"my server": scripted_server()})
    api.add(tool_use("mcp__my_server__odd_name_with_spaces", {}), text("Odd."))
    result = run(["run", "-q", "--mcp-config", config, "--allow", "mcp__*", "odd"], env)
    assert result.returncode == 0, result.stderr
    (use,) = of_type(session_events(), ev.AgentMCPToolUse)
    assert (use.name, use.mcp_server_name) == ("odd.name/with spaces", "my server")
    (answer,) = of_type(session_events(), ev.AgentMCPToolResult)
    assert result_text(answer) == "odd answered"


def test_a_call_of_a_tool_nobody_offered_is_an_error_result_not_a_question(
    api: FakeAPI, env: dict[str, str], tmp_path: Path
) -> None:
    config = mcp_file(tmp_path, t=scripted_server())
    api.add(tool_use("mcp__nowhere__thing", {}), text("No such tool."))
    result = run(["run", "--json", "--mcp-config", config, "go"], env)  # MCP tools ask...
    assert result.returncode == 0, result.stderr  # ...but there is nothing to ask about
    (use,) = of_type(session_events(), ev.AgentToolUse)
    (answer,) = of_type(session_events(), ev.AgentToolResult)
    assert use.evaluated_permission == "allow" and answer.is_error


def test_long_output_is_bounded_and_kept_beside_the_log(
    api: FakeAPI, env: dict[str, str], tmp_path: Path, tether_home: Path
) -> None:
    config = mcp_file(tmp_path, t=scripted_server())
    api.add(tool_use("mcp__t__big", {"size": 300_000}), text("Big."))
    result = run(["run", "-q", "--mcp-config", config, "--allow", "mcp__t", "big"], env)
    assert result.returncode == 0, result.stderr
    (answer,) = of_type(session_events(), ev.AgentMCPToolResult)
    assert answer.truncated and len(result_text(answer).encode()) < 110 * 1024
    kept = tether_home / "sessions" / only_session_id() / "mcp" / f"{answer.mcp_tool_use_id}.txt"
    assert len(kept.read_text()) == 300_000 and oct(kept.stat().st_mode & 0o777) == "0o600"


def test_resume_uses_the_tool_list_from_the_log_and_starts_no_server(
    api: FakeAPI, env: dict[str, str], tmp_path: Path
) -> None:
    pid_file = tmp_path / "pids"
    config = mcp_file(tmp_path, t=scripted_server("--pid-file", str(pid_file)))
    api.add(text("First."), text("Second."))
    assert run(["run", "-q", "--mcp-config", config, "one"], env).returncode == 0
    assert len(pids(pid_file)) == 1  # started to list its tools
    result = run(["resume", "-q", only_session_id(), "two"], env)
    assert result.returncode == 0, result.stderr
    assert len(pids(pid_file)) == 1  # the list came from the log
    assert len(of_type(session_events(), ev.MCPToolsListed)) == 1
    assert tools_sent(api, 1) == tools_sent(api, 0)


def test_a_call_killed_mid_run_is_never_run_again(
    api: FakeAPI, env: dict[str, str], tmp_path: Path
) -> None:
    counter = tmp_path / "count"
    config = mcp_file(tmp_path, t=scripted_server())
    api.add(tool_use("mcp__t__slow_count", {"path": str(counter), "seconds": 60}), text("Ok."))
    harness = start(["run", "-q", "--mcp-config", config, "--allow", "mcp__t", "count"], env)
    wait_for_event(ev.AgentMCPToolUse)
    _wait_until(lambda: counter.exists())
    kill9(harness)
    result = run(["resume", "-q", only_session_id()], env)
    assert result.returncode == 0, result.stderr
    (answer,) = of_type(session_events(), ev.AgentMCPToolResult)
    assert answer.is_error and "may or may not have run" in result_text(answer)
    assert counter.read_text().count("called") == 1
    assert_invariants(session_events())


def test_ctrl_c_during_a_call_stops_the_server_and_leaves_the_session_resumable(
    api: FakeAPI, env: dict[str, str], tmp_path: Path
) -> None:
    pid_file = tmp_path / "pids"
    config = mcp_file(tmp_path, t=scripted_server("--pid-file", str(pid_file)))
    called = tmp_path / "called"  # written by the server when the call reaches it
    api.add(tool_use("mcp__t__slow_count", {"path": str(called), "seconds": 3600}))
    harness = start(["run", "-q", "--mcp-config", config, "--allow", "mcp__t", "count"], env)
    wait_for_event(ev.AgentMCPToolUse)
    _wait_until(called.exists)  # not just started (that is for the tool list): called
    harness.send_signal(signal.SIGINT)
    assert finish(harness) == 130
    events = session_events()
    (answer,) = of_type(events, ev.AgentMCPToolResult)
    assert answer.is_error and "Interrupted" in result_text(answer)
    assert isinstance(events[-1], ev.StatusIdle) and events[-1].stop_reason == "interrupted"
    assert not any(alive(p) for p in pids(pid_file))


def test_a_bad_mcp_config_stops_the_run_before_it_starts(
    env: dict[str, str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"mcpServers": {"x": {"command": "c", "env": {"K": "${NOT_SET_ANYWHERE}"}}}}')
    result = run(["run", "--json", "--mcp-config", str(bad), "hi"], env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "${NOT_SET_ANYWHERE} is not set" in result.stderr
    assert json_lines(result.stdout)[-1]["exit_code"] == 2
    missing = run(["run", "--mcp-config", str(tmp_path / "nope.json"), "hi"], env)
    assert missing.returncode == 2 and "--mcp-config" in missing.stderr


def _wait_until(predicate: Any, timeout: float = 60) -> None:
    from e2e import wait_for

    wait_for(predicate, timeout, "the MCP server")


def test_commands_without_mcp_servers_never_import_the_mcp_sdk(
    api: FakeAPI, env: dict[str, str]
) -> None:
    api.add(text("Hello."))
    run(["run", "-q", "hi"], env)
    session_id = only_session_id()
    for args in (["run", "-q", "hi"], ["ls"], ["tail", session_id], ["show", session_id]):
        api.add(text("Hello again."))
        traced = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "tether.cli", *args], env=env,
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert traced.returncode == 0, traced.stderr
        imported = {line.rsplit("|", 1)[-1].strip() for line in traced.stderr.splitlines()}
        assert "mcp" not in imported and "mcp_types" not in imported, args
