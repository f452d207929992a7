"""Helpers for end-to-end tests: the real `tether` command in a subprocess, pointed
at a fake Messages API served from the test process, with a real Docker sandbox."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tether.core import events as ev
from tether.core.store import SessionStore

IN_CI = bool(os.environ.get("CI"))

API_KEY = "sk-ant-test-SECRET-4f2b9c"
# The offline test image (tests/build-image.sh): Debian minbase with git, which the
# workspace's checkpoints need. A new tag whenever its contents change, so machines rebuild.
TEST_IMAGE = os.environ.get("TETHER_TEST_IMAGE", "tether-test:bookworm-git")
TEST_IMAGE_PACKAGES = "git"
TETHER = [sys.executable, "-m", "tether.cli"]


def tether_env(base_url: str, image: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    env.update(
        ANTHROPIC_API_KEY=API_KEY,
        ANTHROPIC_BASE_URL=base_url,
        TETHER_IMAGE=image,
        TETHER_RETRY_BASE_S="0.01",
        NO_COLOR="1",
        COLUMNS="200",
    )
    env.update(extra)
    return env


def run(
    args: list[str],
    env: dict[str, str],
    timeout: float = 90,
    stdin: str | None = "",
    cwd: str | Path | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TETHER, *args], env=env, input=stdin, capture_output=True, text=True, timeout=timeout,
        cwd=cwd,
    )  # fmt: skip


def start(
    args: list[str], env: dict[str, str], cwd: str | Path | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*TETHER, *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 60) -> int:
    """Wait for a started harness to exit, draining its pipes so it can never block on
    them; on a timeout, fail with what it printed."""
    return finished(process, timeout).returncode


def finished(
    process: subprocess.Popen[str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`finish`, keeping what the harness printed (for an assertion's message)."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        try:  # a child it left behind may still hold the pipes open
            _, stderr = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            stderr = "(its pipes stayed open after it was killed)"
        message = f"the harness did not exit in {timeout} s; stderr:\n{stderr}"
        raise AssertionError(message) from None
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def session_events(session_id: str | None = None) -> list[ev.Event]:
    store = SessionStore()
    session = store.open(session_id) if session_id else store.last()
    return session.read()


def only_session_id() -> str:
    ids = SessionStore().ids()
    assert len(ids) == 1, ids
    return ids[0]


def of_type(events: list[ev.Event], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def wait_for(predicate: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def running_in_sandbox(command: str) -> bool:
    """Whether the session's container runs `command` (a call that has really started)."""
    import docker

    client = docker.from_env()
    try:
        label = f"tether.session={only_session_id()}"
        for container in client.containers.list(filters={"label": label}):
            if any(command in " ".join(p) for p in container.top()["Processes"]):
                return True
        return False
    finally:
        client.close()


def wait_for_event(kind: type, timeout: float = 90, count: int = 1) -> ev.Event:
    def found() -> Any:
        try:
            matches = of_type(session_events(), kind)
        except Exception:
            return None
        return matches[count - 1] if len(matches) >= count else None

    return wait_for(found, timeout, f"{count}x {kind.TYPE}")


def kill9(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def json_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def assert_invariants(events: list[ev.Event]) -> None:
    """seq gap-free from 0; every tool call has exactly one result."""
    assert [e.seq for e in events] == list(range(len(events)))
    uses = [e.tool_use_id for e in of_type(events, ev.AgentToolUse)]
    results = [e.tool_use_id for e in of_type(events, ev.AgentToolResult)]
    for use_id in uses:
        assert results.count(use_id) == 1, f"{use_id}: {results.count(use_id)} results"


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def home_labels(home: Path) -> list[str]:
    """The labels of what the data dir `home` made: its id, and (before home ids) its path."""
    labels = [f"tether.home={home / 'sessions'}"]
    id_file = home / "home-id"
    if id_file.exists():
        labels.append(f"tether.home={id_file.read_text().strip()}")
    return labels


def remove_home_sandboxes(home: Path) -> None:
    for label in home_labels(home):
        remove_sandboxes(label)


def remove_sandboxes(label: str) -> None:
    """Remove the containers and volumes carrying `label` (e.g. tether.home=DIR)."""
    try:
        import docker

        client = docker.from_env(timeout=30)
        for container in client.containers.list(all=True, filters={"label": label}):
            container.remove(force=True)
        for volume in client.volumes.list(filters={"label": label}):
            volume.remove(force=True)
        client.close()
    except Exception:  # no engine here: nothing can have been left on it
        pass
