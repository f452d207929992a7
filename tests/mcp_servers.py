"""The MCP servers the tests talk to, installed by tests/run.sh: `mcp-server-time` from
PyPI (a test extra), `@modelcontextprotocol/server-everything` from npm (in
.mcp-npm/), and tests/mcp_test_server.py (crashes, hangs, reports its env)."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TIME_SERVER = BIN / "mcp-server-time"
TEST_SERVER = ROOT / "tests" / "mcp_test_server.py"
EVERYTHING = ROOT / ".mcp-npm" / "node_modules" / "@modelcontextprotocol" / "server-everything"
EVERYTHING_MAIN = EVERYTHING / "dist" / "index.js"


def require(path: Path, what: str) -> None:
    """Skip without `path` on a developer's machine; in CI a missing server is a failure."""
    if path.exists():
        return
    message = f"{what} is not installed at {path}; run tests/run.sh"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def time_server() -> dict[str, Any]:
    require(TIME_SERVER, "mcp-server-time")
    return {"command": str(TIME_SERVER)}


def everything_stdio() -> dict[str, Any]:
    require(EVERYTHING_MAIN, "@modelcontextprotocol/server-everything")
    return {"command": "node", "args": [str(EVERYTHING_MAIN), "stdio"]}


def scripted_server(*args: str, **env: str) -> dict[str, Any]:
    if importlib.util.find_spec("mcp") is None:  # a venv made before tether needed it
        require(ROOT / "no-mcp-sdk", "the mcp SDK (pip install -e '.[test]')")
    entry: dict[str, Any] = {"command": sys.executable, "args": [str(TEST_SERVER), *args]}
    if env:
        entry["env"] = env
    return entry


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def http_server(command: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run an MCP server that serves streamable HTTP on `port`; yields its URL."""
    process = subprocess.Popen(
        command, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def everything_http(port: int) -> Any:
    require(EVERYTHING_MAIN, "@modelcontextprotocol/server-everything")
    return http_server(["node", str(EVERYTHING_MAIN), "streamableHttp"], port, {"PORT": str(port)})


def scripted_server_http(port: int) -> Any:
    return http_server([sys.executable, str(TEST_SERVER), "--http", str(port)], port)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the MCP server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port} after {timeout} s")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return False


def pids(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []
