"""Sandboxes belong to one data dir (issue 13, items 2 and 3): the same session id in
two data dirs shares no workspace, `rm` in one never touches the other's, and
starting a session sweeps only sandboxes that are proven ours and proven dead, even
when two data dirs have the same (relative) path or one is a copy of the other.
Sessions made before volumes were scoped keep their volume and `rm` removes it."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from e2e import TEST_IMAGE, TETHER, kill9, of_type, run, wait_for
from fakeapi import FakeAPI, bash, by_prompt, text

from tether.core import events as ev
from tether.core.store import SessionStore

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_client")]


def unique_id() -> str:
    return f"scope-{uuid.uuid4().hex[:10]}"


def home_env(env: dict[str, str], home: Path | str) -> dict[str, str]:
    return {**env, "TETHER_HOME": str(home)}


def events_in(home: Path, session_id: str | None = None) -> list[ev.Event]:
    store = SessionStore(home / "sessions")
    return (store.open(session_id) if session_id else store.last()).read()


def results(home: Path, session_id: str | None = None) -> list[str]:
    return [r.content for r in of_type(events_in(home, session_id), ev.AgentToolResult)]


def start_in(cwd: Path, args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*TETHER, *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def provisioned(home: Path, session_id: str) -> Any:
    def found() -> Any:
        try:
            return of_type(events_in(home, session_id), ev.SandboxProvisioned)
        except Exception:  # not created yet
            return None

    return wait_for(found, 60, f"a sandbox in {home}")


def test_one_session_id_in_two_data_dirs_shares_nothing(
    api: FakeAPI, env: dict, tmp_path: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    session_id = unique_id()
    api.add(bash("echo from-a > mine.txt"), text("ok"))
    assert run(["run", "--session-id", session_id, "go"], home_env(env, a)).returncode == 0
    api.add(bash("cat mine.txt 2>&1; echo from-b > mine.txt"), text("ok"))
    assert run(["run", "--session-id", session_id, "go"], home_env(env, b)).returncode == 0
    assert "No such file" in results(b)[0]
    assert run(["rm", session_id], home_env(env, b)).returncode == 0
    api.add(bash("cat mine.txt"), text("ok"))
    assert run(["resume", session_id, "again"], home_env(env, a)).returncode == 0
    assert results(a)[-1] == "from-a"


def test_a_relative_home_in_two_projects_sweeps_not_the_others_sandbox(
    api: FakeAPI, env: dict, tmp_path: Path
) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    for project in (one, two):
        (project / ".tether").mkdir(parents=True)
    relative = home_env(env, ".tether")
    api.responder = by_prompt(
        {"long": [bash("sleep 8; echo finished"), text("ok")], "short": [bash("true"), text("ok")]}
    )
    session_id = unique_id()
    first = start_in(one, ["run", "--session-id", session_id, "long"], relative)
    provisioned(one / ".tether", session_id)
    second = subprocess.run(
        [*TETHER, "run", "short"], cwd=two, env=relative, capture_output=True, timeout=90
    )
    assert second.returncode == 0, second.stderr
    assert first.wait(timeout=60) == 0, first.stderr.read() if first.stderr else ""
    assert results(one / ".tether") == ["finished"]
    assert not of_type(events_in(one / ".tether"), ev.SandboxLost)


def test_a_copied_data_dir_sweeps_not_the_originals_live_sandbox(
    api: FakeAPI, env: dict, tmp_path: Path
) -> None:
    original, copy = tmp_path / "original", tmp_path / "copy"
    original.mkdir()
    api.add(bash("true"), text("ok"))
    assert run(["run", "first"], home_env(env, original)).returncode == 0
    shutil.copytree(original, copy)  # the same home id, as a restored backup has
    api.responder = by_prompt(
        {"long": [bash("sleep 8; echo finished"), text("ok")], "short": [bash("true"), text("ok")]}
    )
    session_id = unique_id()
    first = start_in(tmp_path, ["run", "--session-id", session_id, "long"], home_env(env, original))
    provisioned(original, session_id)
    assert run(["run", "short"], home_env(env, copy)).returncode == 0
    assert first.wait(timeout=60) == 0
    assert results(original, session_id) == ["finished"]


def test_a_sandbox_whose_harness_died_is_swept(
    api: FakeAPI, env: dict, tmp_path: Path, docker_client: Any, tether_home: Path
) -> None:
    api.add(bash("sleep 300"))
    session_id = unique_id()
    dead = start_in(tmp_path, ["run", "--session-id", session_id, "long"], env)
    container = provisioned(tether_home, session_id)[0].container_id
    kill9(dead)
    assert docker_client.containers.get(container).status == "running"
    api.add(bash("true"), text("ok"))
    assert run(["run", "next"], env).returncode == 0
    with pytest.raises(Exception, match="No such container|Not Found|404"):
        docker_client.containers.get(container)


def test_a_session_made_before_scoping_keeps_its_volume(
    api: FakeAPI, env: dict, docker_client: Any, tether_home: Path
) -> None:
    session_id = unique_id()
    legacy = {
        "tether.session": session_id,
        "tether.role": "sandbox",
        "tether.home": str(tether_home / "sessions"),
    }
    docker_client.volumes.create(f"tether-{session_id}", labels=legacy)
    docker_client.containers.run(
        TEST_IMAGE, ["sh", "-c", "echo legacy > /w/old.txt; chown -R 1000 /w"],
        volumes={f"tether-{session_id}": {"bind": "/w", "mode": "rw"}},
        network_mode="none", remove=True, user="root",
    )  # fmt: skip
    old_box = docker_client.containers.create(
        TEST_IMAGE, ["true"], labels=legacy, network_mode="none"
    )
    api.add(bash("cat old.txt"), text("ok"))
    assert run(["run", "--session-id", session_id, "go"], env).returncode == 0
    assert results(tether_home, session_id) == ["legacy"]
    assert run(["rm", session_id], env).returncode == 0
    assert docker_client.volumes.list(filters={"name": f"tether-{session_id}"}) == []
    with pytest.raises(Exception, match="No such container|Not Found|404"):
        docker_client.containers.get(old_box.id)
