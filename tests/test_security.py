"""Security promises, proved end to end: the real CLI, the real SDK over HTTP to the fake
Messages API, and the real Docker sandbox.

One run (shared by every test in this module) has the model look around its sandbox
with `bash`: its environment, PID 1's, its user and capabilities, its network, any
Docker socket, and a search of its files for the API key; the model echoes what it
saw. While the run is live, the container is inspected from the engine's side. The
tests then read the answers from the session log:

- the API key is in no file under the data dir and nowhere in the container (its
  Config.Env, its inspect data, /proc/1/environ, any process's environment, `env`,
  its files);
- the container sees none of the host's environment, only the image's and tether's
  few variables;
- it runs as a non-root user with no capabilities and no new privileges;
- it has no network interface but loopback (its own), so even the harness's
  127.0.0.1 is out of reach; the tests probe no address beyond loopback;
- it has no Docker socket;
- every session directory is 0700 and every file 0600, even under umask 000.

tests/sandbox/test_docker_tools.py::test_hardening checks the same hardening on a
sandbox driven directly; here it is the CLI's run, as a user gets it.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import stat
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from e2e import (
    API_KEY,
    TEST_IMAGE,
    TETHER,
    assert_invariants,
    json_lines,
    of_type,
    tether_env,
)
from fakeapi import FakeAPI, Reply, Request, text, tool_use

from tether.core import events as ev
from tether.core.exit_codes import ExitCode
from tether.core.store import SessionStore

pytestmark = pytest.mark.docker

CANARY_NAME = "TETHER_SECURITY_CANARY"
CANARY_VALUE = "canary-only-in-the-harness-91c3"
SANDBOX_VARIABLES = {"HOME", "USER", "LANG", "TERM", "PAGER", "GIT_PAGER"}  # tether's own
BIG_OUTPUT = 300_000  # over the ~100 KiB the model sees: the rest goes to a file


@dataclass
class Probe:
    """What the shared run left behind."""

    home: Path
    session_id: str
    result: subprocess.CompletedProcess[str]
    events: list[ev.Event]
    answers: dict[str, ev.AgentToolResult]
    container: dict[str, Any] = field(default_factory=dict)  # inspect data, taken mid-run
    image_env: list[str] = field(default_factory=list)
    api_port: int = 0
    port_was_open: bool = False
    exported_bytes: int = 0  # the container's filesystem, as `docker export` gives it
    key_in_export: bool = False

    def answer(self, name: str) -> str:
        return self.answers[name].content


def probes(api_port: int) -> dict[str, dict[str, Any]]:
    """The commands the model runs, by name. None of them spells the API key out: the
    search for it in the container's files decodes it from base64."""
    encoded = base64.b64encode(API_KEY.encode()).decode()
    return {
        "env": {"command": "env"},
        "pid1": {"command": "tr '\\0' '\\n' < /proc/1/environ"},
        "all environ": {"command": "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n'"},
        "id": {"command": "id -u; id -g; id -G"},
        "status": {
            "command": "grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs):' /proc/self/status"
        },
        "interfaces": {"command": "ls /sys/class/net; echo ---; tail -n +3 /proc/net/dev"},
        "loopback": {
            "command": f"exec 3<>/dev/tcp/127.0.0.1/{api_port} && echo CONNECTED",
            "timeout_ms": 10_000,
        },
        "docker socket": {
            "command": "ls -l /var/run/docker.sock /run/docker.sock 2>&1; echo ---; "
            "grep -c docker.sock /proc/self/mountinfo; echo ---; timeout 20 find / "
            "\\( -path /proc -o -path /sys \\) -prune -o -type s -print 2>/dev/null; "
            'echo "find $?"; '
            "echo ---; echo ${DOCKER_HOST:-no DOCKER_HOST}"
        },
        "key in files": {  # the key, base64-encoded so that the log never spells it
            "command": f'k=$(echo {encoded} | base64 -d); timeout 60 grep -rlsF -e "$k" / '
            '--exclude-dir=proc --exclude-dir=sys --exclude-dir=dev; echo "grep $?"'
        },
        "big output": {"command": f"head -c {BIG_OUTPUT} /dev/zero | tr '\\0' x; echo"},
    }


