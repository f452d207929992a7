"""`--last` means the session created last, whatever the clock said (issue 13, item 10).

Sessions are numbered in the order they are created, by a counter in the data dir
taken under a lock, and the number is recorded in `session.created`. The clock is
stepped back for real, for the second `tether run` only, with libfaketime (Debian's
`faketime` package, which tests/run.sh installs).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from e2e import TETHER, json_lines, run, session_events
from fakeapi import FakeAPI, text

from tether.cli.completion import complete_session_id
from tether.core import events as ev
from tether.core.store import SessionStore

FAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


def clock_stepped_back(env: dict[str, str], by: str = "-1d") -> dict[str, str]:
    """`env` for a process whose wall clock reads `by` from the real one."""
    if not FAKETIME.exists():
        pytest.skip("libfaketime is not installed (apt-get install faketime; see tests/run.sh)")
    return env | {
        "LD_PRELOAD": str(FAKETIME),
        "FAKETIME": by,
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",  # timeouts and durations stay real
    }


def created(session_id: str) -> ev.SessionCreated:
    first = session_events(session_id)[0]
    assert isinstance(first, ev.SessionCreated)
    return first


def test_last_is_the_session_created_last_after_the_clock_steps_back(
    api: FakeAPI, env: dict[str, str]
) -> None:
    api.add(text("one"), text("two"))
    first = json_lines(run(["run", "--json", "first"], env).stdout)[-1]["session_id"]
    done = run(["run", "--json", "second"], clock_stepped_back(env))
    assert done.returncode == 0, done.stderr
    second = json_lines(done.stdout)[-1]["session_id"]
    assert created(second).ts < created(first).ts  # the clock did step back
    assert second < first  # and ids, made from the clock, sort the wrong way too

    shown = json_lines(run(["show", "--last", "--json"], env).stdout)[0]
    assert shown["id"] == second
    assert [row["id"] for row in json_lines(run(["ls", "--json"], env).stdout)] == [second, first]
    assert run(["ls"], env).stdout.splitlines()[1].startswith(second)
    assert complete_session_id("") == [second, first]
    tailed = run(["tail", "--last", "--json"], env)
    assert json_lines(tailed.stdout)[0]["session_id"] == second

    api.add(text("three"))
    assert run(["resume", "--last", "again"], env).returncode == 0
    assert api.requests[-1].body["messages"][0]["content"][0]["text"] == "second"
    assert created(first).creation_seq == 1 and created(second).creation_seq == 2


def test_numbers_are_unique_across_processes_creating_at_once(tether_home: Path) -> None:
    script = (
        "from tether.core import events as ev\n"
        "from tether.core.store import SessionStore\n"
        "for _ in range(10):\n"
        "    SessionStore().create(ev.SessionCreated(model='m')).close()\n"
    )
    makers = [subprocess.Popen([sys.executable, "-c", script]) for _ in range(6)]
    assert all(maker.wait(timeout=120) == 0 for maker in makers)
    numbers = [created(session_id).creation_seq for session_id in SessionStore().ids()]
    assert sorted(numbers) == list(range(1, 61))  # type: ignore[type-var]


def test_a_lost_counter_goes_on_from_the_sessions_already_there(tether_home: Path) -> None:
    store = SessionStore()
    for _ in range(3):
        store.create(ev.SessionCreated(model="m")).close()
    for leftover in store.root.glob(".*"):
        leftover.unlink()  # the counter, deleted by hand or lost
    newest = store.create(ev.SessionCreated(model="m"), "zzz-but-older-id")
    newest.close()
    assert created("zzz-but-older-id").creation_seq == 4
    assert store.last().id == "zzz-but-older-id"


def test_a_copied_first_event_gets_a_number_of_its_own(tether_home: Path) -> None:
    """A fork starts from its parent's session.created: the store numbers it anew."""
    store = SessionStore()
    store.create(ev.SessionCreated(model="m"), "parent").close()
    store.create(created("parent"), "child").close()
    assert created("child").creation_seq == 2 and store.last().id == "child"


def test_sessions_from_before_the_numbers_come_first_in_creation_time(
    tether_home: Path,
) -> None:
    """A data dir from an older tether: its sessions have no number and are older than
    any numbered one; among themselves the clock is all there is."""
    store = SessionStore()
    old = ev.SessionCreated(model="m", ts="2030-01-01T00:00:00.000Z")  # a clock ahead, even
    for session_id in ("old1", "old2"):
        session = store.create(old, session_id)
        session.close()
        lines = session.log_path.read_text().replace(',"creation_seq":', ',"was_seq":')
        session.log_path.write_text(lines)
    assert store.last().id == "old2"
    store.create(ev.SessionCreated(model="m"), "new1").close()
    assert store.last().id == "new1"
    env = os.environ.copy()
    listed = subprocess.run([*TETHER, "ls", "--json"], env=env, capture_output=True, text=True)
    assert [row["id"] for row in json_lines(listed.stdout)] == ["new1", "old2", "old1"]
