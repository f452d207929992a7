"""The sandbox on engines other than the local socket, through the real CLI: the local
Docker engine reached as `DOCKER_HOST=ssh://user@127.0.0.1` (a throwaway sshd), and
podman's Docker-compatible API. Hardening, the persistent shell, timeouts, files,
a lost container replaced with the workspace kept, and `doctor` naming the engine."""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import e2e
import engines
import pytest
from e2e import IN_CI, TEST_IMAGE
from fakeapi import FakeAPI, text, tool_use

from tether.core import events as ev
from tether.core.exit_codes import ExitCode

pytestmark = [pytest.mark.docker, pytest.mark.slow]

PROBE = (
    "id -u; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status;"
    " cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes;"
    " cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max;"
    " ls /sys/class/net; test -e /var/run/docker.sock && echo SOCKET;"
    " env | grep -c ANTHROPIC; true"
)


@pytest.fixture(scope="module", params=["ssh", "podman"])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, docker_client: Any
) -> Iterator[engines.Engine]:
    problem = engines.missing(request.param)
    if request.param == "ssh" and importlib.util.find_spec("paramiko") is None:
        problem = "paramiko is not installed (pip install 'docker[ssh]')"
    if problem:
        (pytest.fail if IN_CI else pytest.skip)(f"{request.param}: {problem}")
    work = tmp_path_factory.mktemp(request.param)
    if request.param == "ssh":
        started = engines.start_ssh(work)
    else:
        started = engines.start_podman(work, [TEST_IMAGE])
    yield started
    started.stop()


@pytest.fixture
def on_engine(engine: engines.Engine, env: dict[str, str], tether_home: Path) -> Iterator[dict]:
    """This test's tether environment, pointed at `engine`; its sandboxes removed after."""
    yield engine.client_env(env)
    remove_sandboxes(engine, e2e.home_labels(tether_home))


def test_doctor_names_the_engine_and_its_kind(engine: engines.Engine, on_engine: dict) -> None:
    report = json.loads(e2e.run(["doctor", "--json"], on_engine).stdout)
    check = next(c for c in report["checks"] if c["name"] == "docker engine")
    assert check["status"] == "ok", check
    if engine.kind == "podman":
        assert check["detail"].startswith("Podman ") and "unix socket" in check["detail"]
    else:
        assert check["detail"].startswith("Docker ") and " over ssh " in check["detail"]
    assert engine.docker_host in check["detail"]


def test_the_sandbox_works_unchanged(api: FakeAPI, on_engine: dict) -> None:
    api.add(
        tool_use("bash", {"command": PROBE}),
        tool_use("bash", {"command": "cd /tmp && export COLOUR=teal"}),
        tool_use("bash", {"command": "pwd; echo $COLOUR"}),
        tool_use("bash", {"command": "sleep 30", "timeout_ms": 1000}),
        tool_use("write", {"file_path": "/workspace/notes.txt", "content": "kept\n"}),
        tool_use("bash", {"command": "echo alive; cat /workspace/notes.txt"}),
        text("Done."),
    )
    result = e2e.run(["run", "--quiet", "check the sandbox"], on_engine, timeout=300)
    assert result.returncode == 0, result.stderr
    outputs = [r.content for r in e2e.of_type(e2e.session_events(), ev.AgentToolResult)]
    uid, caps, no_new_privs, memory, pids, *rest = outputs[0].split("\n")
    assert uid == "1000" and caps.split() == ["CapEff:", "0000000000000000"]
    assert no_new_privs.split() == ["NoNewPrivs:", "1"]
    assert (memory, pids) == (str(2 * 1024**3), "512")
    assert rest == ["lo", "0"]  # no network but loopback, no Docker socket, no API key
    assert outputs[2] == "/tmp\nteal"  # the shell persists between calls
    assert "timed out after 1 s" in outputs[3]
    assert outputs[5] == "alive\nkept"  # and is usable after a timeout
    assert not e2e.of_type(e2e.session_events(), ev.SandboxLost)


def test_a_lost_container_is_replaced_and_the_workspace_kept(
    api: FakeAPI, engine: engines.Engine, on_engine: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.add(
        tool_use("write", {"file_path": "/workspace/a.txt", "content": "before\n"}),
        tool_use("bash", {"command": "sleep 60"}),
        tool_use("bash", {"command": "cat /workspace/a.txt"}),
        text("Done."),
    )
    harness = e2e.start(["run", "--quiet", "survive"], on_engine)
    e2e.wait_for(lambda: _tool_uses() >= 2, timeout=120, what="the sleep")
    time.sleep(0.5)
    with engine_client(engine, monkeypatch) as client:
        labels = [f"tether.session={_only()}", "tether.role=sandbox"]  # not its checkpoint helper
        (container,) = client.containers.list(filters={"label": labels})
        container.kill()
    assert e2e.finish(harness, timeout=180) == 0
    events = e2e.session_events()
    assert len(e2e.of_type(events, ev.SandboxLost)) == 1
    assert len(e2e.of_type(events, ev.SandboxProvisioned)) == 2
    assert e2e.of_type(events, ev.AgentToolResult)[-1].content == "before"


def _tool_uses() -> int:
    try:
        return len(e2e.of_type(e2e.session_events(), ev.AgentToolUse))
    except Exception:  # the session is not there yet
        return 0


def _only() -> str:
    return e2e.only_session_id()


class engine_client:
    """A Docker SDK client for `engine`, in this process (HOME set for the SSH client)."""

    def __init__(self, engine: engines.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
        for name, value in engine.env.items():
            monkeypatch.setenv(name, value)
        self.base_url = engine.docker_host

    def __enter__(self) -> Any:
        import docker

        self.client = docker.DockerClient(base_url=self.base_url, timeout=60)
        return self.client

    def __exit__(self, *exc: object) -> None:
        self.client.close()


def remove_sandboxes(engine: engines.Engine, labels: list[str]) -> None:
    if engine.kind != "podman":
        return  # the local engine: the tether_home fixture cleans it
    import docker

    client = docker.DockerClient(base_url=engine.docker_host, timeout=60)
    for label in labels:
        for container in client.containers.list(all=True, filters={"label": label}):
            container.remove(force=True)
        for volume in client.volumes.list(filters={"label": label}):
            volume.remove(force=True)
    client.close()


def test_a_container_the_engine_will_not_start_is_an_error_that_says_why(
    api: FakeAPI, env: dict[str, str], tmp_path: Path, engine: engines.Engine
) -> None:
    """Not a lost container to replace over and over: one error with the engine's reason,
    exit 7. A podman that asks for more open files than Linux allows anyone (past
    fs.nr_open) is refused by runc on any machine."""
    if engine.kind != "podman":
        pytest.skip("made with podman")
    too_many = int(Path("/proc/sys/fs/nr_open").read_text()) + 1
    refusing = engines.start_podman(tmp_path, [TEST_IMAGE], nofile=too_many)
    try:
        api.add(tool_use("bash", {"command": "ls"}), text("never"))
        result = e2e.run(["run", "go"], refusing.client_env(env), timeout=300)
    finally:
        refusing.stop()
    assert result.returncode == ExitCode.SANDBOX, result.stderr
    assert "could not start the sandbox" in result.stderr and "rlimit" in result.stderr
    events = e2e.session_events()
    assert not e2e.of_type(events, ev.SandboxLost)
    assert e2e.of_type(events, ev.SessionError)[-1].error_type == "sandbox_error"
