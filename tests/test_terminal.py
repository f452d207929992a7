"""What a person sees, captured from a real terminal (tmux): the spinner of a running
tool, folded output with its failure on the result line, Markdown, the closing line,
`ls` at 60 columns; and what a pipe gets: no wrapping, no colour, no padding."""

from __future__ import annotations

import re
import shlex
import subprocess

import pytest
from e2e import TETHER, of_type, run, session_events
from fakeapi import FakeAPI, text, tool_use
from panes import Pane, have_tmux, terminal_env

from tether.core import events as ev

pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(not have_tmux(), reason="needs tmux (tests/run.sh installs it)"),
]

FAILING_TESTS = (
    "for i in 1 2 3 4 5 6 7 8; do echo test_$i ... ok; sleep 0.3; done; "
    "echo test_9 ... FAILED; exit 1"
)
ANSWER = "## Done\n\nI fixed **one** test:\n\n- `test_9` was off by one.\n"


def four_turns(api: FakeAPI) -> None:
    api.add(
        text("Let me look.") + tool_use("bash", {"command": "ls /workspace; echo ready"}),
        text("Now the tests.") + tool_use("bash", {"command": FAILING_TESTS}),
        text("A fix.") + tool_use("write", {"file_path": "fix.py", "content": "x = 1\n"}),
        text(ANSWER),
    )


def test_a_run_as_a_person_sees_it(api: FakeAPI, env: dict) -> None:
    four_turns(api)
    with Pane([*TETHER, "run", "fix the tests"], terminal_env(env), width=100) as pane:
        running = pane.wait_for("bash running · ", timeout=60)  # the spinner, with its clock
        assert re.search(r"bash running · \d+(\.\d)? s|bash running · \d+ ms", running)
        final = pane.wait_for("[exit ", timeout=60)
    rows = final.splitlines()
    assert rows[0].startswith("session ") and "· image " in rows[0] and "workspace" in rows[0]
    failure = next(i for i, row in enumerate(rows) if "✗ exit 1" in row)
    assert rows[failure].startswith("  ⎿ ✗ exit 1 · "), "the failure is on the result line"
    assert "… 5 more lines" in rows[failure + 5], "the output is folded below it"
    assert any(row.startswith("  ⎿ ✓ ") and "wrote 6 bytes" in row for row in rows)
    assert "Done" in final and "## Done" not in final and "**one**" not in final  # Markdown
    closing = next(row for row in rows if row.startswith("✓ done"))
    words = r"✓ done · 4 turns · \d+(\.\d)?k? tokens · \d+% cached · (<\$0\.01|~\$\d+\.\d\d)"
    assert re.fullmatch(words + r" · \d+(\.\d)? s", closing), closing
    assert "waiting for the model" not in final and "running ·" not in final  # spinners gone
    assert not [row for row in rows if row != row.rstrip()], "no trailing padding"


def test_ls_at_60_columns_keeps_one_row_per_session(api: FakeAPI, env: dict) -> None:
    for prompt in ("a first prompt that is long enough to need cutting at sixty", "second"):
        api.add(text("ok"))
        run(["run", prompt], env)
    with Pane([*TETHER, "ls"], terminal_env(env), width=60) as pane:
        shown = pane.wait_for("[exit 0]", timeout=30)
    rows = shown.splitlines()[:3]
    assert rows[0].split()[:2] == ["ID", "STATUS"]
    assert all(len(row) <= 60 for row in rows)
    assert rows[2].endswith("…"), rows[2]  # the newest first; the long prompt is cut
    assert "second" in rows[1]


def test_ls_highlights_the_shortest_unique_prefix(api: FakeAPI, env: dict) -> None:
    for session_id in ("abc123", "abd456"):
        api.add(text("ok"))
        run(["run", "--session-id", session_id, "hi"], env)
    raw = in_a_terminal([*TETHER, "ls"], terminal_env(env) | {"COLUMNS": "100"})
    row = next(line for line in raw.splitlines() if "456" in line)
    assert re.search(r"\x1b\[1;36mabd\x1b\[0m\x1b\[2m456\x1b\[0m", row), repr(row)


def in_a_terminal(command: list[str], env: dict) -> str:
    """What `command` writes to a terminal, byte for byte (`script` gives it a pty)."""
    result = subprocess.run(
        ["script", "-qec", shlex.join(command), "/dev/null"], env=env, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    return result.stdout


def test_a_pipe_gets_whole_lines_and_no_codes(api: FakeAPI, env: dict) -> None:
    long_answer = " ".join(["word"] * 60)
    coloured = "printf '\\033[31mred\\033[0m plain\\n'"
    api.add(tool_use("bash", {"command": coloured}), text(ANSWER + "\n" + long_answer))
    result = run(["run", "hi"], env | {"COLUMNS": "40"})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert long_answer.strip() in out, "a pipe is never wrapped"
    assert "**one**" in out and "## Done" in out, "Markdown stays as written"
    assert "\x1b" not in out and "\ufffd" not in out and "red plain" in out
    assert not [row for row in out.splitlines() if row != row.rstrip()]
    show = run(["show", "--last"], env | {"COLUMNS": "40"}).stdout
    assert not [row for row in show.splitlines() if row != row.rstrip()]


def test_colour_from_tools_is_kept_on_a_terminal(api: FakeAPI, env: dict) -> None:
    api.add(tool_use("bash", {"command": "printf 'a \\033[31mred\\033[0m word\\n'"}), text("ok"))
    with Pane([*TETHER, "run", "hi"], terminal_env(env), width=100) as pane:
        pane.wait_for("[exit ", timeout=60)
        coloured = pane.screen(colours=True)
        plain = pane.screen()
    assert "a red word" in plain and "\ufffd" not in plain
    assert "\x1b[31mred" in coloured


def test_ctrl_c_keeps_the_partial_output_and_the_true_duration(api: FakeAPI, env: dict) -> None:
    count = "for i in $(seq 1 100); do echo tick $i; sleep 0.2; done"
    api.add(tool_use("bash", {"command": count}))
    with Pane([*TETHER, "run", "count"], terminal_env(env), width=100) as pane:
        pane.wait_for("tick 5", timeout=60)  # the live output, while it runs
        pane.keys("C-c")
        final = pane.wait_for("[exit ", timeout=60)
    assert "[exit 130]" in final
    result = of_type(session_events(), ev.AgentToolResult)[-1]
    assert result.is_error and "tick 1\ntick 2\n" in result.content
    assert "stopped (ctrl-c) after" in result.content
    assert result.duration_ms >= 900, result.duration_ms
    assert "⎿ ✗ stopped (ctrl-c) · " in final and "tick 1" in final
