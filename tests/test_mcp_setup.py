"""`tether config` and `tether doctor` with MCP servers configured, run as a person runs
them: config shows the servers (never the values of their variables or headers) and
the permission rules; doctor starts each server and lists its tools."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcp_servers import scripted_server, time_server

BIN = Path(sys.executable).parent


def tether(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **env}
    return subprocess.run(
        [str(BIN / "tether"), *args], env=full_env, capture_output=True, text=True, timeout=120,
        cwd=cwd,
    )  # fmt: skip


def write_config(text: str) -> Path:
    path = Path(os.environ["TETHER_CONFIG"])
    path.write_text(text)
    return path


def project(tmp_path: Path, servers: dict[str, object]) -> Path:
    root = tmp_path / "project"
    (root / ".git").mkdir(parents=True)
    (root / ".mcp.json").write_text(json.dumps({"mcpServers": servers}))
    return root


def test_config_shows_servers_and_rules_but_no_secret_values(tmp_path: Path) -> None:
    servers = {
        "time": {"command": "mcp-server-time", "env": {"TZ": "literal-secret-value"}},
        "github": {"type": "http", "url": "https://h.invalid/mcp", "headers": {"X-Token": "t0k"}},
    }
    root = project(tmp_path, servers)
    write_config('mcp_config = ".mcp.json"\n[permissions]\nallow = ["mcp__time"]\n')
    result = tether("config", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "MCP servers" in result.stdout
    assert "time" in result.stdout and "mcp-server-time" in result.stdout
    assert "https://h.invalid/mcp" in result.stdout and "X-Token" in result.stdout
    assert "literal-secret-value" not in result.stdout and "t0k" not in result.stdout
    assert "allow:mcp__time" in result.stdout and "ask:mcp__*  (default)" in result.stdout
    data = json.loads(tether("config", "--json", cwd=root).stdout)
    assert data["mcp_servers"]["github"] == {
        "type": "http", "url": "https://h.invalid/mcp", "headers": ["X-Token"],
        "from": str(root / ".mcp.json"),
    }  # fmt: skip
    assert data["mcp_servers"]["time"]["env"] == ["TZ"]
    assert data["permission_rules"] == ["allow:mcp__time", "ask:mcp__*", "allow:*"]


def test_a_project_mcp_json_is_not_used_without_the_opt_in(tmp_path: Path) -> None:
    root = project(tmp_path, {"time": {"command": "mcp-server-time"}})
    data = json.loads(tether("config", "--json", cwd=root).stdout)
    assert data["mcp_servers"] == {} and data["settings"]["mcp_config"]["value"] == []
    flagless_doctor = tether("doctor", "--json", cwd=root, DOCKER_HOST="unix:///nope")
    names = [c["name"] for c in json.loads(flagless_doctor.stdout)["checks"]]
    assert not any(name.startswith("mcp") for name in names)


def test_a_bad_mcp_file_is_one_line_with_exit_2(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "m.json").write_text('{"mcpServers": {"x": {"command": ""}}}')
    write_config('mcp_config = "m.json"\n')
    result = tether("config", cwd=root)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "m.json: mcpServers.x.command must be a non-empty string" in result.stderr


@pytest.mark.slow
def test_doctor_starts_each_server_and_lists_its_tools(tmp_path: Path) -> None:
    servers = {
        "time": time_server(),
        "crashy": scripted_server("--crash-at-start"),
        "web": {"type": "http", "url": "http://127.0.0.1:9/mcp"},
    }
    root = project(tmp_path, servers)
    write_config('mcp_config = ".mcp.json"\n')
    result = tether("doctor", "--json", cwd=root, DOCKER_HOST="unix:///nope")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["mcp time"]["status"] == "ok"
    assert (
        checks["mcp time"]["detail"].startswith("2 tools: ")
        and "get_current_time" in (checks["mcp time"]["detail"])
    )
    crashy = checks["mcp crashy"]
    assert crashy["status"] == "fail" and "asked me to crash" in crashy["detail"]
    assert "run it by hand" in crashy["remedy"] and "mcpServers.crashy" in crashy["remedy"]
    web = checks["mcp web"]
    assert web["status"] == "fail" and "a server answers at http://127.0.0.1:9/mcp" in web["remedy"]
    human = tether("doctor", cwd=root, DOCKER_HOST="unix:///nope")
    assert "✓ mcp time" in human.stdout and "✗ mcp crashy" in human.stdout


def test_doctor_names_a_variable_the_config_needs(tmp_path: Path) -> None:
    servers = {"github": {"type": "http", "url": "https://h/mcp", "headers": {"A": "${GH_TOK}"}}}
    root = project(tmp_path, servers)
    write_config('mcp_config = ".mcp.json"\n')
    env = {k: v for k, v in os.environ.items() if k != "GH_TOK"}
    result = subprocess.run(
        [str(BIN / "tether"), "doctor", "--json"], env={**env, "DOCKER_HOST": "unix:///nope"},
        capture_output=True, text=True, timeout=60, cwd=root,
    )  # fmt: skip
    check = next(c for c in json.loads(result.stdout)["checks"] if c["name"] == "mcp config")
    assert check["status"] == "fail" and "${GH_TOK} is not set" in check["detail"]
