"""Containers as cattle: lost, replaced, contained, cleaned up; each test has its own."""

from __future__ import annotations

import contextlib
import resource
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tether.core import errors
from tether.core.events import SessionCreated
from tether.core.sandbox import (
    DockerSandbox,
    Resources,
    remove_session_resources,
    session_containers,
    sweep,
)
from tether.core.store import SessionStore

pytestmark = pytest.mark.docker
Make = Callable[..., tuple[DockerSandbox, Resources]]


def test_kill_mid_command_loses_the_sandbox_and_keeps_the_workspace(
    make_sandbox: Make, docker_client
) -> None:
    box, resources = make_sandbox()
    box.execute("write", {"file_path": "notes.txt", "content": "before the kill"})
    container_id = box.container_id
    killer = threading.Timer(0.5, lambda: docker_client.api.kill(container_id))
    killer.start()
    with pytest.raises(errors.SandboxLost):
        box.execute("bash", {"command": "sleep 30"})
    with pytest.raises(errors.SandboxLost):  # and it stays lost until provisioned again
        box.execute("bash", {"command": "true"})
    provisioned = box.provision(resources)
    assert provisioned.container_id != container_id
    assert box.execute("bash", {"command": "cat notes.txt"}).content == "before the kill"
    assert [c.id for c in session_containers(resources.session_id)] == [box.container_id]


def test_removed_while_idle_is_lost_on_the_next_call(make_sandbox: Make, docker_client) -> None:
    box, resources = make_sandbox()
    docker_client.api.remove_container(box.container_id, force=True)
    with pytest.raises(errors.SandboxLost):
        box.execute("read", {"file_path": "x"})
    box.release()
    box.release()  # idempotent


def test_a_shell_that_dies_is_replaced_in_the_same_container(make_sandbox: Make) -> None:
    box, _ = make_sandbox()
    result = box.execute("bash", {"command": "kill -9 $$; sleep 5"})
    assert result.is_error and "fresh shell" in result.content
    assert box.execute("bash", {"command": "echo back"}).content == "back"


def test_fork_bomb_is_contained(make_sandbox: Make, docker_client) -> None:
    box, resources = make_sandbox(pids_limit=64)
    bomb = box.execute("bash", {"command": ":(){ :|:& };:", "timeout_ms": 2000})
    assert bomb.duration_ms < 15000  # it returns (the bomb goes on in the background)
    with contextlib.suppress(errors.SandboxLost):  # lost is fine: the harness replaces it
        box.execute("bash", {"command": "echo alive", "timeout_ms": 2000})
    stats = docker_client.api.stats(box.container_id, stream=False)
    assert stats["pids_stats"]["current"] <= 64
    box.provision(resources)  # the host is fine and a replacement comes up at once
    assert box.execute("bash", {"command": "echo alive"}).content == "alive"


def test_a_flood_of_output_leaves_memory_flat(make_sandbox: Make) -> None:
    box, _ = make_sandbox(max_output=32 * 1024 * 1024)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    command = "head -c 300000000 /dev/zero | tr '\\0' x; echo END"
    result = box.execute("bash", {"command": command, "timeout_ms": 120000})
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert (
        result.truncated
        and "the first 33554432 bytes are in /tmp/tether/outputs/" in result.content
    )
    assert "266445572 bytes past the 33554432-byte output cap were dropped" in result.content
    assert len(result.content) < 110 * 1024 and result.content.endswith("xxxEND")
    assert grown_kib < 20 * 1024, f"peak RSS grew by {grown_kib} KiB"


def test_host_directory_workspace(make_sandbox: Make, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir(mode=0o777)
    workspace.chmod(0o777)  # the sandbox user need not be this process's user
    (workspace / "from-host.txt").write_text("hi from the host\n")
    box, _ = make_sandbox(workspace=str(workspace))
    assert box.execute("read", {"file_path": "from-host.txt"}).content == "     1\thi from the host"
    box.execute("write", {"file_path": "from-box.txt", "content": "hi back"})
    assert (workspace / "from-box.txt").read_text() == "hi back"


def test_missing_image_says_how_to_build_one(docker_client) -> None:
    box = DockerSandbox(on_pull=lambda progress: None)
    resources = Resources(session_id="t-noimage", image="127.0.0.1:9/tether/none:latest")
    with pytest.raises(errors.ImageNotFound, match="tests/build-image.sh"):
        box.provision(resources)


def test_engine_down_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")
    box = DockerSandbox()
    with pytest.raises(errors.EngineUnavailable, match="is dockerd running"):
        box.provision(Resources(session_id="t-noengine", image="x"))
    with pytest.raises(errors.EngineUnavailable):
        session_containers()


def test_sweep_removes_only_containers_without_a_live_harness(make_sandbox: Make) -> None:
    store = SessionStore()
    live = store.create(SessionCreated(model="m"))  # holds its lock, like a running harness
    dead = store.create(SessionCreated(model="m"))
    dead.close()
    live_box, _ = make_sandbox(session_id=live.id)
    dead_box, _ = make_sandbox(session_id=dead.id)
    swept = sweep(store)
    assert swept == [dead_box.container_id]
    assert [c.id for c in session_containers(live.id)] == [live_box.container_id]
    assert remove_session_resources(live.id, volume=True) == 2  # container and volume
    assert session_containers(live.id) == []
    live.close()


def test_provision_timings_are_reported(make_sandbox: Make) -> None:
    start = time.monotonic()
    box, resources = make_sandbox()
    assert time.monotonic() - start < 5
    provisioned = box.provision(resources)
    assert 0 < provisioned.duration_ms < 5000 and provisioned.image == resources.image
