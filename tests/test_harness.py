"""The harness in this process, on either session store: the JSONL directory and the
in-memory one (tests/memory_store.py). The same tests run on both, unchanged, which
is the proof that the harness (and `ls`, `tail`'s follow and `kill`, at the end)
depend on the store protocols and not on a class.

The model is the real SDK talking to the fake Messages API over real HTTP; the
sandbox is a fake that keeps a list of what it was asked (Docker is tested in
tests/sandbox and the end-to-end tests).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import e2e
import pytest
from fakeapi import FakeAPI, error, text, tool_use
from memory_store import MemoryStore

from tether.core import errors
from tether.core import events as ev
from tether.core.exit_codes import ExitCode
from tether.core.harness import INTERRUPTED_RESULT, Harness, Limits, Outcome
from tether.core.kill import kill
from tether.core.model import AnthropicModel
from tether.core.sandbox.protocol import Provisioned, Resources, ToolResult
from tether.core.session import EventLog, Store, status
from tether.core.store import SessionStore
from tether.core.summary import list_sessions


class FakeSandbox:
    """A Sandbox that answers `bash` with the command it was given. `lose` makes the next
    call find its container gone; `interrupt` makes the next call get a Ctrl-C."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Mapping[str, Any]]] = []
        self.provisioned = 0
        self.lose = False
        self.interrupt = False

    def check(self, resources: Resources) -> None:
        pass

    def provision(self, resources: Resources) -> Provisioned:
        self.provisioned += 1
        return Provisioned(container_id=f"fake{self.provisioned}", image=resources.image,
                           duration_ms=1)  # fmt: skip

    def execute(
        self, name: str, input: Mapping[str, Any], on_output: Callable[[bytes], None] | None = None
    ) -> ToolResult:
        self.calls.append((name, input))
        if self.lose:
            self.lose = False
            raise errors.SandboxLost("the container exited (137)")
        if self.interrupt:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the guard raises Interrupted here, in the main thread
        return ToolResult(content=f"ran: {input.get('command')}")

    def release(self) -> None:
        pass


@pytest.fixture(params=["jsonl", "memory"])
def store(request: pytest.FixtureRequest, tether_home: Path) -> Store:
    return SessionStore() if request.param == "jsonl" else MemoryStore()


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAPI]:
    monkeypatch.setenv("TETHER_RETRY_BASE_S", "0.001")
    with FakeAPI() as server:
        yield server


def new_session(store: Store, prompt: str = "do it") -> EventLog:
    """A session as `tether run` makes it (created, the prompt), its lock let go."""
    created = ev.SessionCreated(model="claude-test", tools=("bash", "read"), image="fake")
    session = store.create(created)
    session.append_many([ev.UserMessage(content=prompt)])
    session.lock.release()
    return session


class Recorder:
    """An Observer that keeps the events it is told of."""

    def __init__(self) -> None:
        self.events: list[ev.Event] = []

    def event(self, event: ev.Event) -> None:
        self.events.append(event)

    def text(self, delta: str) -> None:
        pass

    def thinking(self, delta: str) -> None:
        pass

    def output(self, chunk: str) -> None:
        pass


def wake(
    session: EventLog, api: FakeAPI, sandbox: FakeSandbox | None = None, **limits: Any
) -> Outcome:
    model = AnthropicModel(api_key=e2e.API_KEY, base_url=api.base_url)
    harness = Harness(session, model, sandbox or FakeSandbox(), Recorder(), Limits(**limits))
    return harness.wake()


def types(session: EventLog, start: int = 0) -> list[str]:
    return [e.TYPE for e in session.read(start)]


def test_a_tool_call_round_trip(store: Store, api: FakeAPI) -> None:
    session = new_session(store)
    api.add(tool_use("bash", {"command": "ls"}), text("Done."))
    sandbox = FakeSandbox()
    outcome = wake(session, api, sandbox)
    assert (outcome.stop_reason, outcome.exit_code, outcome.turns) == ("end_turn", 0, 2)
    assert types(session, 2) == [
        "session.status_running", "span.model_request_start", "agent.tool_use",
        "span.model_request_end", "sandbox.provisioned", "agent.tool_result",
        "span.model_request_start", "agent.message", "span.model_request_end",
        "sandbox.released", "session.status_idle",
    ]  # fmt: skip
    assert sandbox.calls == [("bash", {"command": "ls"})]
    sent = api.requests[-1].body["messages"][-1]["content"][0]
    assert sent["type"] == "tool_result" and sent["content"] == "ran: ls"
    events = session.read()
    e2e.assert_invariants(events)
    starts = [e.id for e in e2e.of_type(events, ev.ModelRequestStart)]
    assert [e.model_request_start_id for e in e2e.of_type(events, ev.ModelRequestEnd)] == starts
    assert status(session) == "idle" and not session.lock.held()


def test_failed_attempts_are_recorded_and_retried(store: Store, api: FakeAPI) -> None:
    session = new_session(store)
    api.add(error(529), error(429), text("Done."))
    outcome = wake(session, api)
    assert outcome.stop_reason == "end_turn"
    failures = e2e.of_type(session.read(), ev.SessionError)
    assert [(e.error_type, e.retry_status) for e in failures] == [
        ("overloaded_error", "retrying"),
        ("rate_limit_error", "retrying"),
    ]


def test_retries_run_out(store: Store, api: FakeAPI) -> None:
    session = new_session(store)
    api.add(error(529), error(529), error(529))
    outcome = wake(session, api, max_retries=2)
    assert (outcome.stop_reason, outcome.exit_code) == ("retries_exhausted", ExitCode.MODEL)
    assert e2e.of_type(session.read(), ev.SessionError)[-1].retry_status == "exhausted"


