"""Infrastructure faults, each with its expected outcome: the container killed, the
Docker engine restarted, the disk full, a torn and a garbage line, and twenty
sessions at once. The real CLI in subprocesses, real Docker, the real SDK over
HTTP to the fake Messages API."""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from e2e import TEST_IMAGE, assert_invariants, of_type, run, start, tether_env
from fakeapi import FakeAPI, Reply, Request, text, tool_use
from faults import (
    COUNTER,
    RUNS,
    SecondEngine,
    StepScript,
    WorkspaceReader,
    can_run_a_second_engine,
    check_runs,
    check_seqs,
    check_tool_pairs,
    is_cut_short,
    parse_log,
    remove_home_resources,
    tmpfs,
)

from tether.core import events as ev
from tether.core.exit_codes import ExitCode
from tether.core.sandbox.engine import LABEL_SESSION, volume_name

pytestmark = pytest.mark.docker
SEED = int(os.environ.get("TETHER_CHAOS_SEED", "20261124"))


@pytest.fixture(autouse=True)
def no_leftovers(docker_client, tether_home: Path) -> Iterator[None]:  # type: ignore[no-untyped-def]
    yield
    remove_home_resources(docker_client, tether_home)


def new_session_id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:8]}"


def log_path(home: Path, session_id: str) -> Path:
    return home / "sessions" / session_id / "events.jsonl"


def check_log(path: Path, *, garbage_ok: int = 0) -> list[ev.Event]:
    """The whole log parses, seq has no gaps, every call has exactly one result."""
    events = parse_log(path, garbage_ok=garbage_ok)
    check_seqs(events)
    check_tool_pairs(events, all_closed=True)
    assert_invariants(events)
    return events


def last_status(events: list[ev.Event]) -> ev.Event:
    return [e for e in events if isinstance(e, ev.StatusRunning | ev.StatusIdle)][-1]


def ended_its_turn(events: list[ev.Event]) -> bool:
    status = last_status(events)
    return isinstance(status, ev.StatusIdle) and status.stop_reason == "end_turn"


# ---------------------------------------------------------------- the container killed


def provisioned_ids(log: Path) -> list[str]:
    events = parse_log(log, torn_tail_ok=True) if log.exists() else []
    return [e.container_id for e in of_type(events, ev.SandboxProvisioned)]


def kill_containers(
    client: Any, log: Path, rng: random.Random, count: int, done: threading.Event
) -> list[str]:
    """Kill the session's container `count` times, each a random moment after it is ready."""
    killed: list[str] = []
    while len(killed) < count and not done.is_set():
        fresh = [cid for cid in provisioned_ids(log) if cid not in killed]
        if not fresh:
            time.sleep(0.02)
            continue
        time.sleep(rng.uniform(0.1, 1.2))
        try:
            client.api.kill(fresh[-1])
        except Exception:  # gone already: the harness ended meanwhile
            return killed
        killed.append(fresh[-1])
    return killed


@pytest.mark.slow
def test_a_killed_container_is_a_tool_error_and_the_session_carries_on(
    docker_client, test_image: str, tether_home: Path
) -> None:
    script = StepScript([[n] for n in range(1, 13)], sleep_s=0.5)
    session_id = new_session_id("container-kill")
    log = log_path(tether_home, session_id)
    done = threading.Event()
    with FakeAPI(responder=script) as api, ThreadPoolExecutor(1) as pool:
        harness = start(
            ["run", "--session-id", session_id, "count"], tether_env(api.base_url, test_image)
        )
        killer = pool.submit(kill_containers, docker_client, log, random.Random(SEED), 3, done)
        _, stderr = harness.communicate(timeout=120)
        done.set()
        killed = killer.result(timeout=30)
    assert harness.returncode == 0, stderr
    assert len(killed) == 3, f"only {len(killed)} kills landed (seed {SEED})"

    events = check_log(log)
    assert ended_its_turn(events)
    lost = of_type(events, ev.SandboxLost)
    assert [e.container_id for e in lost] == killed  # each noticed once, and no other
    provisioned = provisioned_ids(log)
    assert len(provisioned) == len(set(provisioned)) == 4  # a fresh container after each
    lost_results = [r for r in of_type(events, ev.AgentToolResult) if is_cut_short(r)]
    assert len(lost_results) == 3
    assert all("sandbox container was lost" in r.content for r in lost_results)
    with WorkspaceReader(docker_client, test_image, session_id) as reader:
        assert reader.lines(COUNTER) == script.calls  # the workspace outlived its containers
        check_runs(events, reader.lines(RUNS))


