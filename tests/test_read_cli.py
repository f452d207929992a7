"""The read-side commands, run as the real `tether` executable: ls, show, tail, rm,
every bad input, and `tail -f` against a writer in another process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tether.core import events as ev
from tether.core.exit_codes import ExitCode
from tether.core.store import SessionLog, SessionStore

TETHER = str(Path(sys.executable).with_name("tether"))


def tether(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TETHER, *args], capture_output=True, text=True, timeout=30, env=env or os.environ.copy()
    )


def make(
    session_id: str, prompt: str = "fix the tests", stop: ev.Event | None = None
) -> SessionLog:
    """A finished two-turn session with one bash call, unlocked."""
    session = SessionStore().create(
        ev.SessionCreated(model="claude-test", tools=("bash",), image="img"), session_id
    )
    usage = ev.Usage(input_tokens=100, output_tokens=10, cache_read_input_tokens=5)
    session.append_many(
        [
            ev.StatusRunning(pid=1, host="h"),
            ev.UserMessage(content=prompt),
            ev.ModelRequestStart(model="claude-test"),
            ev.AgentToolUse(tool_use_id="t1", name="bash", input={"command": "ls -la"}),
            ev.ModelRequestEnd(model="claude-test", usage=usage, turn=1, stop_reason="tool_use"),
            ev.AgentToolResult(tool_use_id="t1", content="\n".join(f"f{i}" for i in range(9))),
            ev.ModelRequestStart(model="claude-test"),
            ev.AgentMessage(content="All green."),
            ev.ModelRequestEnd(model="claude-test", usage=usage, turn=2, stop_reason="end_turn"),
            stop or ev.StatusIdle(stop_reason="end_turn"),
        ]
    )
    session.close()
    time.sleep(0.002)  # distinct creation milliseconds, so "newest first" is well defined
    return session


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


# -- ls ---------------------------------------------------------------------------------


def test_ls_without_sessions_says_so() -> None:
    result = tether("ls")
    assert result.returncode == 0 and result.stdout == ""
    assert "No sessions yet" in result.stderr


def test_ls_lists_sessions_newest_first() -> None:
    make("older", prompt="first one")
    make("newer", prompt="second\none", stop=ev.StatusTerminated(by="kill"))
    result = tether("ls")
    assert result.returncode == 0, result.stderr
    header, first, second = result.stdout.splitlines()
    assert header.split()[:4] == ["ID", "STATUS", "OUTCOME", "CREATED"]
    assert first.startswith("newer") and "terminated  killed" in first
    assert first.endswith("second one")
    assert second.startswith("older") and " idle        done " in second and " 2 " in second
    assert "\x1b" not in result.stdout  # piped: no colour codes


def test_ls_json_prints_one_object_per_session() -> None:
    make("older")
    make("newer")
    rows = [json.loads(line) for line in tether("ls", "--json").stdout.splitlines()]
    assert [r["id"] for r in rows] == ["newer", "older"]
    assert rows[0].keys() == {
        "id", "status", "created", "last_activity", "turns", "prompt", "parent", "parent_seq",
        "stop_reason",
    }  # fmt: skip
    assert rows[0]["turns"] == 2 and rows[0]["status"] == "idle"
    assert rows[0]["stop_reason"] == "end_turn"
    assert rows[0]["prompt"] == "fix the tests"


# -- show -------------------------------------------------------------------------------


def test_show_gives_settings_status_usage_and_counts() -> None:
    make("abc123")
    result = tether("show", "abc")
    assert result.returncode == 0, result.stderr
    for expected in ("abc123", "idle · done (end_turn)", "claude-test", "bash 1", "fix the tests"):
        assert expected in result.stdout
    assert "span.model_request_end" not in result.stdout  # counts by type: with --events
    assert "      2  span.model_request_end" in tether("show", "abc", "--events").stdout
    assert not [line for line in result.stdout.splitlines() if line != line.rstrip()]
    stats = json.loads(tether("show", "--last", "--json").stdout)
    assert stats["settings"]["model"] == "claude-test"
    assert stats["usage"]["input_tokens"] == 200 and stats["usage"]["total_tokens"] == 230
    assert stats["turns"] == 2 and stats["events"] == 11
    assert stats["counts"]["span.model_request_end"] == 2
    assert stats["tool_calls"] == {"bash": 1} and stats["tool_errors"] == 0


# -- tail -------------------------------------------------------------------------------


def test_tail_json_prints_the_raw_lines() -> None:
    session = make("abc")
    lines = session.log_path.read_text().splitlines()
    assert tether("tail", "abc", "--json", "-n", "3").stdout.splitlines() == lines[-3:]
    assert tether("tail", "abc", "--json", "--since", "8").stdout.splitlines() == lines[8:]
    assert tether("tail", "abc", "--json").stdout.splitlines() == lines  # all, for programs
    assert tether("tail", "abc", "--json", "-n", "10").stdout.splitlines() == lines[-10:]
    assert tether("tail", "abc", "--json", "-n", "0").stdout == ""


def test_tail_renders_events_readably() -> None:
    make("abc")
    out = tether("tail", "--last", "--since", "0").stdout
    assert "> fix the tests" in out
    assert "▸ bash  ls -la" in out
    assert "⎿ ✓ 0 ms\n    f0" in out and "… 5 more lines" in out and "f8" not in out
    assert "All green." in out
    assert "\x1b" not in out


def test_tail_follow_of_a_run_that_ends_during_the_backlog_prints_its_end_and_stops() -> None:
    """The run ends while tail is still printing what came before (its pipe full): tail
    was started on a running session, so it prints what came after and stops."""
    session = SessionStore().create(ev.SessionCreated(model="m"), "busy")  # we hold the lock
    session.append_many(ev.UserMessage(content=f"line {i} " + "x" * 200) for i in range(3000))
    follower = subprocess.Popen(
        [TETHER, "tail", "busy", "-f", "--json"], stdout=subprocess.PIPE, text=True
    )
    assert follower.stdout is not None
    try:
        assert json.loads(follower.stdout.readline())["type"] == "session.created"
        session.append(ev.StatusIdle(stop_reason="end_turn"))  # tail is blocked mid-backlog
        session.close()
        rest, _ = follower.communicate(timeout=30)
        assert json.loads(rest.splitlines()[-1])["type"] == "session.status_idle"
        assert follower.returncode == 0
    finally:
        follower.kill()
        follower.wait()


def test_tail_follow_sees_appends_from_another_process() -> None:
    session = SessionStore().create(ev.SessionCreated(model="m"), "live")  # we hold the lock
    follower = subprocess.Popen(
        [TETHER, "tail", "live", "-f", "--json"], stdout=subprocess.PIPE, text=True
    )
    assert follower.stdout is not None
    try:
        assert json.loads(follower.stdout.readline())["type"] == "session.created"
        for i in range(3):
            session.append(ev.UserMessage(content=f"hello {i}"))
            assert ev.parse_line(follower.stdout.readline()).content == f"hello {i}"
        session.append(ev.StatusIdle(stop_reason="end_turn"))
        session.close()  # no longer running: the follower prints the rest and stops
        assert json.loads(follower.stdout.readline())["type"] == "session.status_idle"
        assert follower.wait(timeout=10) == 0
    finally:
        follower.kill()
        follower.wait()


def test_tail_follow_of_a_finished_session_returns_at_once() -> None:
    make("done")
    result = tether("tail", "done", "-f", "-n", "1", "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["type"] == "session.status_idle"


# -- rm ---------------------------------------------------------------------------------


def test_rm_removes_an_idle_session() -> None:
    session = make("gone")
    result = tether("rm", "gone")
    assert result.returncode == 0, result.stderr
    assert "removed gone" in result.stdout
    assert not session.dir.exists()


def test_rm_refuses_a_running_session_unless_forced() -> None:
    """A process that holds the lock as a harness does; --force stops it (SIGTERM) first."""
    script = (
        "from tether.core import events as ev\n"
        "from tether.core.store import SessionStore\n"
        "SessionStore().create(ev.SessionCreated(model='m'), 'busy')\n"
        "print('locked', flush=True)\n"
        "import time; time.sleep(60)\n"
    )
    harness = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert harness.stdout is not None and harness.stdout.readline().strip() == "locked"
    session = SessionStore().open("busy")
    result = tether("rm", "busy")
    assert result.returncode == ExitCode.BUSY
    assert "running" in one_error_line(result) and session.dir.exists()
    assert tether("rm", "busy", "--force").returncode == 0
    assert harness.wait(timeout=10) == -signal.SIGTERM
    assert not session.dir.exists()


# -- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["show", "nope"], ExitCode.NOT_FOUND, "no session matches 'nope'"),
        (["tail", "ab"], ExitCode.NOT_FOUND, "matches 2 sessions"),
        (["show", "--last", "abc1"], ExitCode.USAGE, "not both"),
        (["tail"], ExitCode.USAGE, "missing session ID"),
        (["tail", "abc1", "-n", "-1"], ExitCode.USAGE, "-n"),
        (["tail", "abc1", "--since", "x"], ExitCode.USAGE, "--since"),
        (["tail", "abc1", "-n", "2", "--since", "1"], ExitCode.USAGE, "not both"),
        (["ls", "--bogus"], ExitCode.USAGE, "No such option"),
        (["frobnicate"], ExitCode.USAGE, "No such command"),
        (["show", "corrupt"], ExitCode.ERROR, "session corrupt: the first line is bad"),
        (["tail", "corrupt"], ExitCode.ERROR, "session corrupt: the first line is bad"),
        (["show", "unreadable"], ExitCode.ERROR, "cannot read session unreadable"),
        (["tail", "unreadable", "-n", "1"], ExitCode.ERROR, "cannot read session unreadable"),
        (["ls"], ExitCode.OK, "tether rm corrupt removes it"),
    ],
)
def test_bad_input_gets_one_line_and_an_exit_code(
    tether_home: Path, args: list[str], code: int, says: str
) -> None:
    make("abc1")
    make("abc2")
    (tether_home / "sessions" / "corrupt").mkdir(mode=0o700)
    (tether_home / "sessions" / "corrupt" / "events.jsonl").write_bytes(b"\x00\x01garbage\n")
    (tether_home / "sessions" / "unreadable" / "events.jsonl").mkdir(parents=True)
    result = tether(*args)
    assert result.returncode == code, result.stderr
    if args == ["ls"]:  # the readable sessions are listed, the others shown broken and warned of
        assert "abc1" in result.stdout and "Traceback" not in result.stderr
        rows = dict(line.split()[:2] for line in result.stdout.splitlines()[1:])
        assert rows["corrupt"] == rows["unreadable"] == "broken"
        assert says in result.stderr and "tether rm unreadable" in result.stderr
    else:
        assert says in one_error_line(result)


def test_a_tether_home_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    env = os.environ | {"TETHER_HOME": str(tmp_path / "file")}
    for args in (["ls"], ["show", "x"], ["tail", "--last"], ["rm", "x"]):
        result = tether(*args, env=env)
        assert result.returncode == ExitCode.ERROR
        assert "is a file, not a directory" in one_error_line(result)


def test_a_tether_home_not_there_yet_reads_as_empty(tmp_path: Path) -> None:
    env = os.environ | {"TETHER_HOME": str(tmp_path / "new")}
    assert "No sessions yet" in tether("ls", env=env).stderr
    assert tether("show", "x", env=env).returncode == ExitCode.NOT_FOUND
    assert not (tmp_path / "new").exists(), "reading creates nothing"


def test_last_without_sessions_is_not_found() -> None:
    result = tether("tail", "--last")
    assert result.returncode == ExitCode.NOT_FOUND
    assert "no sessions" in one_error_line(result)


# -- reading never writes ---------------------------------------------------------------


def test_reading_a_torn_log_leaves_it_untouched() -> None:
    session = make("torn")
    with open(session.log_path, "ab") as f:
        f.write(b'{"v":1,"seq":11,"ty')
    os.utime(session.log_path, ns=(1_000_000_000, 1_000_000_000))
    before = session.log_path.read_bytes(), session.log_path.stat().st_mtime_ns
    for args in (
        ["ls"],
        ["ls", "--json"],
        ["show", "torn"],
        ["tail", "torn"],
        ["tail", "torn", "-f"],
    ):
        result = tether(*args)
        assert result.returncode == 0, result.stderr
        assert "torn last line" in result.stderr
    assert (session.log_path.read_bytes(), session.log_path.stat().st_mtime_ns) == before
    assert [e.seq for e in session.read(-1)] == [10]


def test_ls_and_help_never_import_the_sdks() -> None:
    make("abc")
    for args in (["ls"], ["--help"], ["tail", "abc"], ["show", "abc"]):
        result = subprocess.run(
            [sys.executable, "-X", "importtime", TETHER, *args], capture_output=True, text=True
        )
        imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines()}
        assert not {m for m in imported if m.split(".")[0] in ("anthropic", "docker")}, args
