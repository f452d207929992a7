"""The shell's hardening as a user meets it: the real CLI, the fake API, real Docker."""

from __future__ import annotations

import pytest
from e2e import of_type, run, session_events
from fakeapi import FakeAPI, text, tool_use

from tether.core import events as ev

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_client")]


def test_max_output_caps_what_a_call_keeps(api: FakeAPI, env: dict) -> None:
    api.add(tool_use("bash", {"command": "head -c 1000000 /dev/zero | tr '\\0' y"}), text("ok"))
    done = run(["run", "--max-output", "200k", "go"], env)
    assert done.returncode == 0, done.stderr
    events = session_events()
    assert of_type(events, ev.SessionCreated)[0].max_output == "200k"
    result = of_type(events, ev.AgentToolResult)[0]
    assert result.truncated and "795200 bytes past the 204800-byte output cap" in result.content
    shown = run(["config"], {**env, "TETHER_MAX_OUTPUT": "1g"})
    assert "max_output" in shown.stdout and "1g" in shown.stdout


def test_a_bad_max_output_is_refused_in_one_line(env: dict) -> None:
    refused = run(["run", "--max-output", "lots", "go"], env)
    assert refused.returncode == 2
    assert refused.stderr.strip().count("\n") == 0 and "--max-output" in refused.stderr
    assert "Traceback" not in refused.stderr
