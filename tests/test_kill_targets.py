"""`tether kill` and `rm --force` signal only the process that holds the session's
lock, verified against the record it wrote there, at any moment of a run (issue 13,
items 6 and 12).

The harness's first second or so goes to loading the SDKs, before it writes
`session.status_running`. To hit that window every time, the harness here runs with
a `sitecustomize` that makes `import anthropic` take a few seconds, as a slow disk
would: a real delay in the real process, nothing patched.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path

import pytest
from e2e import (
    assert_invariants,
    finish,
    finished,
    json_lines,
    of_type,
    only_session_id,
    run,
    session_events,
    start,
    wait_for,
    wait_for_event,
)
from fakeapi import FakeAPI, text, tool_use

from tether.core import events as ev
from tether.core import holder, procs
from tether.core.exit_codes import ExitCode
from tether.core.store import SessionLog, SessionStore, lock_held

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_client")]

SLOW_IMPORT = """\
import importlib.abc, os, sys, time

class _SlowAnthropic(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "anthropic":
            time.sleep(float(os.environ.get("TETHER_TEST_SLOW_IMPORT_S", "0")))
        return None

sys.meta_path.insert(0, _SlowAnthropic())
"""


@pytest.fixture
def slow_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """`env`, with `import anthropic` taking 4 s in the harness."""
    site = tmp_path / "slow-site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SLOW_IMPORT)
    return env | {"PYTHONPATH": str(site), "TETHER_TEST_SLOW_IMPORT_S": "4"}


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[bytes]]:
    """An unrelated process that must survive: it gets any pid a stale record names."""
    process = subprocess.Popen(["sleep", "300"])
    yield process
    process.kill()
    process.wait()


def locked_session(timeout: float = 30) -> SessionLog:
    """The only session, once a process holds its lock and has begun its log (the store
    takes the lock first, then writes the first event)."""

    def found() -> SessionLog | None:
        ids = SessionStore().ids()
        session = SessionLog(SessionStore().root / ids[0]) if ids else None
        if session is None or not session.log_path.exists():
            return None
        return session if lock_held(session.lock_path) else None

    return wait_for(found, timeout, "a locked session")


def crashed_session(session_id: str, pid: int) -> None:
    """A session whose harness died: its last status is `running`, with `pid`."""
    session = SessionStore().create(ev.SessionCreated(model="claude-test"), session_id)
    session.append_many(
        [ev.UserMessage(content="hello"), ev.StatusRunning(pid=pid, host=socket.gethostname())]
    )
    session.close()


def test_kill_in_the_first_seconds_of_a_run_stops_it(api: FakeAPI, slow_env: dict) -> None:
    api.add(text("never asked"))
    harness = start(["run", "--json", "go"], slow_env)
    session = locked_session()
    assert not of_type(session.read(), ev.StatusRunning)  # still loading the SDK

    killed = run(["kill", session.id, "--grace", "20"], slow_env)
    assert killed.returncode == 0, killed.stderr
    assert f"{session.id}: stopped" in killed.stdout
    stdout, _ = harness.communicate(timeout=60)
    assert harness.returncode == ExitCode.TERMINATED
    final = json_lines(stdout)[-1]
    assert final["type"] == "result" and final["stop_reason"] == "terminated"
    events = session_events()
    assert not of_type(events, ev.StatusRunning) and not api.requests
    assert of_type(events, ev.UserInterrupt)[-1].reason == "kill"
    assert isinstance(events[-1], ev.StatusTerminated) and events[-1].by == "kill"
    assert_invariants(events)

    api.add(text("resumed"))
    assert (
        run(["resume", session.id], slow_env | {"TETHER_TEST_SLOW_IMPORT_S": "0"}).returncode == 0
    )


def test_kill_of_a_resumed_crash_spares_the_process_that_took_the_dead_pid(
    api: FakeAPI, slow_env: dict, bystander: subprocess.Popen[bytes]
) -> None:
    crashed_session("crashed1", bystander.pid)
    api.add(text("never asked"))
    harness = start(["resume", "crashed1", "go on"], slow_env)
    locked_session()
    killed = run(["kill", "crashed1", "--grace", "20"], slow_env)
    assert killed.returncode == 0, killed.stderr
    assert finish(harness) == ExitCode.TERMINATED
    time.sleep(0.2)
    assert bystander.poll() is None, "the bystander that got the dead harness's pid was signalled"
    assert isinstance(session_events("crashed1")[-1], ev.StatusTerminated)


def test_kill_of_a_crashed_session_signals_nobody(
    api: FakeAPI, env: dict, bystander: subprocess.Popen[bytes]
) -> None:
    crashed_session("crashed1", bystander.pid)
    killed = run(["kill", "crashed1"], env)
    assert killed.returncode == 0 and "cleaned up" in killed.stdout, killed.stderr
    time.sleep(0.2)
    assert bystander.poll() is None
    events = session_events("crashed1")
    assert [e.TYPE for e in events[-2:]] == [ev.UserInterrupt.TYPE, ev.StatusTerminated.TYPE]


def hold_lock(lock_path: Path) -> subprocess.Popen[str]:
    """A process that holds the lock and writes no record (an older tether, say)."""
    script = textwrap.dedent(
        f"""
        import fcntl, os, sys, time
        fd = os.open({str(lock_path)!r}, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        print("locked", flush=True)
        time.sleep(300)
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "locked"
    return process


@pytest.mark.parametrize("record", ["none", "stale pid", "wrong start time", "other host"])
def test_kill_refuses_a_lock_holder_it_cannot_verify(
    record: str, env: dict, bystander: subprocess.Popen[bytes]
) -> None:
    crashed_session("held1", bystander.pid)
    lock_path = SessionStore().root / "held1" / "lock"
    locker = hold_lock(lock_path)
    try:
        me = holder.this_process("harness")
        forged = {
            "none": None,
            "stale pid": replace(me, pid=bystander.pid, start="1"),
            "wrong start time": replace(me, pid=locker.pid, start="7"),
            "other host": replace(me, pid=locker.pid, host="elsewhere"),
        }[record]
        lock_path.write_text("" if forged is None else json.dumps(asdict(forged)))
        killed = run(["kill", "held1", "--grace", "1"], env)
        assert killed.returncode == ExitCode.BUSY, killed.stderr
        assert "Traceback" not in killed.stderr
        says = "runs on host elsewhere" if record == "other host" else "cannot verify"
        assert says in killed.stderr
        time.sleep(0.2)
        assert bystander.poll() is None and locker.poll() is None, "something was signalled"
    finally:
        locker.kill()
        locker.wait()


def test_the_lock_file_names_the_harness(api: FakeAPI, slow_env: dict) -> None:
    api.add(text("ok"))
    harness = start(["run", "go"], slow_env)
    session = locked_session()
    recorded = wait_for(lambda: holder.read(session.lock_path), 5, "a record")
    assert recorded.pid == harness.pid and recorded.role == "harness"
    assert holder.matches(recorded)
    assert finish(harness) == 0


# -- 12: rm --force on a running session ---------------------------------------------------


def test_rm_force_stops_a_running_session_first(
    api: FakeAPI,
    env: dict,
    docker_client,
    tether_home: Path,  # type: ignore[no-untyped-def]
) -> None:
    api.add(tool_use("bash", {"command": "echo kept > /workspace/f; sleep 60"}))
    harness = start(["run", "go"], env)
    wait_for_event(ev.SandboxProvisioned)
    wait_for_event(ev.AgentToolUse)
    session_id = only_session_id()
    label = f"tether.session={session_id}"
    assert docker_client.volumes.list(filters={"label": label})

    refused = run(["rm", session_id], env)
    assert refused.returncode == ExitCode.BUSY and "--force" in refused.stderr

    removed = run(["rm", session_id, "--force"], env)
    assert removed.returncode == 0, removed.stderr
    assert f"removed {session_id}" in removed.stdout
    assert finish(harness) == ExitCode.TERMINATED
    assert not (tether_home / "sessions" / session_id).exists()
    assert not docker_client.containers.list(all=True, filters={"label": label})
    assert not docker_client.volumes.list(filters={"label": label})


def test_rm_force_in_the_first_seconds_of_a_run(
    api: FakeAPI, slow_env: dict, tether_home: Path
) -> None:
    api.add(text("never asked"))
    harness = start(["run", "go"], slow_env)
    session = locked_session()
    removed = run(["rm", session.id, "--force"], slow_env)
    assert removed.returncode == 0, removed.stderr
    done = finished(harness)
    assert done.returncode == ExitCode.TERMINATED, done.stderr
    assert not session.dir.exists() and not api.requests


def test_a_lock_holder_record_survives_no_reuse_of_its_pid() -> None:
    """The record names one process: a new process under the same pid does not match."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        record = replace(holder.this_process("harness"), pid=child.pid)
        record = replace(record, start=procs.start_time(child.pid))
        assert holder.matches(record)
        assert not holder.matches(replace(record, start=str(int(record.start or 0) - 1)))
        process = holder.open_process(record)
        assert process is not None
    finally:
        child.kill()
        child.wait()
    assert not holder.matches(record) and holder.open_process(record) is None
    process.signal(signal.SIGTERM)  # a handle on a dead process signals nothing, raises nothing
    process.close()