def run_umask_000(
    args: list[str], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """The real CLI with the loosest umask, so that modes come from tether alone."""
    return subprocess.run(
        [*TETHER, *args],
        env=env,
        cwd=cwd,
        input="",
        capture_output=True,
        text=True,
        timeout=180,
        preexec_fn=lambda: os.umask(0),
    )


def inspecting(docker_client: Any, session_id: str, probe: Probe, then: Reply) -> Callable:
    """A responder that inspects the session's live container before answering."""

    def respond(request: Request) -> Reply:
        labels = [f"tether.session={session_id}", "tether.role=sandbox"]
        (container,) = docker_client.containers.list(filters={"label": labels})
        probe.container = container.attrs
        return then

    return respond


@pytest.fixture(scope="module")
def probe(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probe]:
    """One `tether run` whose model probes its sandbox; everything it left, for reading."""
    home = tmp_path_factory.mktemp("security") / "home"
    home.mkdir()
    session_id = f"sec-{uuid.uuid4().hex[:10]}"
    with FakeAPI() as api:
        port = api._server.server_address[1]
        commands = probes(port)
        ids = {name: f"toolu_probe_{n}" for n, name in enumerate(commands)}
        probe = Probe(home, session_id, subprocess.CompletedProcess([], 0), [], {})
        probe.api_port = port
        first, *rest = commands
        api.add(text("Let me look around.") + tool_use("bash", commands[first], id=ids[first]))
        later = [tool_use("bash", commands[name], id=ids[name]) for name in rest]
        api.add(inspecting(docker_client, session_id, probe, later[0]), *later[1:])
        api.add(exporting(docker_client, session_id, probe))
        env = tether_env(
            api.base_url,
            TEST_IMAGE,
            TETHER_HOME=str(home),
            TETHER_CONFIG=str(home.parent / "no-config.toml"),
            **{CANARY_NAME: CANARY_VALUE},
        )
        args = ["run", "--json", "--session-id", session_id, "look"]
        probe.result = run_umask_000(args, env, cwd=home)  # not in a git tree: an empty workspace
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            probe.port_was_open = True  # so the sandbox's failures to reach it mean something
    try:
        image = probe.container.get("Config", {}).get("Image", "")
        image_config = docker_client.images.get(image).attrs["Config"] if image else {}
        probe.image_env = image_config.get("Env") or []
        probe.events = SessionStore(home / "sessions").open(session_id).read()
        by_id = {e.tool_use_id: e for e in of_type(probe.events, ev.AgentToolResult)}
        probe.answers = {name: by_id[ids[name]] for name in commands if ids[name] in by_id}
        yield probe
    finally:
        label = f"tether.session={session_id}"
        for container in docker_client.containers.list(all=True, filters={"label": label}):
            container.remove(force=True)
        for volume in docker_client.volumes.list(filters={"label": label}):
            volume.remove(force=True)


def exporting(docker_client: Any, session_id: str, probe: Probe) -> Callable:
    """A responder that scans the live container's whole filesystem for the key, then has
    the model echo every tool result it has seen."""

    def respond(request: Request) -> Reply:
        labels = [f"tether.session={session_id}", "tether.role=sandbox"]
        (container,) = docker_client.containers.list(filters={"label": labels})
        key, tail = API_KEY.encode(), b""
        for chunk in container.export(chunk_size=1 << 20):
            window = tail + chunk
            probe.key_in_export |= key in window
            probe.exported_bytes += len(chunk)
            tail = window[-len(key) :]
        return text("I saw this:\n" + _all_results(request))

    return respond


def _all_results(request: Request) -> str:
    """Every tool result so far, for the model to echo back."""
    found = []
    for message in request.body["messages"]:
        blocks = message["content"] if isinstance(message["content"], list) else []
        found += [str(b.get("content", ""))[:2000] for b in blocks if b["type"] == "tool_result"]
    return "\n".join(found)


def test_the_run_completed_and_every_probe_answered(probe: Probe) -> None:
    assert probe.result.returncode == ExitCode.OK, probe.result.stderr
    assert json_lines(probe.result.stdout)[-1]["stop_reason"] == "end_turn"
    assert len(probe.answers) == len(probes(0))
    assert probe.container, "the container was inspected while it ran"
    assert_invariants(probe.events)


# -- the API key ----------------------------------------------------------------------


def test_the_api_key_is_in_no_file_under_the_data_dir(probe: Probe) -> None:
    files = [p for p in probe.home.rglob("*") if p.is_file()]
    assert any(p.name == "events.jsonl" for p in files)
    for path in files:
        data = path.read_bytes()
        assert API_KEY.encode() not in data, path
        assert API_KEY[-12:].encode() not in data, f"{path} holds part of the key"
    assert "ANTHROPIC_API_KEY" not in probe.events[0].to_json()  # session.created: no secrets


def test_the_api_key_is_not_in_the_output(probe: Probe) -> None:
    assert API_KEY not in probe.result.stdout + probe.result.stderr


def test_the_api_key_is_not_in_the_container(probe: Probe) -> None:
    assert API_KEY not in json.dumps(probe.container), "not in Config.Env, labels, args, ..."
    assert not any(v.startswith("ANTHROPIC_") for v in probe.container["Config"]["Env"])
    for name in ("env", "pid1", "all environ"):
        seen = probe.answer(name)
        assert "PATH=" in seen, (name, seen)
        assert API_KEY not in seen and "ANTHROPIC" not in seen, name
    # grep as the sandbox's user: 1 is "not found", 2 "not found, and some files were
    # unreadable"; either way it names no file. The export below reads them all.
    found = probe.answer("key in files")
    assert found in ("grep 1", "grep 2"), f"the key is in these files: {found}"
    assert probe.exported_bytes > 1_000_000, "the container's filesystem was exported"
    assert not probe.key_in_export, "the key is in the container's filesystem"


# -- the host's environment -----------------------------------------------------------


def test_the_container_sees_none_of_the_hosts_environment(probe: Probe) -> None:
    config_env = {item.split("=", 1)[0] for item in probe.container["Config"]["Env"]}
    image_env = {item.split("=", 1)[0] for item in probe.image_env}
    assert config_env <= image_env | SANDBOX_VARIABLES, config_env - image_env
    for name in ("env", "pid1", "all environ"):
        seen = probe.answer(name)
        assert CANARY_NAME not in seen and CANARY_VALUE not in seen, name
        assert "TETHER_HOME" not in seen and str(probe.home) not in seen, name
    assert "HOME=/tmp/home" in probe.answer("env")


# -- user, capabilities, privileges ---------------------------------------------------


def test_the_container_runs_as_a_user_without_capabilities(probe: Probe) -> None:
    uid, gid, groups = probe.answer("id").splitlines()
    assert uid != "0" and gid != "0" and "0" not in groups.split()
    status = dict(line.split(":\t") for line in probe.answer("status").splitlines())
    for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[cap], 16) == 0, (cap, status[cap])
    assert status["NoNewPrivs"] == "1"
    host = probe.container["HostConfig"]
    assert host["CapDrop"] == ["ALL"] and not host.get("CapAdd")
    assert "no-new-privileges" in host["SecurityOpt"] and host["Privileged"] is False
    assert probe.container["Config"]["User"].split(":")[0] not in ("", "0", "root")
    assert host["PidsLimit"] and host["Memory"] and host["NanoCpus"]


