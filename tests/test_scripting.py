"""The contract scripts and CI rely on: JSON Lines, one result line, exit codes, stdin."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
from e2e import TETHER, json_lines, run, start, wait_for_event
from fakeapi import FakeAPI, error, text, tool_use

from tether.core import events as ev
from tether.core.exit_codes import ExitCode


def assert_result_matches_exit(result: subprocess.CompletedProcess[str], code: int) -> dict:
    """Every stdout line parses, the last is the one result line, and its code is ours."""
    lines = json_lines(result.stdout)
    assert [line["type"] for line in lines].count("result") == 1
    final = lines[-1]
    assert final["type"] == "result"
    assert result.returncode == final["exit_code"] == code, result.stderr
    assert "Traceback" not in result.stderr
    return final


def test_json_stream_is_the_log_then_one_result(api: FakeAPI, env: dict) -> None:
    api.add(text("hello there", input_tokens=10))
    result = run(["run", "--json", "hi"], env)
    final = assert_result_matches_exit(result, ExitCode.OK)
    lines = json_lines(result.stdout)
    assert lines[0]["type"] == "session.created"
    assert lines[0]["session_id"] == final["session_id"]
    events = [line for line in lines if line["type"] != "result"]
    assert [e["seq"] for e in events] == list(range(len(events)))
    assert final["stop_reason"] == "end_turn" and final["turns"] == 1
    assert final["usage"]["input_tokens"] == 10
    assert "hello there" in result.stderr  # the human view went to stderr


def test_quiet_json_prints_nothing_but_json(api: FakeAPI, env: dict) -> None:
    api.add(text("hello"))
    result = run(["run", "--json", "--quiet", "hi"], env)
    assert_result_matches_exit(result, ExitCode.OK)
    assert result.stderr == ""


def test_quiet_prints_only_the_session_id(api: FakeAPI, env: dict) -> None:
    api.add(text("hello"))
    result = run(["run", "-q", "hi"], env)
    assert result.returncode == 0
    assert len(result.stdout.split()) == 1 and result.stderr == ""


def test_session_id_can_be_chosen_up_front(api: FakeAPI, env: dict) -> None:
    api.add(text("hello"))
    result = run(["run", "--json", "--session-id", "build-42", "hi"], env)
    assert json_lines(result.stdout)[-1]["session_id"] == "build-42"
    again = run(["run", "--json", "--session-id", "build-42", "hi"], env)
    assert_result_matches_exit(again, ExitCode.ERROR)
    assert "already exists" in again.stderr


@pytest.mark.parametrize(
    "args,code",
    [
        (["run", "--json", ""], ExitCode.USAGE),
        (["resume", "--json", "no-such-session"], ExitCode.NOT_FOUND),
    ],
)
def test_errors_before_the_run_still_end_with_a_result(env: dict, args: list, code: int) -> None:
    assert_result_matches_exit(run(args, env), code)


def test_a_rejected_key_has_its_code(api: FakeAPI, env: dict) -> None:
    api.add(error(401))
    assert_result_matches_exit(run(["run", "--json", "hi"], env), ExitCode.AUTH)


def test_a_missing_key_has_its_code(env: dict) -> None:
    del env["ANTHROPIC_API_KEY"]
    assert_result_matches_exit(run(["run", "--json", "hi"], env), ExitCode.AUTH)


def test_retries_exhausted_has_its_code(api: FakeAPI, env: dict) -> None:
    api.add(*[error(529, retry_after_ms=1) for _ in range(5)])
    assert_result_matches_exit(run(["run", "--json", "hi"], env), ExitCode.MODEL)


def test_a_bad_flag_is_a_usage_error(env: dict) -> None:
    result = run(["run", "--max-turns", "many", "hi"], env)
    assert result.returncode == ExitCode.USAGE
    assert len(result.stderr.strip().splitlines()) == 1


def test_stdin_left_open_is_not_read_when_a_prompt_is_given(api: FakeAPI, env: dict) -> None:
    api.add(text("done"))
    writer = subprocess.Popen(["sleep", "100"], stdout=subprocess.PIPE)
    try:
        result = subprocess.run(
            [*TETHER, "run", "--json", "x"],
            env=env,
            stdin=writer.stdout,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        writer.kill()
    assert_result_matches_exit(result, ExitCode.OK)


def test_the_prompt_can_come_from_stdin(api: FakeAPI, env: dict) -> None:
    api.add(text("a"), text("b"))
    assert run(["run", "-"], env, stdin="from a dash\n").returncode == 0
    assert run(["run"], env, stdin="from a pipe\n").returncode == 0
    first, second = (r.body["messages"][0]["content"][0]["text"] for r in api.requests)
    assert (first, second) == ("from a dash\n", "from a pipe\n")


def test_an_empty_stdin_prompt_is_a_usage_error(env: dict) -> None:
    result = run(["run", "-"], env, stdin="  \n")
    assert result.returncode == ExitCode.USAGE and "prompt is empty" in result.stderr


def test_piped_output_has_no_ansi_codes(api: FakeAPI, env: dict) -> None:
    api.add(text("**bold** words"))
    env.pop("NO_COLOR")
    result = run(["run", "hi"], env)
    assert result.returncode == 0
    assert "\x1b[" not in result.stdout and "\x1b[" not in result.stderr
    assert "bold" in result.stdout


# --- the exit codes that need a sandbox ----------------------------------------------


@pytest.mark.docker
def test_max_turns_has_its_code(api: FakeAPI, env: dict, docker_client) -> None:  # type: ignore[no-untyped-def]
    api.add(tool_use("bash", {"command": "true"}), text("unreached"))
    final = assert_result_matches_exit(
        run(["run", "--json", "--max-turns", "1", "go"], env), ExitCode.MAX_TURNS
    )
    assert final["stop_reason"] == "max_turns"


@pytest.mark.docker
def test_budget_has_its_code(api: FakeAPI, env: dict, docker_client) -> None:  # type: ignore[no-untyped-def]
    api.add(tool_use("bash", {"command": "true"}), text("unreached"))
    final = assert_result_matches_exit(
        run(["run", "--json", "--budget", "5", "go"], env), ExitCode.BUDGET
    )
    assert final["stop_reason"] == "budget_reached"


@pytest.mark.docker
def test_timeout_has_its_code(api: FakeAPI, env: dict, docker_client) -> None:  # type: ignore[no-untyped-def]
    api.add(tool_use("bash", {"command": "sleep 30"}))
    final = assert_result_matches_exit(
        run(["run", "--json", "--timeout", "3", "go"], env), ExitCode.BUDGET
    )
    assert final["stop_reason"] == "timeout"


def test_an_unreachable_engine_has_the_sandbox_code(api: FakeAPI, env: dict) -> None:
    api.add(tool_use("bash", {"command": "true"}))
    env["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"
    final = assert_result_matches_exit(run(["run", "--json", "go"], env), ExitCode.SANDBOX)
    assert "Docker engine" in final["error"]


@pytest.mark.docker
@pytest.mark.parametrize(
    "signum,code",
    [
        (signal.SIGINT, ExitCode.INTERRUPTED),
        (signal.SIGTERM, ExitCode.TERMINATED),
    ],
)
def test_signals_have_their_codes(api, env, docker_client, signum, code) -> None:  # type: ignore[no-untyped-def]
    api.add(tool_use("bash", {"command": "sleep 30"}))
    harness = start(["run", "--json", "go"], env)
    wait_for_event(ev.AgentToolUse)
    harness.send_signal(signum)
    stdout, stderr = harness.communicate(timeout=30)
    completed = subprocess.CompletedProcess(harness.args, harness.returncode, stdout, stderr)
    assert_result_matches_exit(completed, code)


def test_a_busy_session_has_its_code(api: FakeAPI, env: dict) -> None:
    from tether.core.store import SessionStore

    api.add(text("one"))
    session_id = json_lines(run(["run", "--json", "hi"], env).stdout)[-1]["session_id"]
    holder = SessionStore().open(session_id)
    holder.acquire()
    try:
        result = run(["resume", "--json", session_id, "again"], env)
    finally:
        holder.close()
    assert_result_matches_exit(result, ExitCode.BUSY)
    assert json.loads(result.stdout.splitlines()[-1])["error"]


THREAD_IN_NATIVE_CODE_AT_EXIT = """
import sys, threading, time
from pydantic_core import SchemaValidator, core_schema
from tether.cli.app import leave

def slow(value):  # Python called from Rust: the thread keeps leaving and retaking the GIL
    time.sleep(0.0005)
    return value

validator = SchemaValidator(core_schema.no_info_plain_validator_function(slow))
def busy():
    while True:
        validator.validate_python(1)

threading.Thread(target=busy, daemon=True).start()
time.sleep(0.2)
sys.stdout.write('{"type": "result"}')
sys.stderr.write("said")
leave(143)
"""


def test_an_exit_with_a_thread_in_native_code_keeps_its_code_and_its_output() -> None:
    """A thread still busy at exit (the workspace being readied when a signal ends the run)
    inside native code that catches unwinding (pydantic-core, as the SDK's parsing): with
    sys.exit the interpreter's finalization kills it and glibc aborts the process ("FATAL:
    exception not rethrown", exit -6); tether's exit keeps its code and flushes its output."""
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-c", THREAD_IN_NATIVE_CODE_AT_EXIT],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert (done.returncode, done.stdout, done.stderr) == (143, '{"type": "result"}', "said")
