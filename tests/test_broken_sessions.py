"""Sessions that a full disk, inode exhaustion, an interrupted `rm` or odd input left
in a strange state, and inputs that must not create one (issue 13, items 11 and
15 to 18). The real `tether` runs in a subprocess throughout; the runs that get as
far as the model talk to the fake Messages API.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e import TEST_IMAGE, TETHER, json_lines, only_session_id, session_events, tether_env
from fakeapi import FakeAPI, text

from tether.core import events as ev
from tether.core.exit_codes import ExitCode
from tether.core.store import SessionStore


def tether(
    args: list[str | bytes], env: dict[str, str], stdin: bytes = b"", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The real CLI; args may be bytes, as a shell passes them."""
    done = subprocess.run(
        [*TETHER, *args], env=env, input=stdin, capture_output=True, timeout=timeout
    )
    out, err = done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
    return subprocess.CompletedProcess(done.args, done.returncode, out, err)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def finished(session_id: str, prompt: str = "hello") -> None:
    """An idle one-turn session."""
    session = SessionStore().create(ev.SessionCreated(model="claude-test"), session_id)
    session.append_many(
        [
            ev.UserMessage(content=prompt),
            ev.ModelRequestStart(model="claude-test"),
            ev.AgentMessage(content="hi"),
            ev.ModelRequestEnd(model="claude-test", turn=1, stop_reason="end_turn"),
            ev.StatusIdle(stop_reason="end_turn"),
        ]
    )
    session.close()


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() else b"<dir>"
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture
def quiet_env(tether_home: Path) -> Iterator[dict[str, str]]:
    with FakeAPI(default=text("ok")) as api:
        yield tether_env(api.base_url, TEST_IMAGE)


# -- 11 and 15: a log that is empty or missing ------------------------------------------


@pytest.mark.parametrize("log", ["empty", "missing", "only a lock"])
def test_ls_lists_a_broken_session_and_goes_on(
    log: str, tether_home: Path, quiet_env: dict[str, str]
) -> None:
    finished("good1")
    broken = tether_home / "sessions" / "broken1"
    broken.mkdir(mode=0o700)
    if log == "empty":  # a full disk at `run`
        (broken / "events.jsonl").write_bytes(b"")
    elif log == "only a lock":  # an interrupted `rm`
        (broken / "lock").write_bytes(b"")
    for _ in range(2):  # and again: one broken session must not stick
        listed = tether(["ls"], quiet_env, timeout=15)
        assert listed.returncode == 0, listed.stderr
        assert "Traceback" not in listed.stderr
        rows = {line.split()[0]: line.split()[1] for line in listed.stdout.splitlines()[1:]}
        assert rows == {"good1": "idle", "broken1": "broken"}
        assert "broken1" in listed.stderr and "tether rm broken1" in listed.stderr
    as_json = tether(["ls", "--json"], quiet_env, timeout=15)
    assert as_json.returncode == 0, as_json.stderr
    statuses = {row["id"]: row["status"] for row in json_lines(as_json.stdout)}
    assert statuses == {"good1": "idle", "broken1": "broken"}


@pytest.mark.parametrize("log", ["empty", "missing", "only a lock"])
@pytest.mark.parametrize("force", [False, True])
def test_rm_removes_a_broken_session(
    log: str, force: bool, tether_home: Path, quiet_env: dict[str, str]
) -> None:
    broken = tether_home / "sessions" / "broken1"
    broken.mkdir(mode=0o700, parents=True)
    if log == "empty":
        (broken / "events.jsonl").write_bytes(b"")
    elif log == "only a lock":
        (broken / "lock").write_bytes(b"")
    removed = tether(["rm", "broken1", *(["--force"] if force else [])], quiet_env)
    assert removed.returncode == 0, removed.stderr
    assert "removed broken1" in removed.stdout
    assert not broken.exists()
    listed = tether(["ls"], quiet_env, timeout=15)
    assert listed.returncode == 0 and "No sessions yet" in listed.stderr


def test_show_and_tail_of_a_session_without_a_log_say_so(
    tether_home: Path, quiet_env: dict[str, str]
) -> None:
    (tether_home / "sessions" / "broken1").mkdir(parents=True, mode=0o700)
    for args in (["show", "broken1"], ["tail", "broken1"], ["resume", "broken1"]):
        result = tether(args, quiet_env)
        assert result.returncode == ExitCode.ERROR, (args, result.stderr)
        line = one_error_line(result)
        assert "broken1" in line and "tether rm broken1" in line, line


# -- 16: a system prompt over 256 KB -----------------------------------------------------


@pytest.mark.parametrize("where", ["system", "prompt"])
def test_a_huge_system_prompt_or_prompt_still_lists(
    where: str, tmp_path: Path, tether_home: Path, quiet_env: dict[str, str]
) -> None:
    huge = "Be careful. " * 40_000  # 480 KB
    big = tmp_path / "big.txt"
    big.write_text(huge if where == "system" else "first words " + huge)
    args = ["run", "--system-file", str(big), "hi"] if where == "system" else ["run", "-"]
    done = tether(args, quiet_env, stdin=big.read_bytes() if where == "prompt" else b"")
    assert done.returncode == 0, done.stderr
    session_id = only_session_id()
    listed = tether(["ls", "--json"], quiet_env)
    assert listed.returncode == 0, listed.stderr
    (row,) = json_lines(listed.stdout)
    assert row["id"] == session_id and row["status"] == "idle" and row["turns"] == 1
    assert row["prompt"] == ("hi" if where == "system" else ("first words " + huge)[:100].strip())
    assert tether(["show", session_id], quiet_env).returncode == 0
    assert tether(["tail", "--last"], quiet_env).returncode == 0


