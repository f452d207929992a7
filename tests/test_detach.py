"""`--detach`: the same harness on the same log, in the background. `tail -f` attaches,
Ctrl-C in `tail` stops only the tailing, `kill` stops the run, `resume` carries on."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
from e2e import TETHER, assert_invariants, of_type, run, session_events, wait_for, wait_for_event
from fakeapi import FakeAPI, text, tool_use

from tether.cli import detach
from tether.core import config
from tether.core import events as ev
from tether.core.store import SessionStore

pytestmark = pytest.mark.docker

COUNT = "for i in $(seq 1 60); do echo tick $i; sleep 0.5; done"


def test_detach_run_tail_kill_resume(api: FakeAPI, env: dict) -> None:
    api.add(text("Counting.") + tool_use("bash", {"command": COUNT}))
    started = time.monotonic()
    result = run(["run", "--detach", "count"], env)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 10, "it returns once the harness runs"
    session_id = result.stdout.strip()
    assert SessionStore().ids() == [session_id]
    assert f"tether tail -f {session_id}" in result.stderr
    assert SessionStore().open(session_id).is_locked(), "the run is going on"

    tail = subprocess.Popen(
        [*TETHER, "tail", session_id, "-f", "--json"], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_for_event(ev.SandboxProvisioned, timeout=60)
    tail.send_signal(signal.SIGINT)  # Ctrl-C in tail: tail stops, the run does not
    tail.communicate(timeout=20)
    assert SessionStore().open(session_id).is_locked()

    killed = run(["kill", session_id], env)
    assert killed.returncode == 0 and "stopped" in killed.stdout, killed.stderr
    events = session_events()
    assert isinstance(events[-1], ev.StatusTerminated)
    interrupted = of_type(events, ev.AgentToolResult)[-1]
    assert interrupted.is_error

    api.add(text("Stopped early; fine."))
    resumed = run(["resume", session_id, "--detach"], env)
    assert resumed.returncode == 0, resumed.stderr
    follow = run(["tail", session_id, "-f", "-n", "0"], env, timeout=60)
    assert follow.returncode == 0
    wait_for(lambda: not SessionStore().open(session_id).is_locked(), 30, "the resume to end")
    events = session_events()
    assert_invariants(events)
    assert isinstance(events[-1], ev.StatusIdle) and events[-1].stop_reason == "end_turn"
    assert of_type(events, ev.AgentMessage)[-1].content == "Stopped early; fine."


def test_detach_with_json_is_refused(env: dict) -> None:
    result = run(["run", "--detach", "--json", "hi"], env)
    assert result.returncode == 2 and "--detach" in result.stderr
    assert '"type":"result"' in result.stdout and SessionStore().ids() == []


def test_the_background_harness_gets_runs_mcp_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    # --mcp-timeout is not in the log: the child reads it from its variable.
    for name, value in detach.child_env(7.5).items():
        monkeypatch.setenv(name, value)
    assert config.resolve().settings.mcp_timeout_s == 7.5
