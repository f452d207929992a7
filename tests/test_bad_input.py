"""Bad input, person side and model side.

The table runs the real `tether` in a subprocess for every command with bad ids,
flags, files, prompts, config and environment, and holds each row to the same
promises: the documented exit code, one `error: ...` line on stderr that says
what was wrong, no traceback, nothing on stdout, and nothing lost: every byte
under sessions/ is as it was, so no session was created and no existing log was touched.

The model side drives the real CLI against the fake Messages API with the real
Docker sandbox: bad tool calls become error results the model reads, broken
responses are retried or reported, and the log keeps its invariants and stays
resumable throughout.

Rows that overlap tests elsewhere (test_read_cli, test_scripting,
test_setup_commands, test_config) are repeated here on purpose, so that this
table alone says how every command treats bad input.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from e2e import (
    TEST_IMAGE,
    assert_invariants,
    json_lines,
    of_type,
    only_session_id,
    run,
    session_events,
    tether_env,
)
from fakeapi import FakeAPI, Reply, cut_stream, text, tool_use

from tether.core import events as ev
from tether.core.exit_codes import ExitCode
from tether.core.store import SessionStore

LONG_ID = "a" * 200
AS_ROOT = os.geteuid() == 0


# -- the table ------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One bad invocation and what a person should get back.

    `args` may name the prepared paths as {missing}, {dir}, {file}, {binary},
    {unreadable}, {loop}. `config` is written to the config file first; `home` is
    "missing" or "file" to point TETHER_HOME at something that is not a directory;
    `unset` names variables to remove from the environment.
    """

    args: tuple[str, ...]
    code: ExitCode
    says: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    stdin: str = ""
    config: str | None = None
    home: str | None = None
    unset: tuple[str, ...] = ()


def case(
    line: str | list[str], code: ExitCode, *says: str, marks: Any = (), **options: Any
) -> object:
    args = tuple(line.split()) if isinstance(line, str) else tuple(line)
    row = Case(args, code, says, **options)  # type: ignore[arg-type]
    name = " ".join(a if a and len(a) < 30 else f"<{len(a)} chars>" for a in args) or "<bare>"
    for key in ("config", "home"):
        if options.get(key):
            name += f" [{key}: {str(options[key]).strip()}]"
    for key, value in dict(options.get("env") or {}).items():  # type: ignore[call-overload]
        name += f" [{key}={value}]"
    return pytest.param(row, id=name, marks=marks)


USAGE, NOT_FOUND, ERROR, AUTH = (
    ExitCode.USAGE,
    ExitCode.NOT_FOUND,
    ExitCode.ERROR,
    ExitCode.AUTH,
)
NOT_TOML = "max_turns = [\n"
UNKNOWN_KEY = "colour = 'blue'\n"
WRONG_TYPE = "max_turns = 'many'\n"
ZERO_TURNS = "max_turns = 0\n"

