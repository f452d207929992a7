"""Failures that cost nothing: the sandbox is checked alongside the first model request,
so a missing image, an engine that is away or limits the engine refuses stop the run
before any tool call is recorded (exit 7), and a call that never started says so."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pytest
from e2e import assert_invariants, of_type, run, session_events
from fakeapi import FakeAPI, text, tool_use

from tether.cli.live import Unseen
from tether.core import errors
from tether.core import events as ev
from tether.core.exit_codes import ExitCode
from tether.core.harness import NOT_RUN_RESULT, Harness
from tether.core.model import AnthropicModel
from tether.core.sandbox.protocol import Provisioned, Resources, ToolResult
from tether.core.store import SessionStore

pytestmark = pytest.mark.docker

SLOW = {"event_delay_s": 3.0}  # a response that takes half a minute: the check ends first


def bash(command: str, **options: Any) -> Any:
    return (text("Let me look.") + tool_use("bash", {"command": command})).with_(**options)


def assert_stopped_before_any_tool_call(result: Any, says: str) -> list[ev.Event]:
    output = result.stdout + result.stderr
    assert result.returncode == ExitCode.SANDBOX, output
    assert "Traceback" not in output
    for noise in ("(terminal)", "Error:", "ImageNotFound", "EngineUnavailable", "SandboxError"):
        assert noise not in output, output
    assert result.stderr.count(says) == 1, result.stderr  # said once, not twice
    events = session_events()
    assert_invariants(events)
    assert not of_type(events, ev.AgentToolUse), "no tool call was recorded"
    assert not of_type(events, ev.SandboxProvisioned)
    assert of_type(events, ev.StatusIdle)[-1].stop_reason == "error"
    return events


def test_a_missing_image_costs_no_model_turn(api: FakeAPI, env: dict, test_image: str) -> None:
    api.add(bash("ls", **SLOW))
    started = time.monotonic()
    result = run(["run", "--image", "tether-no-such-image:1", "hi"], env)
    events = assert_stopped_before_any_tool_call(result, "tether-no-such-image:1")
    assert time.monotonic() - started < 25, "the slow answer was not waited for"
    ends = of_type(events, ev.ModelRequestEnd)
    assert ends and all(end.is_error for end in ends), "the request was cancelled, not used"
    assert not any(end.usage.total for end in ends), "and cut short: nothing was paid for"
    assert ends[0].duration_ms > 0
    assert f"--image {test_image}" in result.stderr or "TETHER_IMAGE=" in result.stderr
    assert "tether resume" in result.stderr and "--image NAME" in result.stderr


def test_an_answer_faster_than_the_check_is_not_used(api: FakeAPI, env: dict) -> None:
    api.add(bash("ls"))  # answered in milliseconds: before the engine is even asked
    result = run(["run", "--image", "tether-no-such-image:1", "hi"], env)
    events = assert_stopped_before_any_tool_call(result, "tether-no-such-image:1")
    end = of_type(events, ev.ModelRequestEnd)[0]
    assert end.is_error and end.usage.total > 0, "what was paid for is counted"
    assert not of_type(events, ev.AgentMessage), "and none of the answer is used"


def test_an_engine_that_is_away_is_found_before_the_model_answers(api: FakeAPI, env: dict) -> None:
    api.add(bash("ls", **SLOW))
    env = env | {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    result = run(["run", "hi"], env)
    assert_stopped_before_any_tool_call(result, "cannot reach the Docker engine")


def test_more_cpus_than_the_engine_has_is_refused_up_front(api: FakeAPI, env: dict) -> None:
    api.add(bash("ls", **SLOW))
    result = run(["run", "--cpus", "4096", "hi"], env)
    assert_stopped_before_any_tool_call(result, "--cpus 4096 is more than the Docker engine has")


def test_a_bad_memory_size_is_a_usage_error(env: dict) -> None:
    result = run(["run", "--memory", "lots", "hi"], env)
    assert result.returncode == ExitCode.USAGE
    assert result.stderr.strip() == "error: --memory must be a size like 512m or 2g, not 'lots'"


def test_an_answer_without_tool_calls_needs_no_sandbox(api: FakeAPI, env: dict) -> None:
    api.add(text("Nothing to run."))
    result = run(["run", "--image", "tether-no-such-image:1", "hi"], env)
    assert result.returncode == 0, result.stderr


def test_a_good_sandbox_is_never_waited_for(api: FakeAPI, env: dict) -> None:
    api.add(bash("echo hi"), text("done"))
    result = run(["run", "hi"], env)
    assert result.returncode == 0, result.stderr
    assert of_type(session_events(), ev.AgentToolResult)[0].content == "hi"


class BrokenSandbox:
    """A sandbox whose checks pass but whose container never starts (a fake, in-process)."""

    def check(self, resources: Resources) -> None:
        pass

    def provision(self, resources: Resources) -> Provisioned:
        raise errors.SandboxError("the Docker engine could not start the sandbox: no space left")

    def execute(
        self, name: str, input: Mapping[str, Any], on_output: Any = None
    ) -> ToolResult:  # pragma: no cover - never reached
        raise AssertionError("nothing can run")

    def release(self) -> None:
        pass


def test_a_call_that_never_started_is_reported_as_not_run(api: FakeAPI) -> None:
    api.add(bash("rm -rf build"))
    session = SessionStore().create(ev.SessionCreated(model="m", tools=("bash",), image="i"))
    session.append(ev.UserMessage(content="clean up"))
    model = AnthropicModel(api_key="sk-test", base_url=api.base_url)
    outcome = Harness(session, model, BrokenSandbox(), Unseen()).wake()
    assert outcome.exit_code == ExitCode.SANDBOX
    result = of_type(session.read(), ev.AgentToolResult)[0]
    assert result.is_error and result.content.startswith("Not run:")
    assert result.content == NOT_RUN_RESULT.format(reason="sandbox_error")
    error = of_type(session.read(), ev.SessionError)[0]
    assert error.error_type == "sandbox_error" and "no space left" in error.message
