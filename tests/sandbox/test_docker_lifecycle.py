"""Containers as cattle: lost, replaced, contained, cleaned up; each test has its own."""

from __future__ import annotations

import contextlib
import resource
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sandboxes import TEST_IMAGE

from tether.core import errors
from tether.core.sandbox import (
    DockerSandbox,
    Resources,
    engine,
    owner,
    remove_session_resources,
    session_containers,
    sweep,
)

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


def test_sweep_removes_only_this_homes_containers_whose_maker_is_dead(
    make_sandbox: Make, docker_client
) -> None:
    live_box, live = make_sandbox()  # made by this (live) process
    gone = subprocess.Popen(["sleep", "60"])
    dead_maker = f"{owner.current().rsplit('/', 2)[0]}/{gone.pid}/{start_ticks(gone.pid)}"
    gone.kill()
    gone.wait()
    ours = {**engine.labels(live.session_id), engine.LABEL_OWNER: dead_maker}
    theirs = {**ours, engine.LABEL_HOME: "0123456789ab"}  # another data dir
    elsewhere = {**ours, engine.LABEL_OWNER: "other-boot/4026531836/1/1"}  # another machine
    made = [
        docker_client.containers.create(TEST_IMAGE, ["true"], labels=labels, network_mode="none")
        for labels in (ours, theirs, elsewhere)
    ]
    try:
        assert sweep() == [made[0].id]
        kept = {c.id for c in session_containers(live.session_id)}
        assert kept == {live_box.container_id, made[2].id}  # theirs is not ours to list
        assert remove_session_resources(live.session_id, volume=True) == 3  # and a volume
        assert docker_client.containers.get(made[1].id)  # theirs stays
    finally:
        made[1].remove(force=True)


def start_ticks(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2 :].split()[19]


def test_owner_labels_name_a_process_beyond_doubt() -> None:
    me = owner.current()
    assert not owner.proven_dead(me)
    boot, namespace, pid, start = me.split("/")
    assert owner.proven_dead(f"{boot}/{namespace}/{pid}/{int(start) + 1}")  # a reused pid
    assert owner.proven_dead(f"{boot}/{namespace}/999999999/1")  # no such process
    for label in ("", "x", f"other/{namespace}/999999999/1", f"{boot}/other/999999999/1"):
        assert not owner.proven_dead(label)


def test_provision_timings_are_reported(make_sandbox: Make) -> None:
    start = time.monotonic()
    box, resources = make_sandbox()
    assert time.monotonic() - start < 5
    provisioned = box.provision(resources)
    assert 0 < provisioned.duration_ms < 5000 and provisioned.image == resources.image