# Sessions `abc1` and `abc2` exist (so `abc` is ambiguous); both are idle.
TABLE = [
    # -- bare tether and unknown commands
    case("frobnicate", USAGE, "No such command 'frobnicate'"),
    case("--bogus", USAGE, "No such option: --bogus"),
    # -- run: flags
    case("run --bogus hi", USAGE, "No such option: --bogus", "tether run --help"),
    case("run --max-turns many hi", USAGE, "'--max-turns'", "'many' is not a valid int"),
    case("run --max-turns 0 hi", USAGE, "--max-turns must be greater than 0, not 0"),
    case("run --max-turns -3 hi", USAGE, "--max-turns must be greater than 0, not -3"),
    case("run --timeout -1 hi", USAGE, "--timeout must be greater than 0"),
    case("run --timeout 0 hi", USAGE, "--timeout must be greater than 0"),
    case("run --timeout soon hi", USAGE, "'--timeout'", "'soon' is not a valid float"),
    case("run --budget 0 hi", USAGE, "--budget must be greater than 0"),
    case("run --max-tokens -1 hi", USAGE, "--max-tokens must be greater than 0"),
    case("run --cpus 0 hi", USAGE, "--cpus must be greater than 0"),
    case("run --pids -1 hi", USAGE, "--pids must be greater than 0"),
    case(
        ["run", "--model", "", "hi"],
        USAGE,
        "model",
    ),
    case("run hi there", USAGE, "unexpected extra argument", "there"),
    # -- run: bad ids
    case("run --session-id a/b hi", USAGE, "bad session id 'a/b'", "1-64 letters, digits"),
    case("run --session-id ../x hi", USAGE, "bad session id '../x'"),
    case(["run", "--session-id", "a b", "hi"], USAGE, "bad session id 'a b'"),
    case(["run", "--session-id", LONG_ID, "hi"], USAGE, "bad session id", "1-64"),
    case(
        ["run", "--session-id", "", "hi"],
        USAGE,
        "bad session id ''",
    ),
    case("run --session-id abc1 hi", ERROR, "session abc1 already exists"),
    case("run --session-id", USAGE, "'--session-id' requires an argument"),
    # -- run: bad files
    case("run --system-file {missing} hi", USAGE, "cannot read", "No such file or directory"),
    case("run --system-file {dir} hi", USAGE, "'--system-file'", "is a directory"),
    case(
        "run --system-file {unreadable} hi",
        USAGE,
        "cannot read",
        "Permission denied",
        marks=pytest.mark.skipif(AS_ROOT, reason="root reads any file"),
    ),
    case("run --system-file {loop} hi", USAGE, "cannot read", "Too many levels"),
    case(
        "run --system-file {binary} hi",
        USAGE,
        "cannot read",
        "UTF-8",
    ),
    case("run --workspace {missing} hi", USAGE, "--workspace", "does not exist"),
    case("run --workspace {file} hi", USAGE, "--workspace", "is a file"),
    case(["run", "--workspace", "", "hi"], USAGE, "--workspace must not be empty"),
    # -- run: bad prompts
    case(["run", ""], USAGE, "the prompt is empty", "'-' to read it from stdin"),
    case(["run", "  \n\t"], USAGE, "the prompt is empty"),
    case("run -", USAGE, "the prompt is empty", stdin=""),
    case("run -", USAGE, "the prompt is empty", stdin=" \n\n"),
    case("run", USAGE, "the prompt is empty", stdin=""),  # stdin is a pipe: it is read
    # -- run: config file, environment, data dir, key
    case("run hi", USAGE, "not valid TOML", "{config}", config=NOT_TOML),
    case("run hi", USAGE, "{config}", "unknown key 'colour'", config=UNKNOWN_KEY),
    case("run hi", USAGE, "{config}", "max_turns must be a whole number", config=WRONG_TYPE),
    case("run hi", USAGE, "{config}", "max_turns must be greater than 0", config=ZERO_TURNS),
    case(
        "run hi",
        USAGE,
        "TETHER_MAX_TURNS must be a whole number, not 'x'",
        env={"TETHER_MAX_TURNS": "x"},
    ),  # fmt: skip
    case(
        "run hi",
        USAGE,
        "TETHER_NETWORK must be true or false, not 'maybe'",
        env={"TETHER_NETWORK": "maybe"},
    ),  # fmt: skip
    case(
        "run hi", USAGE, "TETHER_TIMEOUT_S must be greater than 0", env={"TETHER_TIMEOUT_S": "-1"}
    ),
    case("run hi", USAGE, "TETHER_CPUS must be a number", env={"TETHER_CPUS": "lots"}),
    case("run hi", ERROR, "TETHER_HOME={home}", "is a file, not a directory", home="file"),
    case("run hi", AUTH, "ANTHROPIC_API_KEY is not set", unset=("ANTHROPIC_API_KEY",)),
    # -- resume
    case("resume nope", NOT_FOUND, "no session matches 'nope'"),
    case("resume abc", NOT_FOUND, "'abc' matches 2 sessions", "abc2, abc1", "more characters"),
    case(["resume", ""], USAGE, "missing session ID (or use --last)"),
    case("resume", USAGE, "missing session ID (or use --last)"),
    case("resume ../x", NOT_FOUND, "no session matches '../x'"),
    case("resume ../sessions/abc1", NOT_FOUND, "no session matches '../sessions/abc1'"),
    case("resume abc1 --last hi", USAGE, "give a session ID or --last, not both"),
    case("resume abc1 --bogus", USAGE, "No such option: --bogus"),
    case("resume abc1 --max-turns many", USAGE, "'--max-turns'", "'many' is not a valid int"),
    case(
        "resume abc1 --max-turns 0",
        USAGE,
        "must be greater than 0",
    ),
    case(
        "resume abc1 --budget -5",
        USAGE,
        "must be greater than 0",
    ),
    case(
        "resume abc1 --timeout -1",
        USAGE,
        "must be greater than 0",
    ),
    case(["resume", "abc1", ""], USAGE, "the prompt is empty"),
    case(["resume", "abc1", " \n"], USAGE, "the prompt is empty"),
    case("resume abc1 -", USAGE, "the prompt is empty", stdin=""),
    case("resume abc1 hi", AUTH, "ANTHROPIC_API_KEY is not set", unset=("ANTHROPIC_API_KEY",)),
    case("resume abc1", NOT_FOUND, "no session matches 'abc1'", home="missing"),
    case("resume --last", ERROR, "TETHER_HOME={home}", "is a file, not a directory", home="file"),
    # -- tail
    case("tail nope", NOT_FOUND, "no session matches 'nope'"),
    case("tail abc", NOT_FOUND, "'abc' matches 2 sessions"),
    case(["tail", ""], USAGE, "missing session ID"),
    case("tail", USAGE, "missing session ID"),
    case("tail ../x", NOT_FOUND, "no session matches '../x'"),
    case("tail abc1 -n -5", USAGE, "'-n' / '--lines'", "-5 is not in the range x>=0"),
    case("tail abc1 -n many", USAGE, "'-n' / '--lines'", "'many'"),
    case("tail abc1 --since abc", USAGE, "'--since'", "'abc'"),
    case("tail abc1 --since -1", USAGE, "'--since'", "-1 is not in the range x>=0"),
    case("tail abc1 -n 2 --since 1", USAGE, "give -n or --since, not both"),
    case("tail abc1 --bogus", USAGE, "No such option: --bogus"),
    case("tail abc1 --last", USAGE, "give a session ID or --last, not both"),
    case("tail abc1", ERROR, "TETHER_HOME={home}", "is a file, not a directory", home="file"),
    # -- ls
    case("ls --bogus", USAGE, "No such option: --bogus"),
    case("ls abc1", USAGE, "unexpected extra argument", "abc1"),
    case("ls --json", ERROR, "TETHER_HOME={home}", "is a file, not a directory", home="file"),
    # -- show
    case("show nope", NOT_FOUND, "no session matches 'nope'"),
    case("show abc", NOT_FOUND, "'abc' matches 2 sessions"),
    case(["show", ""], USAGE, "missing session ID"),
    case("show ..", NOT_FOUND, "no session matches '..'"),
    case("show abc1 abc2", USAGE, "unexpected extra argument"),
    case("show abc1 --last", USAGE, "not both"),
    case("show abc1", ERROR, "TETHER_HOME={home}", "is a file, not a directory", home="file"),
    # -- kill
    case("kill nope", NOT_FOUND, "no session matches 'nope'"),
    case("kill abc", NOT_FOUND, "'abc' matches 2 sessions"),
    case(["kill", ""], USAGE, "missing session ID"),
    case("kill", USAGE, "missing session ID"),
    case("kill a/b", NOT_FOUND, "no session matches 'a/b'"),
    case("kill abc1 --grace soon", USAGE, "'--grace'", "'soon' is not a valid float"),
    case(
        "kill abc1 --grace -1",
        USAGE,
        "--grace",
    ),
    case("kill abc1 --bogus", USAGE, "No such option: --bogus"),
    case("kill abc1", NOT_FOUND, "no session matches 'abc1'", home="missing"),
    # -- rm: never anything outside the sessions dir
    case("rm nope", NOT_FOUND, "no session matches 'nope'"),
    case("rm abc", NOT_FOUND, "'abc' matches 2 sessions"),
    case(["rm", ""], USAGE, "missing session ID"),
    case("rm", USAGE, "missing session ID"),
    case("rm ..", NOT_FOUND, "no session matches '..'"),
    case("rm .", NOT_FOUND, "no session matches '.'"),
    case("rm ../x", NOT_FOUND, "no session matches '../x'"),
    case("rm abc1 --bogus", USAGE, "No such option: --bogus"),
    case("rm abc1", ERROR, "TETHER_HOME={home}", "is a file, not a directory", home="file"),
    # -- config
    case("config --bogus", USAGE, "No such option: --bogus"),
    case("config extra", USAGE, "unexpected extra argument"),
    case("config", USAGE, "{config}", "not valid TOML", config=NOT_TOML),
    case("config --json", USAGE, "{config}", "unknown key 'colour'", config=UNKNOWN_KEY),
    case("config", USAGE, "{config}", "max_turns must be a whole number", config=WRONG_TYPE),
    case(
        "config",
        USAGE,
        "TETHER_MAX_TURNS must be a whole number, not 'x'",
        env={"TETHER_MAX_TURNS": "x"},
    ),  # fmt: skip
    # -- doctor (a broken machine is a report on stdout, not one line: test_setup_commands)
    case("doctor --bogus", USAGE, "No such option: --bogus"),
    case("doctor extra", USAGE, "unexpected extra argument"),
]