def kill_on_start(client: Any, session_id: str, killed: list[str]) -> threading.Thread:
    """A thread that kills the session's first sandbox the moment the engine starts it,
    before its shell is up (the stream is open before this returns)."""
    labels = [f"{LABEL_SESSION}={session_id}", "tether.role=sandbox"]
    stream = client.api.events(
        decode=True, until=int(time.time()) + 60, filters={"label": labels, "event": "start"}
    )

    def kill_first() -> None:
        for event in stream:
            client.api.kill(event["id"])
            killed.append(event["id"])
            return

    thread = threading.Thread(target=kill_first, daemon=True)
    thread.start()
    return thread


def test_a_container_killed_while_it_is_provisioned_is_a_tool_error_too(
    docker_client, test_image: str, tether_home: Path
) -> None:
    script = StepScript([[1], [2]], sleep_s=0.0)
    session_id = new_session_id("provision-kill")
    killed: list[str] = []
    with FakeAPI(responder=script) as api:
        killer = kill_on_start(docker_client, session_id, killed)
        result = run(
            ["run", "--session-id", session_id, "count"], tether_env(api.base_url, test_image)
        )
        killer.join(timeout=10)
    events = check_log(log_path(tether_home, session_id))
    assert killed, "the container was never killed"
    if killed[0] in [e.container_id for e in of_type(events, ev.SandboxProvisioned)]:
        pytest.skip("the kill landed after the shell was ready: not the case under test")
    assert result.returncode == 0, result.stderr
    assert ended_its_turn(events)
    assert of_type(events, ev.SandboxLost)
    with WorkspaceReader(docker_client, test_image, session_id) as reader:
        assert reader.lines(COUNTER) == script.calls


# ---------------------------------------------------------------- the engine restarted


@pytest.fixture(scope="module")
def second_engine(docker_client) -> Iterator[SecondEngine]:  # type: ignore[no-untyped-def]
    """A dockerd of our own with the test image, removed after the module's tests."""
    problem = can_run_a_second_engine()
    if problem:
        pytest.skip(problem)
    engine = SecondEngine()
    try:
        engine.start()
        engine.load_image(docker_client, TEST_IMAGE)
        yield engine
    finally:
        engine.close()


def wait_for_events(
    log: Path, kind: type[ev.Event], count: int, harness: subprocess.Popen[str]
) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and harness.poll() is None:
        if log.exists() and len(of_type(parse_log(log, torn_tail_ok=True), kind)) >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"no {kind.TYPE} #{count} (harness exit {harness.poll()})")


@pytest.mark.slow
@pytest.mark.parametrize(
    "during,kind,slow_turns",
    [
        ("a tool call", ev.AgentToolUse, frozenset()),  # call02 sleeps 1.2 s
        ("a model stream", ev.ModelRequestStart, frozenset({1})),  # turn 1 streams for 2.4 s
    ],
)
def test_an_engine_restart_mid_session_recovers_or_idles_with_a_clear_error(
    second_engine: SecondEngine,
    test_image: str,
    tether_home: Path,
    during: str,
    kind: type[ev.Event],
    slow_turns: frozenset[int],
) -> None:
    script = StepScript(
        [[1], [2], [3], [4]], sleep_s=1.2, slow_turns=slow_turns, stream_delay_s=0.06
    )
    session_id = new_session_id("engine-restart")
    log = log_path(tether_home, session_id)
    with FakeAPI(responder=script) as api:
        env = tether_env(api.base_url, test_image, DOCKER_HOST=second_engine.url)
        harness = start(["run", "--session-id", session_id, "count"], env)
        wait_for_events(log, kind, 2, harness)
        time.sleep(0.3)
        second_engine.restart()
        _, stderr = harness.communicate(timeout=120)
        events = check_log(log)
        print(f"engine restart during {during}: harness exit {harness.returncode}")
        if harness.returncode == 0:  # the engine was back before the harness needed it
            assert len(of_type(events, ev.SandboxLost)) == 1
            assert len(of_type(events, ev.SandboxProvisioned)) == 2
        else:
            assert harness.returncode == ExitCode.SANDBOX, stderr
            assert "error: cannot reach the Docker engine" in stderr, stderr
            assert "Traceback" not in stderr, stderr
            error = of_type(events, ev.SessionError)[-1]
            assert "Docker engine" in error.message and error.retry_status == "terminal"
            status = last_status(events)
            assert isinstance(status, ev.StatusIdle) and status.stop_reason == "error"
            resumed = run(["resume", "--last"], env, timeout=120)
            assert resumed.returncode == 0, resumed.stderr
            events = check_log(log)
    assert ended_its_turn(events)
    client = second_engine.client()
    with contextlib.closing(client), WorkspaceReader(client, test_image, session_id) as ws:
        assert ws.lines(COUNTER) == script.calls  # the volume outlived the restart
        check_runs(events, ws.lines(RUNS))