# -- the network ----------------------------------------------------------------------


def test_the_container_has_no_network(probe: Probe) -> None:
    names, _, dev = probe.answer("interfaces").partition("---")
    assert names.split() == ["lo"]
    assert [line.split(":")[0].strip() for line in dev.strip().splitlines()] == ["lo"]
    assert probe.container["HostConfig"]["NetworkMode"] == "none"
    # The harness's own API server listens on the host's 127.0.0.1; the sandbox's
    # loopback is its own.
    loopback = probe.answers["loopback"]
    assert loopback.is_error and "CONNECTED" not in loopback.content
    assert "Connection refused" in loopback.content, loopback.content


def test_the_port_the_sandbox_could_not_reach_was_open_on_the_host(probe: Probe) -> None:
    """The negative checks are not vacuous: the harness reached the port they tried."""
    assert probe.port_was_open


# -- the Docker socket ----------------------------------------------------------------


def test_the_container_has_no_docker_socket(probe: Probe) -> None:
    listing, mounts, sockets, docker_host = probe.answer("docker socket").split("---")
    assert listing.count("No such file or directory") == 2, listing
    assert mounts.split() == ["0"], "nothing of Docker's is mounted"
    *found, finished = sockets.strip().splitlines()
    assert finished in ("find 0", "find 1"), "find went through the filesystem in time"
    assert not [path for path in found if "docker" in path.lower()], found
    assert "no DOCKER_HOST" in docker_host
    binds = json.dumps(probe.container["HostConfig"].get("Binds")) + json.dumps(
        probe.container["Mounts"]
    )
    assert "docker.sock" not in binds


# -- file modes -----------------------------------------------------------------------


def test_session_dirs_are_0700_and_files_0600_even_under_umask_000(probe: Probe) -> None:
    assert probe.answers["big output"].truncated  # a large output was kept aside
    sessions = probe.home / "sessions"
    entries = [sessions, *sessions.rglob("*")]
    names = {p.name for p in entries}
    assert {"events.jsonl", "lock"} <= names, names
    for path in entries:
        mode = stat.S_IMODE(path.lstat().st_mode)
        expected = 0o700 if path.is_dir() else 0o600
        assert mode == expected, f"{path}: {oct(mode)}"