@pytest.fixture(scope="module")
def quiet_api() -> Iterator[FakeAPI]:
    """Answers anything: a row that wrongly gets as far as the model ends quickly."""
    with FakeAPI(default=text("ok")) as api:
        yield api


@pytest.fixture
def world(tether_home: Path, tmp_path: Path) -> dict[str, str]:
    """Two idle sessions (`abc1`, `abc2`) and the files the rows name."""
    for session_id in ("abc1", "abc2"):
        session = SessionStore().create(ev.SessionCreated(model="claude-test"), session_id)
        session.append_many(
            [
                ev.StatusRunning(pid=1, host="h"),
                ev.UserMessage(content="hello"),
                ev.ModelRequestStart(model="claude-test"),
                ev.AgentMessage(content="hi"),
                ev.ModelRequestEnd(model="claude-test", turn=1, stop_reason="end_turn"),
                ev.StatusIdle(stop_reason="end_turn"),
            ]
        )
        session.close()
    files = tmp_path / "files"
    files.mkdir()
    (files / "dir").mkdir()
    (files / "file").write_text("a file\n")
    (files / "binary").write_bytes(b"\xff\xfe\x00\xd6 not utf-8 \x80\x81")
    (files / "unreadable").write_text("secret\n")
    (files / "unreadable").chmod(0)
    (files / "loop").symlink_to(files / "loop")
    return {name: str(files / name) for name in ("dir", "file", "binary", "unreadable", "loop")} | {
        "missing": str(files / "missing")
    }


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` (sessions/) and its bytes; directories as empty entries."""
    found: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        found[key] = path.read_bytes() if path.is_file() else b"<dir>"
    return found


@pytest.mark.parametrize("row", TABLE)
def test_bad_input(
    row: Case, world: dict[str, str], quiet_api: FakeAPI, tether_home: Path, tmp_path: Path
) -> None:
    config_path = Path(os.environ["TETHER_CONFIG"])
    env = tether_env(quiet_api.base_url, TEST_IMAGE, **row.env)
    for name in row.unset:
        env.pop(name, None)
    if row.config is not None:
        config_path.write_text(row.config)
    home = tether_home
    if row.home == "missing":
        env["TETHER_HOME"] = str(tmp_path / "no-such-home")
    elif row.home == "file":
        home_file = tmp_path / "home-is-a-file"
        home_file.write_text("")
        env["TETHER_HOME"] = str(home_file)
    places = world | {"config": str(config_path), "home": env["TETHER_HOME"]}
    args = [arg.format(**places) for arg in row.args]
    before = snapshot(home / "sessions")

    result = run(args, env, timeout=60, stdin=row.stdin)

    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == row.code, output
    assert result.stdout == "", "a failed command prints nothing on stdout"
    lines = result.stderr.strip("\n").splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for says in row.says:
        assert says.format(**places) in lines[0], lines[0]
    assert snapshot(home / "sessions") == before, "nothing is created, changed or removed"


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--json", "--max-turns", "many", "hi"],
        ["run", "--json", "--bogus", "hi"],
        ["run", "--json", "--system-file", "/", "hi"],
        ["resume", "--json", "abc1", "--timeout", "soon"],
    ],
    ids=lambda a: " ".join(a),
)
def test_json_mode_ends_with_a_result_even_when_the_parser_refuses(
    args: list[str], world: dict[str, str], quiet_api: FakeAPI
) -> None:
    result = run(args, tether_env(quiet_api.base_url, TEST_IMAGE))
    assert result.returncode == ExitCode.USAGE
    final = json.loads(result.stdout.splitlines()[-1])
    assert final["type"] == "result" and final["exit_code"] == ExitCode.USAGE


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--max-turns", "0"), ("--budget", "0"), ("--timeout", "-1"), ("--pids", "0")],
)
def test_limit_errors_name_the_flag_as_typed(
    flag: str, value: str, world: dict[str, str], quiet_api: FakeAPI
) -> None:
    result = run(["run", flag, value, "hi"], tether_env(quiet_api.base_url, TEST_IMAGE))
    assert result.returncode == ExitCode.USAGE
    assert f"{flag} must be greater than 0" in result.stderr


@pytest.mark.parametrize("config", [NOT_TOML, UNKNOWN_KEY, WRONG_TYPE])
def test_a_bad_config_file_does_not_stop_reading_sessions(
    config: str, world: dict[str, str], quiet_api: FakeAPI
) -> None:
    """ls, show and tail read only the log: a broken config file must not lock anyone out."""
    Path(os.environ["TETHER_CONFIG"]).write_text(config)
    env = tether_env(quiet_api.base_url, TEST_IMAGE)
    for args in (["ls"], ["show", "abc1"], ["tail", "abc1", "-n", "1"]):
        result = run(args, env)
        assert result.returncode == 0, (args, result.stderr)
        assert "abc1" in result.stdout or "end_turn" in result.stdout


# -- the model side -------------------------------------------------------------------


@pytest.fixture
def cleanup(docker_client, tether_home: Path) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Remove every container and volume of this test's sessions, by label."""
    yield
    for session_dir in (tether_home / "sessions").glob("*"):
        label = f"tether.session={session_dir.name}"
        for container in docker_client.containers.list(all=True, filters={"label": label}):
            container.remove(force=True)
        for volume in docker_client.volumes.list(filters={"label": label}):
            volume.remove(force=True)


def results_sent(api: FakeAPI, request: int) -> dict[str, dict]:
    """The tool results the harness sent in request number `request`, by tool_use_id."""
    content = api.requests[request].body["messages"][-1]["content"]
    return {b["tool_use_id"]: b for b in content if b["type"] == "tool_result"}


def assert_resumable(api: FakeAPI, env: dict[str, str]) -> None:
    """A new prompt on the session runs to the end, and the log still holds together."""
    api.add(text("still here"))
    again = run(["resume", "--last", "are you there?"], env)
    assert again.returncode == 0, again.stderr
    events = session_events()
    assert_invariants(events)
    assert of_type(events, ev.AgentMessage)[-1].content == "still here"


BAD_CALLS: dict[str, tuple[str, dict[str, Any], str]] = {
    "unknown": ("teleport", {"where": "mars"}, "unknown tool 'teleport'; the tools are bash"),
    "missing": ("write", {"file_path": "a.txt"}, "write: missing field 'content'"),
    "wrong type": ("bash", {"command": "true", "timeout_ms": "soon"}, "'timeout_ms' must be an"),
    "extra": ("read", {"file_path": "a.txt", "mode": "fast"}, "read: unknown field 'mode'"),
    "bad range": ("read", {"file_path": "a.txt", "view_range": [5, 2]}, "view_range must be"),
    "empty old": ("edit", {"file_path": "a", "old_string": "", "new_string": "b"}, "not be empty"),
}


@pytest.mark.docker
def test_bad_tool_calls_are_error_results_the_model_reads(
    api: FakeAPI, env: dict, cleanup: None
) -> None:
    """Every call that misses the schema gets an error result saying what is wrong, runs
    nothing (no container starts for it), and the model carries on with a good call."""
    ids = {key: f"toolu_bad_{n}" for n, key in enumerate(BAD_CALLS)}
    batch = Reply()
    for key, (name, tool_input, _) in BAD_CALLS.items():
        batch += tool_use(name, tool_input, id=ids[key])
    api.add(batch, tool_use("bash", {"command": "echo good"}), text("Understood."))

    result = run(["run", "try some tools"], env)

    assert result.returncode == 0, result.stderr
    sent = results_sent(api, 1)
    for key, (_, _, says) in BAD_CALLS.items():
        assert sent[ids[key]]["is_error"] is True, key
        assert says in sent[ids[key]]["content"], (key, sent[ids[key]]["content"])
    assert list(results_sent(api, 2).values())[0]["content"] == "good"
    events = session_events()
    assert_invariants(events)
    provisioned = of_type(events, ev.SandboxProvisioned)
    assert len(provisioned) == 1
    bad_results = [e for e in of_type(events, ev.AgentToolResult) if e.tool_use_id in ids.values()]
    assert all(e.seq < provisioned[0].seq for e in bad_results), "bad calls start nothing"
    assert_resumable(api, env)


@pytest.mark.docker
def test_an_empty_response_ends_the_turn_and_the_session_goes_on(
    api: FakeAPI, env: dict, cleanup: None
) -> None:
    """No content blocks and end_turn: the run ends cleanly, nothing half-recorded, and the
    next prompt is still a valid request (no empty assistant message is sent back)."""
    api.add(Reply(blocks=(), stop_reason="end_turn", output_tokens=0))
    result = run(["run", "--json", "say nothing"], env)
    assert result.returncode == 0, result.stderr
    assert json_lines(result.stdout)[-1]["stop_reason"] == "end_turn"
    events = session_events()
    assert not of_type(events, ev.AgentMessage)
    assert of_type(events, ev.ModelRequestEnd)[-1].stop_reason == "end_turn"
    assert_resumable(api, env)
    assert all(r.body is not None for r in api.requests)


@pytest.mark.docker
def test_an_empty_response_after_a_tool_call_ends_the_turn(
    api: FakeAPI, env: dict, cleanup: None
) -> None:
    api.add(tool_use("bash", {"command": "echo hi"}), Reply(blocks=(), stop_reason="end_turn"))
    result = run(["run", "go"], env)
    assert result.returncode == 0, result.stderr
    assert_invariants(session_events())
    assert_resumable(api, env)


@pytest.mark.docker
def test_a_huge_text_response_is_kept_whole(api: FakeAPI, env: dict, cleanup: None) -> None:
    """2 MB of streamed text: shown to the person, recorded in full in one event, sent back
    whole on the next request, and the session carries on."""
    line = "0123456789 the quick brown fox jumps over the lazy dog, again and again\n"
    huge = line * (2 * 1024 * 1024 // len(line) + 1)
    api.add(text(huge, chunk_chars=16 * 1024))
    window = ["--context-window", "1000000"]  # 2 MB of text is past the default window
    result = run(["run", *window, "write a lot"], env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("quick brown fox") == huge.count("quick brown fox")
    events = session_events()
    assert [m.content for m in of_type(events, ev.AgentMessage)] == [huge]
    assert_resumable(api, env)
    sent = api.requests[-1].body["messages"][1]["content"][0]["text"]
    assert sent == huge


def cut_reply(n: int) -> Reply:
    return cut_stream(4, text(f"attempt {n} is long enough to be cut in the middle", chunk_chars=4))


@pytest.mark.docker
def test_a_stream_cut_a_few_times_is_retried_then_used(
    api: FakeAPI, env: dict, cleanup: None
) -> None:
    """Three cuts, one mid-tool-input: each is a recorded retry, no cut response is used
    (the half-streamed command never runs), then the whole response is."""
    half_tool = cut_stream(6, tool_use("bash", {"command": "echo NEVER > /workspace/x"}))
    api.add(
        cut_reply(1),
        half_tool,
        cut_stream(3, text("cleanly cut"), cleanly=True),
        tool_use("bash", {"command": "ls /workspace; echo listed"}),
        text("done"),
    )
    result = run(["run", "--json", "go"], env)
    assert result.returncode == 0, result.stderr
    events = session_events()
    assert_invariants(events)
    retries = of_type(events, ev.SessionError)
    assert [e.retry_status for e in retries] == ["retrying"] * 3
    assert retries[-1].error_type == "incomplete_stream"
    assert [m.content for m in of_type(events, ev.AgentMessage)] == ["done"]
    uses = of_type(events, ev.AgentToolUse)
    assert [u.input["command"] for u in uses] == ["ls /workspace; echo listed"]
    assert of_type(events, ev.AgentToolResult)[0].content == "listed"  # x was never written
    assert json_lines(result.stdout)[-1]["stop_reason"] == "end_turn"


@pytest.mark.docker
def test_a_stream_cut_every_time_gives_up_with_a_clear_message(
    api: FakeAPI, env: dict, cleanup: None
) -> None:
    api.add(*[cut_reply(n) for n in range(5)])
    result = run(["run", "go"], env)
    assert result.returncode == ExitCode.MODEL, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "✗ the model API kept failing · 0 turns" in result.stderr
    assert f"tether resume {only_session_id()}" in result.stderr
    # The person sees each retry and what it waits for, then the cause once, on stderr.
    assert result.stdout.count("the connection to the model API at ") == 4
    assert "retrying in" in result.stdout and "(4/5)" in result.stdout
    assert result.stderr.count("the connection to the model API at ") == 1
    assert len(api.requests) == 5
    events = session_events()
    assert_invariants(events)
    statuses = [e.retry_status for e in of_type(events, ev.SessionError)]
    assert statuses == ["retrying"] * 4 + ["exhausted"]
    assert not of_type(events, ev.AgentMessage), "nothing of a cut response is used"
    assert isinstance(events[-1], ev.StatusIdle) and events[-1].stop_reason == "retries_exhausted"
    assert_resumable(api, env)


@pytest.mark.docker
def test_exhausted_retries_name_the_cause_on_stderr(api: FakeAPI, env: dict, cleanup: None) -> None:
    api.add(*[cut_reply(n) for n in range(5)], *[cut_reply(n) for n in range(5)])
    human = run(["run", "go"], env)
    assert human.returncode == ExitCode.MODEL
    assert "error: " in human.stderr and "model API" in human.stderr
    machine = run(["run", "--json", "go"], env)
    assert "model API" in json_lines(machine.stdout)[-1].get("error", "")


@pytest.mark.docker
def test_text_of_a_cut_stream_is_closed_off_before_the_retry(
    api: FakeAPI, env: dict, cleanup: None
) -> None:
    api.add(cut_reply(1), text("whole answer"))
    result = run(["run", "go"], env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    cut_at = lines.index("atte")  # the partial text ends its own line...
    notice = lines[cut_at + 1 : cut_at + 4]  # ...and the retry says why it was dropped
    assert any("· retrying in" in line for line in notice), notice
    assert "whole answer" in lines[cut_at + 2 :]


@pytest.mark.docker
@pytest.mark.parametrize("flag", [["--workspace", "{missing}"], ["--memory", "lots"]], ids=str)
def test_a_sandbox_the_engine_refuses_is_a_clear_error_and_loses_nothing(
    flag: list[str], api: FakeAPI, env: dict, cleanup: None, world: dict[str, str]
) -> None:
    """Refused up front (usage, no session) or at the first tool call (sandbox error, the
    session idle and resumable): either way one clear line, never a crash."""
    api.add(tool_use("bash", {"command": "ls"}), text("ok"))
    args = ["run", "--empty", *(a.format(**world) for a in flag), "go"]  # --empty: no note first
    result = run(args, env)
    assert result.returncode in (ExitCode.USAGE, ExitCode.SANDBOX), result.stderr
    assert "unexpected" not in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")
    created = [i for i in SessionStore().ids() if i not in ("abc1", "abc2")]
    for session_id in created:
        events = session_events(session_id)
        assert_invariants(events)
        assert isinstance(events[-1], ev.StatusIdle), events[-1]
