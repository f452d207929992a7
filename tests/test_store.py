"""The session store: appends, slices, torn and garbage lines, the lock, status,
id prefixes and file modes. Processes that compete are real subprocesses."""

from __future__ import annotations

import logging
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tether.core import errors
from tether.core import events as ev
from tether.core.store import SessionLog, SessionStore, new_session_id

CREATED = ev.SessionCreated(model="claude-test", tools=("bash",), image="img")


def created() -> ev.SessionCreated:
    return ev.SessionCreated(model="claude-test", tools=("bash",), image="img")


def make(store: SessionStore, count: int = 0, session_id: str | None = None) -> SessionLog:
    """A session with `count` user messages after its session.created, unlocked."""
    session = store.create(created(), session_id=session_id)
    for i in range(count):
        session.append(ev.UserMessage(content=f"message {i}"))
    session.close()
    return session


@pytest.fixture
def store(tether_home: Path) -> SessionStore:
    return SessionStore()


# -- append and read ------------------------------------------------------------------


def test_append_returns_gap_free_seqs_and_read_slices_like_a_list(store: SessionStore) -> None:
    session = store.create(CREATED)
    seqs = [session.append(ev.UserMessage(content=str(i))) for i in range(10)]
    assert seqs == list(range(1, 11))
    everything = session.read()
    assert [e.seq for e in everything] == list(range(11))
    for start, stop in [(0, None), (3, 7), (-4, None), (-4, -1), (5, 5), (9, 100), (20, None)]:
        assert session.read(start, stop) == everything[start:stop]
    assert list(session) == everything


def test_a_reopened_log_continues_the_seqs(store: SessionStore) -> None:
    session = make(store, 3)
    again = SessionLog(session.dir)
    assert again.append(ev.UserMessage(content="more")) == 4
    again.close()


def test_session_ids_are_short_sortable_and_unique() -> None:
    ids = [new_session_id() for _ in range(5000)]
    assert len(set(ids)) == 5000 and all(len(i) == 13 for i in ids)
    assert [i[:9] for i in ids] == sorted(i[:9] for i in ids)


def test_creating_an_existing_session_id_is_refused(store: SessionStore) -> None:
    make(store, session_id="mine")
    with pytest.raises(errors.SessionExists):
        store.create(CREATED, session_id="mine")
    with pytest.raises(errors.UsageError):
        store.create(CREATED, session_id="../escape")


# -- torn and garbage lines ------------------------------------------------------------


def test_a_torn_last_line_is_skipped_with_a_warning_and_cut_by_the_next_append(
    store: SessionStore, caplog: pytest.LogCaptureFixture
) -> None:
    session = make(store, 3)
    with open(session.log_path, "ab") as f:
        f.write(b'{"v":1,"seq":4,"id":"ev_x","ts":"2026-')
    assert [e.seq for e in session.read()] == [0, 1, 2, 3]
    assert [e.seq for e in session.read(-2)] == [2, 3]
    assert [e.seq for e in session.follow(2, until=lambda: True)] == [2, 3]
    assert "torn last line" in caplog.text

    writer = SessionLog(session.dir)
    assert writer.append(ev.UserMessage(content="after the crash")) == 4
    writer.close()
    assert session.log_path.read_bytes().endswith(b"\n")
    assert [e.seq for e in session.read()] == [0, 1, 2, 3, 4]
    assert all(line.startswith(b"{") for line in session.log_path.read_bytes().splitlines())


def test_a_garbage_line_in_the_middle_is_skipped_with_a_warning(
    store: SessionStore, caplog: pytest.LogCaptureFixture
) -> None:
    session = make(store, 6)
    lines = session.log_path.read_bytes().splitlines(keepends=True)
    lines[3] = b"this is not json\n"
    session.log_path.write_bytes(b"".join(lines))
    with caplog.at_level(logging.WARNING):
        assert [e.seq for e in session.read()] == [0, 1, 2, 4, 5, 6]
    assert "skipping a bad line" in caplog.text
    assert [e.seq for e in session.read(3)] == [4, 5, 6]
    assert [e.seq for e in session.read(-3)] == [4, 5, 6]
    assert [e.seq for e in session.follow(2, until=lambda: True)] == [2, 4, 5, 6]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sizes=st.lists(st.integers(0, 3000), min_size=1, max_size=40),
    garbage=st.sets(st.integers(1, 40)),
    start=st.integers(0, 45),
)
def test_reading_from_a_seq_finds_it_by_bisection(
    tmp_path: Path, sizes: list[int], garbage: set[int], start: int
) -> None:
    directory = tmp_path / new_session_id()
    directory.mkdir()
    session = SessionLog(directory)
    session.append(CREATED)
    for size in sizes:
        session.append(ev.AgentMessage(content="x" * size))
    session.close()
    lines = session.log_path.read_bytes().splitlines(keepends=True)
    kept = [i for i in range(len(lines)) if i not in garbage]
    session.log_path.write_bytes(
        b"".join(b"\x00garbage\n" if i in garbage else line for i, line in enumerate(lines))
    )
    assert [e.seq for e in session.read(start)] == [i for i in kept if i >= start]


