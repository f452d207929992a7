"""Inside the sandbox as a person expects it: the user has a name, and an engine that
refuses the network says so in its own words."""

from __future__ import annotations

import pytest
from e2e import of_type, run, session_events
from fakeapi import FakeAPI, text, tool_use

from tether.core import events as ev
from tether.core.exit_codes import ExitCode

pytestmark = pytest.mark.docker


def test_whoami_works(api: FakeAPI, env: dict) -> None:
    api.add(tool_use("bash", {"command": "whoami; id -gn; echo ~"}), text("ok"))
    assert run(["run", "who am i?"], env).returncode == 0
    result = of_type(session_events(), ev.AgentToolResult)[0]
    assert result.content.splitlines() == ["sandbox", "sandbox", "/tmp/home"], result.content


def bridge_refused(docker_client) -> str | None:  # type: ignore[no-untyped-def]
    """The engine's own words when it cannot attach a container to its bridge, if so."""
    import docker.errors

    try:
        docker_client.containers.run(
            "tether-test:bookworm", "true", network_mode="bridge", remove=True
        )
    except docker.errors.APIError as exc:
        return str(exc.explanation)
    return None


def test_a_network_the_engine_refuses_is_quoted(api: FakeAPI, env: dict, docker_client) -> None:  # type: ignore[no-untyped-def]
    refused = bridge_refused(docker_client)
    if refused is None:
        pytest.skip("this engine's bridge network works")
    api.add(tool_use("bash", {"command": "true"}))
    result = run(["run", "--network", "hi"], env)
    assert result.returncode == ExitCode.SANDBOX, result.stderr
    line = next(row for row in result.stderr.splitlines() if row.startswith("error: "))
    assert line.startswith("error: the Docker engine could not start the sandbox: ")
    assert "on network bridge" in line and "is created" not in line
    call = of_type(session_events(), ev.AgentToolResult)[0]
    assert call.content.startswith("Not run:")