# -- 17: a prompt that is not UTF-8 --------------------------------------------------------

NOT_UTF8 = b"caf\xe9 au lait"


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        (["run", NOT_UTF8], b""),
        (["run", "-"], NOT_UTF8),
        (["run"], NOT_UTF8),  # a pipe without PROMPT
        (["run", "--system", NOT_UTF8, "hi"], b""),
        (["run", "--model", NOT_UTF8, "hi"], b""),
        (["resume", "good1", NOT_UTF8], b""),
        (["resume", "good1", "-"], NOT_UTF8),
    ],
    ids=["argv", "stdin dash", "stdin pipe", "system", "model", "resume argv", "resume stdin"],
)
@pytest.mark.parametrize("json_mode", [False, True], ids=["human", "json"])
def test_a_prompt_that_is_not_utf8_is_refused_and_creates_nothing(
    args: list[str | bytes],
    stdin: bytes,
    json_mode: bool,
    tether_home: Path,
    quiet_env: dict[str, str],
) -> None:
    finished("good1")
    before = snapshot(tether_home / "sessions")
    if json_mode:
        args = [args[0], "--json", *args[1:]]
    result = tether(args, quiet_env, stdin=stdin)
    assert result.returncode == ExitCode.USAGE, result.stderr
    line = one_error_line(result)
    assert "not valid UTF-8" in line and "0xe9" in line, line
    assert snapshot(tether_home / "sessions") == before
    if json_mode:
        (final,) = json_lines(result.stdout)
        assert final["type"] == "result" and final["exit_code"] == ExitCode.USAGE
        assert "not valid UTF-8" in final["error"]
    else:
        assert result.stdout == ""


def test_a_bad_byte_in_a_tether_variable_is_refused(
    tether_home: Path, quiet_env: dict[str, str]
) -> None:
    env = {k.encode(): v.encode() for k, v in quiet_env.items()}
    env[b"TETHER_IMAGE"] = b"img\xff"
    done = subprocess.run([*TETHER, "run", "hi"], env=env, capture_output=True, timeout=60)
    assert done.returncode == ExitCode.USAGE
    assert "TETHER_IMAGE" in done.stderr.decode() and b"Traceback" not in done.stderr
    assert not (tether_home / "sessions").exists() or not any((tether_home / "sessions").iterdir())


# -- 18: a read-only data dir --------------------------------------------------------------


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """`path` made read-only for real: a read-only bind mount as root, else its mode."""
    if os.geteuid() != 0:
        tree = [path, *path.rglob("*")]
        modes = {p: p.stat().st_mode for p in tree}
        for p in reversed(tree):
            p.chmod(0o500 if p.is_dir() else 0o400)
        try:
            yield
        finally:
            for p in tree:
                p.chmod(modes[p])
        return
    subprocess.run(["mount", "--bind", str(path), str(path)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(path)], check=True)
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.mark.parametrize("json_mode", [False, True], ids=["human", "json"])
def test_a_read_only_data_dir_is_a_storage_error_with_its_remedy(
    json_mode: bool, tether_home: Path, quiet_env: dict[str, str]
) -> None:
    finished("good1")
    flags = ["--json"] if json_mode else []
    with read_only(tether_home):
        before = snapshot(tether_home)
        for args in (["run", *flags, "hi"], ["resume", *flags, "good1", "again"]):
            result = tether(args, quiet_env)
            assert result.returncode == ExitCode.ERROR, result.stderr
            line = one_error_line(result)
            assert "read-only" in line.lower() and str(tether_home) in line, line
            assert "TETHER_HOME" in line, line  # the remedy
            if json_mode:
                assert json_lines(result.stdout)[-1]["exit_code"] == ExitCode.ERROR
        for args in (["ls"], ["show", "good1"], ["tail", "good1"]):
            assert tether(args, quiet_env).returncode == 0, args  # reading still works
        assert snapshot(tether_home) == before
    assert [e.TYPE for e in session_events("good1")][-1] == ev.StatusIdle.TYPE


def test_a_read_only_sessions_dir_is_a_storage_error(
    tether_home: Path, quiet_env: dict[str, str]
) -> None:
    finished("good1")
    with read_only(tether_home / "sessions"):
        result = tether(["run", "hi"], quiet_env)
    assert result.returncode == ExitCode.ERROR
    line = one_error_line(result)
    assert "unexpected" not in line and "read-only" in line.lower() and "TETHER_HOME" in line
    sessions = sorted(p.name for p in (tether_home / "sessions").iterdir() if p.is_dir())
    assert sessions == ["good1"]


def test_a_full_disk_at_run_leaves_no_broken_session(
    tether_home: Path, quiet_env: dict[str, str]
) -> None:
    """Where the empty logs of item 11 came from: a `run` whose first write fails."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(tether_home)], check=True
    )
    try:
        (tether_home / "filler").write_bytes(b"x" * 60_000)
        # fill what is left to the last byte
        with contextlib.suppress(OSError), open(tether_home / "filler", "ab") as f:
            while True:
                f.write(b"x" * 1024)
                f.flush()
        result = tether(["run", "--json", "hi"], quiet_env)
        assert result.returncode == ExitCode.ERROR, result.stderr
        line = one_error_line(result)
        assert "No space left" in line and "free some space" in line, line
        assert json_lines(result.stdout)[-1]["exit_code"] == ExitCode.ERROR
        assert not any(p.is_dir() for p in (tether_home / "sessions").iterdir())
    finally:
        subprocess.run(["umount", "-l", str(tether_home)], check=False)