# -- follow -----------------------------------------------------------------------------


def test_follow_yields_new_events_until_told_to_stop(store: SessionStore) -> None:
    session = store.create(CREATED)
    seen: list[int] = []
    for event in session.follow(0, until=lambda: len(seen) >= 3, poll_s=0.001):
        seen.append(event.seq)
        if event.seq < 4:
            session.append(ev.UserMessage(content="next"))
    assert seen == [0, 1, 2, 3, 4]
    session.close()


# -- the lock ---------------------------------------------------------------------------

HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from tether.core import events as ev
    from tether.core.store import SessionLog
    log = SessionLog(Path(sys.argv[1]))
    log.append(ev.StatusRunning(pid=0, host="test"))
    print("ready", flush=True)
    time.sleep(60)
    """
)
APPENDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from tether.core import errors, events as ev
    from tether.core.store import SessionLog
    try:
        SessionLog(Path(sys.argv[1])).append(ev.UserMessage(content="me too"))
    except errors.SessionBusy as exc:
        print(exc)
        sys.exit(9)
    """
)


@pytest.fixture
def holder(store: SessionStore) -> Iterator[tuple[SessionLog, subprocess.Popen[str]]]:
    """A session whose lock is held by another process that has appended status_running."""
    session = make(store, 1)
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(session.dir)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline() == "ready\n"
    yield session, process
    process.kill()
    process.wait()


def test_a_second_process_appending_is_refused_by_the_lock(holder) -> None:  # type: ignore[no-untyped-def]
    session, _ = holder
    second = subprocess.run(
        [sys.executable, "-c", APPENDER, str(session.dir)], capture_output=True, text=True
    )
    assert second.returncode == 9, second.stderr
    assert "running in another harness" in second.stdout
    with pytest.raises(errors.SessionBusy):
        SessionLog(session.dir).append(ev.UserMessage(content="me neither"))
    assert [e.TYPE for e in session.read()][-1] == "session.status_running"


def test_status_is_running_while_held_and_crashed_after_sigkill(holder) -> None:  # type: ignore[no-untyped-def]
    session, process = holder
    assert session.is_locked() and session.status() == "running"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not session.is_locked()
    assert session.status() == "crashed"
    SessionLog(session.dir).append(ev.UserMessage(content="resumable"))  # the lock is free


@pytest.mark.parametrize(
    ("last", "status"),
    [
        (None, "crashed"),
        (ev.StatusRunning(pid=1, host="h"), "crashed"),
        (ev.StatusIdle(stop_reason="end_turn"), "idle"),
        (ev.StatusTerminated(by="kill"), "terminated"),
    ],
)
def test_status_is_derived_from_the_last_status_event(
    store: SessionStore, last: ev.Event | None, status: str
) -> None:
    session = store.create(CREATED)
    if last is not None:
        session.append(last)
    session.append(ev.AgentMessage(content="after the status"))
    assert session.status() == "running"  # this process holds the lock
    session.close()
    assert session.status() == status


# -- ids and --last ---------------------------------------------------------------------


def test_prefixes_resolve_to_one_session(store: SessionStore) -> None:
    for session_id in ("abc", "abcd", "abd", "xyz1"):
        make(store, session_id=session_id)
    assert store.resolve("abc") == "abc"  # exact, though also a prefix of abcd
    assert store.resolve("abcd") == "abcd"
    assert store.resolve("x") == "xyz1"
    with pytest.raises(errors.AmbiguousSession, match="abd, abcd, abc"):  # newest first
        store.resolve("ab")
    with pytest.raises(errors.SessionNotFound):
        store.resolve("q")
    with pytest.raises(errors.SessionNotFound):
        store.resolve("")


def test_last_is_the_most_recently_created(store: SessionStore) -> None:
    with pytest.raises(errors.SessionNotFound):
        store.last()
    make(store, session_id="zzz-old")
    time.sleep(0.005)  # timestamps have millisecond resolution
    newest = make(store, session_id="aaa-new")
    assert store.last().id == newest.id


# -- file modes -------------------------------------------------------------------------


def test_session_files_are_0600_and_directories_0700(store: SessionStore) -> None:
    old = os.umask(0)  # the modes must not depend on a friendly umask
    try:
        session = make(store, 1)
    finally:
        os.umask(old)
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700
    assert stat.S_IMODE(session.dir.stat().st_mode) == 0o700
    for path in session.dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_the_last_status_is_found_however_far_back_it_is(store: SessionStore) -> None:
    log = make(store)
    log.append(ev.StatusRunning(pid=4242, host="here"))
    log.append_many([ev.UserMessage(content=f"step {n}") for n in range(500)])
    last = log.last_status()
    assert isinstance(last, ev.StatusRunning) and last.pid == 4242
    log.close()
    assert SessionLog(log.dir).status() == "crashed"
