"""The MCP client on the official SDK, against real servers: mcp-server-time (PyPI) and
server-everything (npm) over stdio, server-everything and an SDK server over
streamable HTTP, and a test server that crashes, hangs and reports its env."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from mcp_servers import (
    alive,
    everything_http,
    everything_stdio,
    free_port,
    pids,
    scripted_server,
    scripted_server_http,
    time_server,
)

from tether.core import errors, mcp_config
from tether.core.mcp_client import MCPClients

pytestmark = pytest.mark.slow
API_KEY = "sk-ant-test-SECRET-4f2b9c"


def clients(
    tmp_path: Path, timeout_s: float = 30, start_timeout_s: float | None = None,
    **entries: dict[str, Any],
) -> MCPClients:  # fmt: skip
    servers = mcp_config.parse({"mcpServers": entries}, "test", {"PATH": "/usr/bin:/bin"})
    return MCPClients(
        servers, timeout_s=timeout_s, stderr_dir=tmp_path, start_timeout_s=start_timeout_s
    )


def text_of(result: Any) -> str:
    return "\n".join(block.get("text", "") for block in result.content)


def test_mcp_server_time_over_stdio(tmp_path: Path) -> None:
    with clients(tmp_path, time=time_server()) as mcp:
        tools = {tool.name: tool for tool in mcp.list_tools("time")}
        assert {"get_current_time", "convert_time"} <= set(tools)
        assert tools["get_current_time"].input_schema["properties"]["timezone"]
        result = mcp.call("time", "get_current_time", {"timezone": "Asia/Tokyo"})
        assert not result.is_error
        assert json.loads(text_of(result))["timezone"] == "Asia/Tokyo"
        assert mcp.running() == ["time"]
    assert mcp.running() == []


def test_server_everything_over_stdio(tmp_path: Path) -> None:
    with clients(tmp_path, everything=everything_stdio()) as mcp:
        names = {tool.name for tool in mcp.list_tools("everything")}
        assert {"echo", "get-tiny-image", "get-env"} <= names
        assert text_of(mcp.call("everything", "echo", {"message": "hi"})) == "Echo: hi"
        image = mcp.call("everything", "get-tiny-image", {})
        kinds = [block["type"] for block in image.content]
        assert "image" in kinds
        png = next(b for b in image.content if b["type"] == "image")
        assert png["mimeType"] == "image/png" and png["data"]


def test_server_everything_over_streamable_http(tmp_path: Path) -> None:
    port = free_port()
    with everything_http(port) as url, clients(tmp_path, web={"type": "http", "url": url}) as mcp:
        assert "echo" in {tool.name for tool in mcp.list_tools("web")}
        assert text_of(mcp.call("web", "echo", {"message": "over http"})) == "Echo: over http"


def test_an_sdk_server_over_streamable_http(tmp_path: Path) -> None:
    port = free_port()
    with (
        scripted_server_http(port) as url,
        clients(tmp_path, t={"type": "http", "url": url}) as mcp,
    ):
        assert text_of(mcp.call("t", "echo", {"text": "hello"})) == "hello"


def test_a_server_gets_only_its_env_plus_path_and_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    monkeypatch.setenv("SOME_SECRET", "do-not-pass")
    monkeypatch.setenv("TZ_FOR_TEST", "Europe/Paris")
    entry = scripted_server(ZONE="${TZ_FOR_TEST}")
    servers = mcp_config.parse({"mcpServers": {"t": entry}}, "test", dict(__import__("os").environ))
    with MCPClients(servers, timeout_s=30, stderr_dir=tmp_path) as mcp:
        env = json.loads(text_of(mcp.call("t", "env", {})))
    assert set(env) == {"PATH", "HOME", "ZONE"}, env
    assert env["ZONE"] == "Europe/Paris"
    assert API_KEY not in json.dumps(env)


def test_server_everything_sees_no_api_key_either(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    with clients(tmp_path, everything=everything_stdio()) as mcp:
        reported = text_of(mcp.call("everything", "get-env", {}))
    assert "PATH" in reported and API_KEY not in reported and "ANTHROPIC" not in reported


def test_a_server_that_crashes_mid_call_is_an_error_then_starts_afresh(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    with clients(tmp_path, t=scripted_server("--pid-file", str(pid_file))) as mcp:
        with pytest.raises(errors.MCPServerError, match="exited before it could answer") as caught:
            mcp.call("t", "crash", {})
        assert "about to crash on purpose" in str(caught.value)  # the tail of its stderr
        assert text_of(mcp.call("t", "echo", {"text": "back"})) == "back"
        assert len(pids(pid_file)) == 2


def test_a_server_that_hangs_is_stopped_after_the_timeout(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    with clients(tmp_path, timeout_s=8, t=scripted_server("--pid-file", str(pid_file))) as mcp:
        mcp.list_tools("t")  # started, so the timeout below is the call's alone
        started = time.monotonic()
        with pytest.raises(errors.MCPTimeout, match="did not answer a call of hang within 8 s"):
            mcp.call("t", "hang", {})
        assert 7.5 < time.monotonic() - started < 20
        first = pids(pid_file)[0]
        assert not alive(first)
        assert text_of(mcp.call("t", "echo", {"text": "again"})) == "again"


def test_servers_that_fail_to_start(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    entries = {
        "crashy": scripted_server("--crash-at-start"),
        "hangy": scripted_server("--hang-at-start", "--pid-file", str(pid_file)),
        "missing": {"command": "no-such-mcp-server-here"},
    }
    with clients(tmp_path, start_timeout_s=6, **entries) as mcp:
        found = mcp.list_all(["crashy", "hangy", "missing"])
    assert isinstance(found["crashy"], errors.MCPServerError)
    assert "did not start" in str(found["crashy"]) and "asked me to crash" in str(found["crashy"])
    assert isinstance(found["hangy"], errors.MCPTimeout)
    assert "did not start within 6 s" in str(found["hangy"])
    assert "'no-such-mcp-server-here' is not on PATH" in str(found["missing"])
    assert not alive(pids(pid_file)[0]), "the server that never answered was left running"


def test_an_unknown_tool_is_an_error_result_not_a_failure(tmp_path: Path) -> None:
    with clients(tmp_path, t=scripted_server()) as mcp:
        result = mcp.call("t", "no_such_tool", {})
        assert result.is_error and "no_such_tool" in text_of(result)
        assert mcp.running() == ["t"]


def test_closing_stops_every_server(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    entries = {name: scripted_server("--pid-file", str(pid_file)) for name in ("a", "b")}
    with clients(tmp_path, **entries) as mcp:
        mcp.list_all(["a", "b"])
        assert len(pids(pid_file)) == 2 and all(alive(pid) for pid in pids(pid_file))
    assert not any(alive(pid) for pid in pids(pid_file))
