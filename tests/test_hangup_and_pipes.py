"""A terminal that closes and a reader that goes away (issue 13, items 13 and 14).

SIGHUP is handled like SIGTERM: the running command stops, its container goes,
the session is left idle and resumable, and tether exits 129. Under `nohup` it is
ignored, as the person asked. A closed stdout or stderr (`| head`, a pager quit,
`>&-`) stops the writing, never the agent: the run goes on to its end, every tool
call gets its result, and the exit code is the run's.

The terminal is a real pseudo-terminal that the harness holds as its controlling
terminal; closing its other end is what closing a terminal window does.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import subprocess
import termios
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from e2e import (
    TETHER,
    assert_invariants,
    finish,
    of_type,
    only_session_id,
    run,
    running_in_sandbox,
    session_events,
    start,
    wait_for,
    wait_for_event,
)
from fakeapi import FakeAPI, bash, text

from tether.core import events as ev
from tether.core.exit_codes import ExitCode

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_client")]


class Terminal:
    """A pseudo-terminal whose far end a process holds as its controlling terminal; what
    the process writes is read (and kept) until the terminal is closed."""

    def __init__(self) -> None:
        self.main, self.secondary = pty.openpty()
        self.output = bytearray()
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)

    def start(self, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        def control() -> None:  # runs in the child, after setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        process = subprocess.Popen(
            [*TETHER, *args], env=env | {"TERM": "xterm"}, stdin=self.secondary,
            stdout=self.secondary, stderr=self.secondary, start_new_session=True,
            preexec_fn=control,
        )  # fmt: skip
        os.close(self.secondary)
        self._reader.start()
        return process

    def close(self) -> None:
        """Hang up, as a closing terminal window does: the session leader gets SIGHUP."""
        self._stop.set()
        self._reader.join(timeout=10)
        os.close(self.main)

    def _read(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.main], [], [], 0.05)
            if ready:
                try:
                    self.output += os.read(self.main, 65536)
                except OSError:
                    return


def assert_stopped_by(signal_reason: str, docker_client: object) -> None:
    events = session_events()
    assert_invariants(events)
    assert of_type(events, ev.UserInterrupt)[-1].reason == signal_reason
    assert isinstance(events[-1], ev.StatusIdle) and events[-1].stop_reason == "interrupted"
    result = of_type(events, ev.AgentToolResult)[-1]
    assert result.is_error and "may or may not have run" in result.content
    label = f"tether.session={only_session_id()}"
    assert not docker_client.containers.list(all=True, filters={"label": label})  # type: ignore[attr-defined]


def test_closing_the_terminal_stops_the_run_like_sigterm(
    api: FakeAPI, env: dict[str, str], docker_client: object
) -> None:
    api.add(text("Waiting.") + bash("sleep 60"))
    terminal = Terminal()
    harness = terminal.start(["run", "wait"], env)
    wait_for_event(ev.AgentToolUse)
    wait_for_event(ev.SandboxProvisioned)
    wait_for(lambda: running_in_sandbox("sleep 60"), 60, "the command to run")  # not "Not run"
    terminal.close()
    assert harness.wait(timeout=60) == ExitCode.HANGUP
    assert_stopped_by("sighup", docker_client)
    assert b"Waiting." in terminal.output

    api.add(text("back"))
    resumed = run(["resume", "--last"], env)
    assert resumed.returncode == 0, resumed.stderr
    assert_invariants(session_events())


def test_sighup_without_a_terminal_is_handled_too(
    api: FakeAPI, env: dict[str, str], docker_client: object
) -> None:
    api.add(bash("sleep 60"))
    harness = start(["run", "--json", "wait"], env)
    wait_for_event(ev.SandboxProvisioned)
    wait_for(lambda: running_in_sandbox("sleep 60"), 60, "the command to run")  # not "Not run"
    harness.send_signal(signal.SIGHUP)
    stdout, _ = harness.communicate(timeout=60)
    assert harness.returncode == ExitCode.HANGUP
    assert '"exit_code":129' in stdout.splitlines()[-1]
    assert_stopped_by("sighup", docker_client)


def test_under_nohup_sighup_is_ignored(api: FakeAPI, env: dict[str, str]) -> None:
    api.add(bash("sleep 3; echo slept"), text("done"))
    harness = subprocess.Popen(
        [*TETHER, "run", "wait"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),  # what nohup does
    )  # fmt: skip
    wait_for_event(ev.SandboxProvisioned)
    harness.send_signal(signal.SIGHUP)
    assert finish(harness) == 0
    events = session_events()
    assert isinstance(events[-1], ev.StatusIdle) and events[-1].stop_reason == "end_turn"
    assert not of_type(events, ev.UserInterrupt)


# -- 14: a reader that goes away ---------------------------------------------------------

CHATTY = [
    text("line one\nline two\nline three\n") + bash("for i in $(seq 50); do echo out $i; done"),
    text("more\n" * 30) + bash("echo second call"),
    text("All done."),
]


@contextmanager
def shell(command: str, env: dict[str, str]) -> Iterator[subprocess.CompletedProcess[str]]:
    yield subprocess.run(
        ["bash", "-c", command], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("json_mode", [False, True], ids=["human", "json"])
def test_a_reader_that_goes_away_does_not_stop_the_agent(
    json_mode: bool, api: FakeAPI, env: dict[str, str]
) -> None:
    """`tether run ... | head -n 1`: head exits after one line; the agent carries on."""
    api.add(*CHATTY)
    flags = "--json " if json_mode else ""
    tether = " ".join(TETHER)
    command = f"{tether} run {flags}go | head -n 1; exit ${{PIPESTATUS[0]}}"
    with shell(command, env) as done:
        assert done.returncode == 0, done.stderr
        assert len(done.stdout.splitlines()) == 1
        assert "Traceback" not in done.stderr
        assert "went away" in done.stderr and "the run goes on" in done.stderr
    events = session_events()
    assert_invariants(events)
    assert isinstance(events[-1], ev.StatusIdle) and events[-1].stop_reason == "end_turn"
    assert len(of_type(events, ev.AgentToolResult)) == 2
    assert of_type(events, ev.AgentMessage)[-1].content == "All done."


@pytest.mark.parametrize("closed", [">&-", "2>&-", ">&- 2>&-"])
def test_a_run_with_a_closed_stdout_or_stderr_still_runs(
    closed: str, api: FakeAPI, env: dict[str, str]
) -> None:
    api.add(*CHATTY)
    with shell(f"{' '.join(TETHER)} run go {closed}", env) as done:
        assert done.returncode == 0, done.stderr
    events = session_events()
    assert isinstance(events[-1], ev.StatusIdle) and events[-1].stop_reason == "end_turn"
    assert len(of_type(events, ev.AgentToolResult)) == 2
