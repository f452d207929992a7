"""Conventions a person expects: help everywhere, defaults shown, a data dir made on
first use, several ids at once, prune, and the `tail` options."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path

import pytest
from e2e import TETHER, run, wait_for
from fakeapi import FakeAPI, text

from tether.core import events as ev
from tether.core.exit_codes import ExitCode
from tether.core.store import SessionLog, SessionStore


def finished(session_id: str, prompt: str = "hello", age_s: float = 0) -> SessionLog:
    """An idle session whose last event is `age_s` old."""
    ts = ev.utc_now()
    if age_s:
        stamp = time.gmtime(time.time() - age_s)
        ts = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", stamp)
    session = SessionStore().create(ev.SessionCreated(model="m", ts=ts), session_id)
    session.append_many(
        [ev.UserMessage(content=prompt, ts=ts), ev.StatusIdle(stop_reason="end_turn", ts=ts)]
    )
    session.close()
    return session


# -- help ----------------------------------------------------------------------------


def test_bare_tether_and_tether_help_print_the_help_and_succeed(env: dict) -> None:
    for args in ([], ["help"], ["--help"]):
        result = run(args, env)
        assert result.returncode == 0, result.stderr
        assert "Usage: tether" in result.stdout and "prune" in result.stdout
        commands = [
            line.split()[0]
            for line in result.stdout.split("Commands:")[1].splitlines()
            if line.strip()
        ]
        assert "_wake" not in commands and "logs" not in commands and "help" in commands


def test_help_shows_the_defaults(env: dict) -> None:
    result = run(["help", "run"], env)
    assert result.returncode == 0
    out = " ".join(result.stdout.split())
    for default in (
        "[default: claude-sonnet-5-5]", "[default: python:3.12-bookworm]", "[default: 2g]",
        "[default: 512]", "[default: 8192]", "[default: no limit]", "[default: off]",
    ):  # fmt: skip
        assert default in out, default
    assert "--print" in out and "--detach" in out


def test_logs_is_tail(env: dict) -> None:
    finished("abc")
    assert (
        run(["logs", "abc", "-n", "1"], env).stdout == run(["tail", "abc", "-n", "1"], env).stdout
    )
    assert "idle: end_turn" in run(["logs", "abc"], env).stdout


# -- the data dir --------------------------------------------------------------------


def test_a_new_tether_home_is_created_private(api: FakeAPI, env: dict, tmp_path: Path) -> None:
    home = tmp_path / "new" / "home"
    api.add(text("hi"))
    result = run(["run", "hi"], env | {"TETHER_HOME": str(home)})
    assert result.returncode == 0, result.stderr
    assert (home / "sessions").is_dir()
    assert home.stat().st_mode & 0o777 == 0o700


def test_an_unusable_tether_home_says_what_and_how(env: dict, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    result = run(["run", "hi"], env | {"TETHER_HOME": str(tmp_path / "file" / "home")})
    assert result.returncode == ExitCode.ERROR
    line = result.stderr.strip()
    assert line.startswith(f"error: cannot create a session in {tmp_path / 'file' / 'home'}")
    assert "Not a directory; a part of that path is a file" in line and "TETHER_HOME" in line


def test_config_keys_and_unknown_ones(env: dict, tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("budget = 5000\ntimeout = 60\n")
    out = run(["config", "--json"], env | {"TETHER_CONFIG": str(config)}).stdout
    assert '"budget": {"value": 5000' in out and '"timeout": {"value": 60' in out
    config.write_text("max_turn = 3\n")
    result = run(["run", "hi"], env | {"TETHER_CONFIG": str(config)})
    assert result.returncode == ExitCode.USAGE
    assert "unknown key 'max_turn'; did you mean 'max_turns'?" in result.stderr
    config.write_bytes(b"model = '\xff'\n")
    result = run(["config"], env | {"TETHER_CONFIG": str(config)})
    assert result.returncode == ExitCode.USAGE and "not UTF-8 text" in result.stderr


# -- ids -----------------------------------------------------------------------------


def test_ambiguous_ids_are_listed_newest_first(env: dict) -> None:
    for session_id in ("ab-old", "ab-mid", "ab-new"):
        finished(session_id)
        time.sleep(0.005)
    result = run(["show", "ab"], env)
    assert result.returncode == ExitCode.NOT_FOUND
    assert "(ab-new, ab-mid, ab-old)" in result.stderr


def test_rm_takes_several_ids_and_removes_none_if_one_is_wrong(env: dict) -> None:
    for session_id in ("one", "two", "three"):
        finished(session_id)
    result = run(["rm", "one", "nosuch", "two"], env)
    assert result.returncode == ExitCode.NOT_FOUND and "'nosuch'" in result.stderr
    assert sorted(SessionStore().ids()) == ["one", "three", "two"]
    result = run(["rm", "one", "tw"], env)
    assert result.returncode == 0 and result.stdout == "removed one\nremoved two\n"
    assert SessionStore().ids() == ["three"]


# -- prune ---------------------------------------------------------------------------


@pytest.mark.docker
def test_prune_removes_finished_sessions_and_orphans(env: dict, docker_client) -> None:  # type: ignore[no-untyped-def]
    finished("old", age_s=10 * 86400)
    finished("new")
    running = SessionStore().create(ev.SessionCreated(model="m"), "busy")  # we hold its lock
    home = str(SessionStore().root)
    orphan = docker_client.volumes.create(  # type: ignore[attr-defined]
        "tether-gone", labels={"tether.session": "gone", "tether.home": home}
    )
    try:
        dry = run(["prune", "--older-than", "7d", "--dry-run"], env)
        assert dry.returncode == 0, dry.stderr
        assert "would remove session old" in dry.stdout and "session new" not in dry.stdout
        assert "would remove volume tether-gone" in dry.stdout
        assert sorted(SessionStore().ids()) == ["busy", "new", "old"]
        result = run(["prune", "--older-than", "7d"], env)
        assert result.returncode == 0, result.stderr
        assert sorted(SessionStore().ids()) == ["busy", "new"]
        names = [v.name for v in docker_client.volumes.list()]  # type: ignore[attr-defined]
        assert "tether-gone" not in names
        assert run(["prune"], env).returncode == 0
        assert SessionStore().ids() == ["busy"], "a running session stays"
    finally:
        running.close()
        with contextlib.suppress(Exception):
            orphan.remove(force=True)


def test_prune_refuses_a_bad_age(env: dict) -> None:
    result = run(["prune", "--older-than", "soon"], env)
    assert result.returncode == ExitCode.USAGE
    assert "--older-than must be an age like 7d, 12h or 30m, not 'soon'" in result.stderr


# -- tail ----------------------------------------------------------------------------


def test_tail_json_is_the_whole_log(env: dict) -> None:
    session = finished("abc")
    session.acquire()
    session.append_many([ev.UserMessage(content=f"m{i}") for i in range(20)])
    session.close()
    lines = run(["tail", "abc", "--json"], env).stdout.splitlines()
    assert lines == session.log_path.read_text().splitlines()


def test_tail_f_of_an_idle_session_says_so_or_waits(api: FakeAPI, env: dict) -> None:
    finished("abc")
    result = run(["tail", "abc", "-f", "-n", "0"], env, timeout=10)
    assert result.returncode == 0 and result.stdout == ""
    assert "session abc is idle, not running: nothing to follow" in result.stderr
    waiting = subprocess.Popen(
        [*TETHER, "tail", "abc", "-f", "-n", "0", "--wait", "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(1.5)
        assert waiting.poll() is None, "it waits for the session to run"
        api.add(text("back again"))
        assert run(["resume", "abc", "more"], env).returncode == 0
        out, err = waiting.communicate(timeout=30)
    finally:
        waiting.kill()
    assert "waiting for it to run" in err
    types = [line.split('"type":"')[1].split('"')[0] for line in out.splitlines()]
    assert types[0] == "session.status_running" or "user.message" in types
    assert types[-1] == "session.status_idle", "it followed the run to its end, then stopped"


def test_tail_n_0_f_follows_from_now(env: dict) -> None:
    session = SessionStore().create(ev.SessionCreated(model="m"), "live")  # held: running
    session.append(ev.UserMessage(content="old"))
    follower = subprocess.Popen(
        [*TETHER, "tail", "live", "-f", "-n", "0", "--json"],
        env=env | {"TETHER_HOME": os.environ["TETHER_HOME"]}, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(1.0)
        session.append(ev.UserMessage(content="new"))
        assert follower.stdout is not None
        line = follower.stdout.readline()
        event = ev.parse_line(line)  # the first line printed is the new one, not "old"
        assert isinstance(event, ev.UserMessage) and event.content == "new"
    finally:
        session.close()
        wait_for(lambda: follower.poll() is not None, 10, "tail to stop")
