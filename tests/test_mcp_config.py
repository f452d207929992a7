"""MCP configuration in Claude Code's .mcp.json shape: files, the config file's table,
`${VAR}` expansion, the opt-in rule for a project's .mcp.json, and the server's env."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tether.core import config, errors, mcp_config
from tether.core.mcp_config import HttpServer, StdioServer

DOC = {
    "mcpServers": {
        "time": {"command": "mcp-server-time", "args": ["--local-timezone", "${TZ_NAME:-UTC}"]},
        "github": {
            "type": "http",
            "url": "https://example.invalid/mcp",
            "headers": {"Authorization": "Bearer ${GH_TOKEN}"},
        },
        "fs": {"type": "stdio", "command": "./server", "env": {"ROOT": "${HOME}/data"}},
    }
}


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_a_file_in_the_claude_code_shape(tmp_path: Path) -> None:
    path = write_json(tmp_path / ".mcp.json", DOC)
    env = {"GH_TOKEN": "t0k", "HOME": "/home/u"}
    servers = mcp_config.load([str(path)], env)
    assert servers["time"] == StdioServer(
        name="time", command="mcp-server-time", args=("--local-timezone", "UTC"),
        cwd=str(tmp_path), source=str(path),
    )  # fmt: skip
    assert servers["github"] == HttpServer(
        name="github", url="https://example.invalid/mcp",
        headers={"Authorization": "Bearer t0k"}, source=str(path),
    )  # fmt: skip
    fs = servers["fs"]
    assert isinstance(fs, StdioServer) and fs.env == {"ROOT": "/home/u/data"}


def test_describing_a_server_never_shows_values_of_env_or_headers(tmp_path: Path) -> None:
    path = write_json(tmp_path / "m.json", DOC)
    servers = mcp_config.load([str(path)], {}, expand=False)
    assert mcp_config.describe(servers["github"]) == {
        "type": "http", "url": "https://example.invalid/mcp", "headers": ["Authorization"],
    }  # fmt: skip
    assert mcp_config.describe(servers["fs"])["env"] == ["ROOT"]
    assert "t0k" not in json.dumps([mcp_config.describe(s) for s in servers.values()])


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "must be an object with an 'mcpServers' object"),
        ({"servers": {}}, "unknown key 'servers'"),
        ({"mcpServers": {"x": {"args": []}}}, r"mcpServers\.x\.command must be a non-empty"),
        ({"mcpServers": {"x": {"command": "c", "args": "a"}}}, r"x\.args must be a list"),
        ({"mcpServers": {"x": {"command": "c", "env": {"A": 1}}}}, r"x\.env must be an object"),
        ({"mcpServers": {"x": {"command": "c", "port": 1}}}, r"x: unknown key 'port'"),
        ({"mcpServers": {"x": {"type": "sse", "url": "http://h"}}}, "SSE transport"),
        ({"mcpServers": {"x": {"type": "ws", "url": "ws://h"}}}, "'stdio' or 'http'"),
        ({"mcpServers": {"x": {"type": "http", "url": "ftp://h"}}}, "http:// or https://"),
        ({"mcpServers": {"x": {"command": "c", "args": ["${NOPE}"]}}}, r"\$\{NOPE\} is not set"),
    ],
)
def test_bad_files_are_one_line_naming_file_and_key(
    tmp_path: Path, doc: object, message: str
) -> None:
    path = write_json(tmp_path / "m.json", doc)
    with pytest.raises(errors.ConfigError, match=message) as caught:
        mcp_config.load([str(path)], {})
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_not_json_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(errors.ConfigError, match="not valid JSON"):
        mcp_config.load([str(bad)], {})
    with pytest.raises(errors.ConfigError, match="no such MCP config file"):
        mcp_config.load([str(tmp_path / "gone.json")], {})
    assert mcp_config.load([str(tmp_path / "gone.json")], {}, missing_ok=True) == {}


def test_the_api_key_never_goes_to_a_server(tmp_path: Path) -> None:
    env = {"ANTHROPIC_API_KEY": "sk-ant-secret-123"}
    for entry in (
        {"command": "c", "env": {"ANTHROPIC_API_KEY": "${ANTHROPIC_API_KEY}"}},
        {"command": "c", "env": {"KEY": "${ANTHROPIC_API_KEY}"}},
        {"type": "http", "url": "http://h", "headers": {"x-api-key": "sk-ant-secret-123"}},
    ):
        path = write_json(tmp_path / "m.json", {"mcpServers": {"s": entry}})
        with pytest.raises(errors.ConfigError, match="never gives its API key"):
            mcp_config.load([str(path)], env)


def test_the_server_environment_is_what_its_config_names_plus_path_and_home(
    tmp_path: Path,
) -> None:
    program = tmp_path / "bin" / "my-server"
    program.parent.mkdir()
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    server = StdioServer(name="s", command="my-server", args=("-v",), env={"TOKEN": "t"})
    environ = {"PATH": f"{program.parent}:/usr/bin", "HOME": "/home/u", "SECRET": "s3"}
    command, args, env = mcp_config.launch_command(server, environ, ["HOME", "PATH", "USER"])
    assert env == {"PATH": f"{program.parent}:/usr/local/bin:/usr/bin:/bin", "HOME": "/home/u",
                   "TOKEN": "t"}  # fmt: skip
    assert os.path.basename(command) == "env"
    assert args == ["-u", "USER", "--", str(program), "-v"]  # dropped by name, never by value
    with pytest.raises(errors.ConfigError, match="'nowhere' is not on PATH"):
        mcp_config.launch_command(StdioServer(name="s", command="nowhere"), environ, [])


# -- where configs come from ---------------------------------------------------------


def test_mcp_config_flag_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = write_json(tmp_path / "a.json", {"mcpServers": {}})
    b = write_json(tmp_path / "b.json", {"mcpServers": {}})
    toml = tmp_path / "c.toml"
    toml.write_text('mcp_config = "a.json"\n')
    monkeypatch.chdir(tmp_path)
    resolved = config.resolve(config_path=toml)
    assert resolved.settings.mcp_config == (str(a),)
    monkeypatch.setenv("TETHER_MCP_CONFIG", f"{a}{os.pathsep}b.json")
    assert config.resolve(config_path=toml).settings.mcp_config == (str(a), str(b))
    flags = {"mcp_config": ["b.json"]}
    assert config.resolve(flags, config_path=toml).settings.mcp_config == (str(b),)  # replaces
    with pytest.raises(errors.ConfigError, match="--mcp-config nope.json: no such file"):
        config.resolve({"mcp_config": ["nope.json"]}, config_path=toml)


def test_a_project_mcp_json_is_used_only_when_the_config_opts_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    (project / "src").mkdir()
    write_json(project / ".mcp.json", {"mcpServers": {"evil": {"command": "rm"}}})
    monkeypatch.chdir(project / "src")
    toml = tmp_path / "c.toml"
    assert config.resolve(config_path=toml).settings.mcp_config == ()  # no opt-in, no servers
    toml.write_text('mcp_config = ".mcp.json"\n')  # the opt-in: the project's, from its root
    assert config.resolve(config_path=toml).settings.mcp_config == (str(project / ".mcp.json"),)
    monkeypatch.chdir(tmp_path)  # a project without one: nothing, and no error
    sources = config.resolve(config_path=toml).settings.mcp_config
    assert mcp_config.load(sources, {}, missing_ok=True) == {}


def test_the_config_file_can_hold_the_servers_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text('[mcp_config.mcpServers.time]\ncommand = "mcp-server-time"\n')
    sources = config.resolve(config_path=toml).settings.mcp_config
    assert sources == (f"{toml}#mcp_config",)
    servers = mcp_config.load(sources, {})
    assert servers["time"] == StdioServer(name="time", command="mcp-server-time", source=sources[0])
    toml.write_text("mcp_config = 3\n")
    with pytest.raises(errors.ConfigError, match="mcp_config must be a path"):
        config.resolve(config_path=toml)