# ---------------------------------------------------------------- the disk full


def fill(directory: Path, leave_bytes: int) -> Path:
    """A filler file that leaves about `leave_bytes` free on `directory`'s file system."""
    stats = os.statvfs(directory)
    free = stats.f_bavail * stats.f_frsize
    filler = directory / "filler"
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free - leave_bytes))
    return filler


def containers_of(client: Any, session_id: str) -> list[Any]:
    return client.containers.list(filters={"label": f"{LABEL_SESSION}={session_id}"})


@pytest.fixture
def full_disk_home(tether_home: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    with tmpfs(tether_home, "4m"):
        yield tether_home


DISK_SCRIPT = StepScript([[n] for n in range(1, 13)], sleep_s=0.0, output_bytes=90_000)


def run_until_the_disk_fills(home: Path, env: dict[str, str]) -> tuple[str, Path]:
    """A session whose tool outputs fill the disk: it stops with a clear error."""
    session_id = new_session_id("disk-full")
    filler = fill(home, leave_bytes=600_000)
    # A 1M window: the script reads what is done from the conversation, which a
    # compaction would replace (1 MB of output is past the default window).
    window = ["--context-window", "1000000"]
    full = run(["run", "--session-id", session_id, *window, "fill it"], env, timeout=120)
    assert full.returncode == ExitCode.ERROR, full.stderr
    assert "No space left on device" in full.stderr and "could not write" in full.stderr
    assert "Traceback" not in full.stderr and "unexpected" not in full.stderr
    return session_id, filler


@pytest.mark.slow
def test_a_full_disk_is_a_clear_error_with_no_torn_line_and_resumes_once_freed(
    full_disk_home: Path, test_image: str, docker_client
) -> None:
    with FakeAPI(responder=DISK_SCRIPT) as api:
        env = tether_env(api.base_url, test_image)
        session_id, filler = run_until_the_disk_fills(full_disk_home, env)
        assert containers_of(docker_client, session_id) == []  # released all the same
        log = log_path(full_disk_home, session_id)
        events = parse_log(log)  # every line parses: the failed append was cut back
        check_seqs(events)
        check_tool_pairs(events, all_closed=False)
        assert 0 < len(of_type(events, ev.AgentToolResult)) < len(DISK_SCRIPT.calls)
        still_full = run(["resume", "--last"], env, timeout=120)
        assert still_full.returncode == ExitCode.ERROR and "No space left" in still_full.stderr
        parse_log(log)

        filler.unlink()
        resumed = run(["resume", "--last"], env, timeout=120)
        assert resumed.returncode == 0, resumed.stderr
        events = check_log(log)
        assert ended_its_turn(events)
        with WorkspaceReader(docker_client, test_image, session_id) as reader:
            assert reader.lines(COUNTER) == DISK_SCRIPT.calls
            check_runs(events, reader.lines(RUNS))


# ---------------------------------------------------------------- torn and garbage lines


def test_a_torn_last_line_is_cut_and_a_garbage_line_skipped_on_resume(
    test_image: str, tether_home: Path
) -> None:
    script = StepScript([[1], [2]], sleep_s=0.0)
    session_id = new_session_id("torn")
    log = log_path(tether_home, session_id)
    with FakeAPI(responder=script) as api:
        env = tether_env(api.base_url, test_image)
        assert run(["run", "--session-id", session_id, "go"], env).returncode == 0
        lines = log.read_bytes().splitlines(keepends=True)
        garbage = b"}{ not an event \xff\xfe\n"
        torn = b'{"v":1,"seq":%d,"id":"ev_torn","ts":"2026-' % len(lines)
        log.write_bytes(b"".join(lines[:4]) + garbage + b"".join(lines[4:]) + torn)

        resumed = run(["resume", session_id, "once more"], env)
        assert resumed.returncode == 0, resumed.stderr
        assert "skipping a bad line" in resumed.stderr
        assert "cutting a torn last line" in resumed.stderr
        data = log.read_bytes()
        assert garbage in data and b"ev_torn" not in data  # never rewritten; only the tail cut
        events = check_log(log, garbage_ok=1)
        assert len(events) > len(lines)
        messages = api.requests[-1].body["messages"]
        assert messages[-1]["content"][-1]["text"] == "once more"
        assert len(messages) == 7  # go, call01, its result, call02, its result, done, once more
    tail = run(["tail", session_id, "--json", "-n", "1000"], env)
    assert tail.returncode == 0 and len(tail.stdout.splitlines()) == len(events)


# ---------------------------------------------------------------- twenty at once


def marker_responder(request: Request) -> Reply:
    """Write the marker named in the first user message, read it back, say what was read."""
    messages = request.body["messages"]
    marker = messages[0]["content"][0]["text"].split()[-1]
    results = [
        block
        for message in messages
        if message["role"] == "user"
        for block in message["content"]
        if block.get("type") == "tool_result"
    ]
    if not results:
        return tool_use("bash", {"command": f"echo {marker} > /workspace/marker; sleep 0.5"})
    if len(results) == 1:
        return tool_use("bash", {"command": "cat /workspace/marker"})
    return text(f"I read {results[-1]['content']}")


@pytest.mark.slow
def test_twenty_sessions_at_once_all_finish_without_cross_talk(
    test_image: str, tether_home: Path, docker_client
) -> None:
    markers = {f"many-{n:02d}-{uuid.uuid4().hex[:6]}": f"marker-{n:02d}" for n in range(20)}
    with FakeAPI(responder=marker_responder) as api:
        env = tether_env(api.base_url, test_image)
        limits = ["--memory", "256m", "--cpus", "0.5"]
        harnesses = {
            session_id: start(["run", "--session-id", session_id, *limits, f"write {marker}"], env)
            for session_id, marker in markers.items()
        }
        outputs = {sid: h.communicate(timeout=240) for sid, h in harnesses.items()}
    for session_id, harness in harnesses.items():
        assert harness.returncode == 0, outputs[session_id][1]
    for session_id, marker in markers.items():
        check_session_alone(tether_home, session_id, marker, set(markers.values()) - {marker})
    assert markers_in_volumes(docker_client, test_image, list(markers)) == markers


def markers_in_volumes(client: Any, image: str, session_ids: list[str]) -> dict[str, str]:
    """What each session's workspace volume holds in its marker file, read in one container."""
    mounts = {volume_name(sid): {"bind": f"/v/{sid}", "mode": "ro"} for sid in session_ids}
    script = 'for d in /v/*; do echo "${d#/v/}" "$(cat "$d"/marker)"; done'
    output = client.containers.run(
        image, ["sh", "-c", script], volumes=mounts, network_mode="none", remove=True
    )
    return dict(line.split(" ", 1) for line in output.decode().splitlines())


def check_session_alone(home: Path, session_id: str, marker: str, others: set[str]) -> None:
    log = log_path(home, session_id)
    events = check_log(log)
    assert ended_its_turn(events)
    created = events[0]
    assert isinstance(created, ev.SessionCreated) and created.session_id == session_id
    results = of_type(events, ev.AgentToolResult)
    assert [r.content for r in results][-1] == marker
    assert of_type(events, ev.AgentMessage)[-1].content == f"I read {marker}"
    provisioned = of_type(events, ev.SandboxProvisioned)
    assert len(provisioned) == 1
    data = log.read_text()
    assert not [other for other in others if other in data], f"{session_id} saw another marker"
