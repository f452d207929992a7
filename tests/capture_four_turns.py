"""Captures of a four-turn run as a person sees it, for issue 16's before and after:
a tmux pane at 120 and at 60 columns (a frame while the tests run, then the last
screen), the same run piped (`2>&1 | cat`), and under NO_COLOR (escape codes left on
screen counted). Not a test: a script that prints Markdown.

    .venv/bin/python tests/capture_four_turns.py [--python PATH] > captures.md

`--python` picks whose tether runs (`/work/main/.venv/bin/python` for main's); the
fake Messages API and the test image are this checkout's."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

from e2e import TEST_IMAGE, tether_env
from fakeapi import FakeAPI
from panes import Pane, terminal_env
from test_terminal import four_turns

ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


@contextmanager
def scripted_run() -> Iterator[dict[str, str]]:
    """The environment of one four-turn run: a fresh data dir and a fake API."""
    with FakeAPI() as api, tempfile.TemporaryDirectory() as home:
        four_turns(api)
        yield tether_env(api.base_url, TEST_IMAGE, TETHER_HOME=home)


def in_a_pane(python: str, width: int, no_color: bool = False) -> tuple[str, str]:
    """(a frame while the failing tests run, the last screen) of a run at `width`."""
    with scripted_run() as env:
        shown = terminal_env(env) | ({"NO_COLOR": "1"} if no_color else {})
        with Pane([python, "-m", "tether.cli", "run", "fix the tests"], shown, width) as pane:
            pane.wait_for("Now the tests.", timeout=90)
            time.sleep(1.5)  # the failing tests take 2.7 s: a frame from their middle
            frame = pane.screen()
            pane.wait_for("[exit ", timeout=120)
            last = pane.screen(colours=no_color)
    return frame, last


def piped(python: str) -> str:
    with scripted_run() as env:
        command = [python, "-m", "tether.cli", "run", "fix the tests"]
        done = subprocess.run(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=180,
        )  # fmt: skip
    return done.stdout + f"[exit {done.returncode}]\n"


def block(title: str, text: str) -> str:
    rows = [row for row in text.splitlines() if not row.startswith("Pane is dead")]
    shown = "\n".join(rows).rstrip()
    return f"#### {title}\n\n```text\n{shown}\n```\n\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--python", default=sys.executable)
    python = parser.parse_args().python
    out = []
    for width in (120, 60):
        frame, last = in_a_pane(python, width)
        out.append(block(f"tmux, {width} columns, while the tests run", frame))
        out.append(block(f"tmux, {width} columns, at the end", last))
    out.append(block("piped (`2>&1 | cat`)", piped(python)))
    _, raw = in_a_pane(python, 120, no_color=True)
    codes = len(ESCAPE.findall(raw))
    out.append(
        block(f"NO_COLOR, 120 columns ({codes} colour codes on screen)", ESCAPE.sub("", raw))
    )
    sys.stdout.write("".join(out))


if __name__ == "__main__":
    main()