def test_max_turns_stops_the_run_and_resume_goes_on(store: Store, api: FakeAPI) -> None:
    session = new_session(store)
    api.add(*[tool_use("bash", {"command": f"step {n}"}) for n in range(3)], text("Done."))
    assert wake(session, api, max_turns=2).stop_reason == "max_turns"
    assert e2e.of_type(session.read(), ev.StatusIdle)[-1].stop_reason == "max_turns"
    again = store.open(session.id)  # another harness, later, from the log alone
    assert wake(again, api).stop_reason == "end_turn"
    assert e2e.of_type(again.read(), ev.ModelRequestEnd)[-1].turn == 4


def test_a_lost_sandbox_is_a_tool_error_and_the_next_call_a_fresh_one(
    store: Store, api: FakeAPI
) -> None:
    session = new_session(store)
    api.add(tool_use("bash", {"command": "a"}), tool_use("bash", {"command": "b"}), text("ok"))
    sandbox = FakeSandbox()
    sandbox.lose = True
    wake(session, api, sandbox)
    events = session.read()
    assert len(e2e.of_type(events, ev.SandboxLost)) == 1
    results = e2e.of_type(events, ev.AgentToolResult)
    assert [r.is_error for r in results] == [True, False]
    assert sandbox.provisioned == 2


def test_an_interrupt_leaves_the_session_idle_and_resumable(store: Store, api: FakeAPI) -> None:
    session = new_session(store)
    api.add(tool_use("bash", {"command": "sleep 60"}))
    sandbox = FakeSandbox()
    sandbox.interrupt = True
    outcome = wake(session, api, sandbox)
    assert (outcome.stop_reason, outcome.exit_code) == ("interrupted", ExitCode.INTERRUPTED)
    assert types(session)[-3:] == ["user.interrupt", "sandbox.released", "session.status_idle"]
    assert e2e.of_type(session.read(), ev.AgentToolResult)[-1].content == INTERRUPTED_RESULT
    assert status(session) == "idle"
    session.append_many([ev.UserMessage(content="go on")])
    session.lock.release()
    api.add(text("Going on."))
    assert wake(store.open(session.id), api).stop_reason == "end_turn"


def test_a_call_a_dead_harness_left_open_is_never_run_again(store: Store, api: FakeAPI) -> None:
    session = new_session(store)
    start = ev.ModelRequestStart(model="claude-test")
    session.append_many([
        ev.StatusRunning(pid=1, host="gone"), start,
        ev.AgentToolUse(tool_use_id="toolu_open", name="bash", input={"command": "rm -rf x"}),
        ev.ModelRequestEnd(model="claude-test", model_request_start_id=start.id, turn=1),
    ])  # fmt: skip
    session.lock.release()  # the harness died: its lock went with it
    assert status(session) == "crashed"
    api.add(text("I will check first."))
    sandbox = FakeSandbox()
    assert wake(store.open(session.id), api, sandbox).stop_reason == "end_turn"
    assert sandbox.calls == []
    result = e2e.of_type(session.read(), ev.AgentToolResult)[0]
    assert (result.tool_use_id, result.is_error) == ("toolu_open", True)
    sent = api.requests[-1].body["messages"][-1]["content"][0]
    assert sent["tool_use_id"] == "toolu_open" and "Interrupted" in sent["content"]


def test_one_harness_at_a_time(store: Store, api: FakeAPI) -> None:
    session = new_session(store)
    other = store.open(session.id)
    other.lock.acquire()
    with pytest.raises(errors.SessionBusy):
        wake(session, api)
    assert status(session) == "running"
    other.lock.release()
    assert status(session) == "crashed"  # no status event yet: a run that never started


# -- ls, tail and kill on either store ---------------------------------------------------


def test_ls_summarizes_sessions_of_either_store(store: Store, api: FakeAPI) -> None:
    session = new_session(store, "  list\n me  ")
    api.add(tool_use("bash", {"command": "ls"}), text("Done."))
    wake(session, api)
    (summary,) = list_sessions(store)
    assert (summary.id, summary.status, summary.turns, summary.prompt) == (
        session.id, "idle", 2, "list me",
    )  # fmt: skip
    assert summary.created == session.read(0, 1)[0].ts
    assert summary.last_activity == session.read(-1)[0].ts


def test_tail_follows_either_store_until_the_writer_lets_go(store: Store) -> None:
    session = new_session(store)
    session.lock.acquire()
    reader = store.open(session.id)
    seen: list[ev.Event] = []
    follower = threading.Thread(
        target=lambda: seen.extend(reader.follow(2, until=lambda: not reader.lock.held()))
    )
    follower.start()
    for n in range(3):
        session.append_many([ev.UserMessage(content=f"more {n}")])
        time.sleep(0.02)
    session.lock.release()
    follower.join(timeout=10)
    assert not follower.is_alive()
    assert [e.content for e in seen] == ["more 0", "more 1", "more 2"]  # type: ignore[attr-defined]


def test_kill_cleans_up_after_a_dead_harness_on_either_store(store: Store) -> None:
    session = new_session(store)
    session.append_many([ev.StatusRunning(pid=2**22 + 1, host="gone")])
    session.lock.release()  # it died, its lock with it
    assert kill(store.open(session.id)) == "cleaned up"
    assert types(session)[-2:] == ["user.interrupt", "session.status_terminated"]
    assert status(session) == "terminated"
    assert kill(store.open(session.id)) == "already terminated"
