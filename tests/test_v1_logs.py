"""v1 logs are read forever: the session the v1 tether recorded (tests/fixtures/v1) is
listed, shown, tailed, exported and resumed, and its lines are never rewritten."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import e2e
import pytest
from fakeapi import FakeAPI, text
from fakeapi.wire import sign
from test_schema_v2 import MA_TYPES, assert_valid, check_export

from tether.core import events as ev
from tether.core.store import SessionStore

FIXTURE = Path(__file__).parent / "fixtures" / "v1" / "events.jsonl"
SESSION = "v1fixture"
V1_BYTES = FIXTURE.read_bytes()


@pytest.fixture
def v1_session(tether_home: Path) -> Path:
    """The fixture, installed as a session of this test's TETHER_HOME; its log's path."""
    directory = tether_home / "sessions" / SESSION
    directory.mkdir(parents=True)
    for path in (tether_home, tether_home / "sessions", directory):
        path.chmod(0o700)
    log = directory / "events.jsonl"
    shutil.copyfile(FIXTURE, log)
    log.chmod(0o600)
    return log


def test_the_fixture_is_a_v1_log_of_a_varied_session() -> None:
    lines = [json.loads(line) for line in V1_BYTES.splitlines()]
    assert {line["v"] for line in lines} == {1}
    types = {line["type"] for line in lines}
    assert {"agent.thinking", "session.error", "user.interrupt", "agent.tool_result"} <= types
    assert sum(line["type"] == "session.status_running" for line in lines) == 3


def test_every_v1_line_reads_and_writes_back_as_valid_v2() -> None:
    for line in V1_BYTES.splitlines():
        v1 = json.loads(line)
        event = ev.parse_line(line)
        assert (event.seq, event.id, event.ts, event.TYPE) == (
            v1["seq"],
            v1["id"],
            v1["ts"],
            v1["type"],
        )
        if isinstance(event, ev.UserMessage | ev.AgentMessage | ev.AgentToolResult):
            assert event.content == v1["content"]
        v2 = json.loads(event.to_json())
        if v2["type"] in MA_TYPES:
            assert_valid(v2)
        assert ev.parse_line(event.to_json()) == event


def test_ls_show_and_tail_read_a_v1_session(v1_session: Path) -> None:
    env = e2e.tether_env("http://127.0.0.1:9", "unused")
    listed = e2e.json_lines(e2e.run(["ls", "--json"], env).stdout)
    assert [(s["id"], s["status"], s["turns"], s["prompt"]) for s in listed] == [
        (SESSION, "idle", 6, "write hello.txt")
    ]
    assert listed[0]["created"] == "2026-12-02T04:33:08.447Z"
    stats = json.loads(e2e.run(["show", SESSION, "--json"], env).stdout)
    assert (stats["events"], stats["turns"], stats["stop_reason"]) == (42, 6, "end_turn")
    assert stats["tool_calls"] == {"bash": 3, "read": 1, "write": 1} and stats["errors"] == 1
    shown = e2e.run(["tail", SESSION, "-n", "3"], env)
    assert shown.returncode == 0, shown.stderr
    assert "All done." in shown.stdout and "idle: end_turn" in shown.stdout
    dumped = e2e.json_lines(e2e.run(["tail", SESSION, "--json", "--since", "0"], env).stdout)
    assert [line["seq"] for line in dumped] == list(range(42))
    assert all(line["v"] == 2 for line in dumped)
    for line in dumped:
        if line["type"] in MA_TYPES:
            assert_valid(line)
    assert v1_session.read_bytes() == V1_BYTES  # read, never rewritten


def test_the_readme_recipes_read_a_v1_session_through_tail(v1_session: Path) -> None:
    env = e2e.tether_env("http://127.0.0.1:9", "unused")
    dumped = e2e.run(["tail", SESSION, "--json", "--since", "0"], env).stdout
    recipe = "jq -r 'select(.type==\"session.status_idle\") | .stop_reason | .reason // .type'"
    result = subprocess.run(["bash", "-c", recipe], input=dumped, capture_output=True, text=True)
    assert result.stdout.split() == ["interrupted", "end_turn"]


def test_export_of_a_v1_session_validates(v1_session: Path) -> None:
    result = e2e.run(["export", SESSION], e2e.tether_env("http://127.0.0.1:9", "unused"))
    assert result.returncode == 0, result.stderr
    check_export(json.loads(result.stdout), SessionStore().open(SESSION).read())


def signed_by_todays_fake(log: Path) -> bytes:
    """The installed log with its thinking signed by today's fake.

    The fixture was recorded against the fake of its day, which signed every thinking
    block with the constant `sig-fake`. Today's fake signs with a key, as the API does,
    and refuses any other signature sent back, as the API would refuse a forged one. The
    installed copy gets today's signature over the same text; the line stays v1.
    """
    data = log.read_bytes()
    for line in data.splitlines():
        event = json.loads(line)
        if event["type"] == "agent.thinking":
            signed = line.replace(
                b'"sig-fake"', json.dumps(sign("thinking", event["content"])).encode()
            )
            data = data.replace(line, signed)
    log.write_bytes(data)
    return data


def test_a_v1_session_resumes_and_goes_on_in_v2(v1_session: Path) -> None:
    recorded = signed_by_todays_fake(v1_session)
    with FakeAPI([text("Both files are there.")]) as api:
        env = e2e.tether_env(api.base_url, "unused")
        result = e2e.run(
            ["resume", SESSION, "are the files there?", "--base-url", api.base_url], env
        )
        request = api.requests[-1].body
    assert result.returncode == 0, result.stderr
    messages = request["messages"]
    assert messages[0]["content"][0]["text"] == "write hello.txt"
    assert messages[0]["role"] == "user" and messages[-1]["role"] == "user"
    assert messages[-1]["content"][-1]["text"] == "are the files there?"
    results = [b for m in messages for b in m["content"] if b["type"] == "tool_result"]
    assert [r["content"] for r in results][:2] == [
        "hello",
        "/workspace/missing.txt: no such file or directory",
    ]
    data = v1_session.read_bytes()
    assert data.startswith(recorded)  # the v1 lines stay as they were
    added = [json.loads(line) for line in data[len(recorded) :].splitlines()]
    assert added and all(line["v"] == 2 for line in added)
    assert [line["seq"] for line in added] == list(range(42, 42 + len(added)))
    events = SessionStore().open(SESSION).read()
    assert e2e.of_type(events, ev.StatusIdle)[-1].stop_reason == "end_turn"
    e2e.assert_invariants(events)
    listed = e2e.json_lines(e2e.run(["ls", "--json"], env).stdout)
    assert (listed[0]["status"], listed[0]["turns"]) == ("idle", 7)
    exported = e2e.run(["export", SESSION], env)
    check_export(json.loads(exported.stdout), events)
