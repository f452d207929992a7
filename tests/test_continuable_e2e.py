"""A session can always be continued: the real CLI, a real kill -9, the strict fake API.

Every request below goes to a fake that refuses, with the API's 400, anything the
real Messages API refuses; a request built in the wrong order fails these tests.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from e2e import (
    assert_invariants,
    kill9,
    of_type,
    only_session_id,
    run,
    session_events,
    start,
    wait_for_event,
)
from fakeapi import FakeAPI, bash, text, tool_use, validate

from tether.core import events as ev

FIXTURES = Path(__file__).with_name("fixtures")


def assert_all_valid(api: FakeAPI) -> None:
    for request in api.requests:
        assert validate(request.body) is None, request.body


@pytest.mark.docker
@pytest.mark.usefixtures("docker_client")
def test_kill_9_mid_tool_then_resume_with_a_prompt_twice(api: FakeAPI, env: dict) -> None:
    api.add(
        text("Running it.") + bash("sleep 30"),
        text("It was interrupted; the run stopped.") + bash("echo checked"),
        text("All checked."),
        text("Nothing else to do."),
    )
    harness = start(["run", "run the slow job"], env)
    wait_for_event(ev.SandboxProvisioned)
    time.sleep(0.5)
    kill9(harness)

    first = run(["resume", only_session_id(), "what happened?"], env)
    assert first.returncode == 0, first.stderr
    second = run(["resume", only_session_id(), "anything else?"], env)
    assert second.returncode == 0, second.stderr

    assert len(api.requests) == 4 and all(r.body for r in api.requests)
    assert_all_valid(api)
    after_crash = api.requests[1].body["messages"][-1]["content"]
    assert [b["type"] for b in after_crash] == ["tool_result", "text"]
    assert after_crash[0]["is_error"] and "may or may not have run" in after_crash[0]["content"]
    assert after_crash[1]["text"] == "what happened?"
    events = session_events()
    assert_invariants(events)
    prompts = [e.content for e in of_type(events, ev.UserMessage)]
    assert prompts == ["run the slow job", "what happened?", "anything else?"]
    # the new order on disk too: the open call's result before the new prompt
    kinds = [type(e) for e in events]
    assert kinds.index(ev.AgentToolResult) < kinds.index(ev.UserMessage, 2)


def install_fixture(home: Path, name: str, session_id: str) -> None:
    directory = home / "sessions" / session_id
    directory.mkdir(parents=True, mode=0o700)
    target = directory / "events.jsonl"
    shutil.copy(FIXTURES / name, target)
    target.chmod(0o600)


def test_a_log_with_todays_bad_order_resumes(api: FakeAPI, env: dict, tether_home: Path) -> None:
    """tether 0.1 recorded a resume prompt before the interrupted result; every resume
    of such a session was refused with a 400. It resumes now, and the log is kept."""
    install_fixture(tether_home, "bad_order_v1.jsonl", "bad-order-v1")
    before = (tether_home / "sessions" / "bad-order-v1" / "events.jsonl").read_bytes()
    api.add(text("The test run was interrupted; run it again when you are ready."))

    result = run(["resume", "bad-order-v1", "and now?"], env)
    assert result.returncode == 0, result.stderr
    assert_all_valid(api)
    messages = api.requests[0].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    last = messages[-1]["content"]
    assert [b["type"] for b in last] == ["tool_result", "text", "text"]
    assert [b["text"] for b in last[1:]] == ["why did it stop?", "and now?"]
    after = (tether_home / "sessions" / "bad-order-v1" / "events.jsonl").read_bytes()
    assert after.startswith(before)  # never rewritten, only appended to


def test_blank_text_from_the_model_is_not_sent_back(api: FakeAPI, env: dict) -> None:
    api.add(text("\n\n") + tool_use("glob", {"pattern": "*.none"}), text(""), text("Done."))
    result = run(["run", "look"], env)
    assert result.returncode == 0, result.stderr
    resumed = run(["resume", "--last", "again"], env)
    assert resumed.returncode == 0, resumed.stderr
    assert_all_valid(api)
    assert len(api.requests) == 3
    sent = [b for r in api.requests for m in r.body["messages"] for b in m["content"]]
    assert all(b.get("text", "x").strip() for b in sent if b["type"] == "text")
