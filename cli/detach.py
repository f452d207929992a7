"""`--detach`: the same harness on the same log, in a background process.

The child runs `tether _wake ID` in a session of its own (so Ctrl-C and a
closing terminal never reach it), with its stray output in `harness.log`
beside the log. The parent returns once the child holds the session's lock,
so that a `tail -f` or `kill` straight after finds the run; `kill` stops it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tether.core import config
from tether.core import events as ev
from tether.core.exit_codes import ExitCode
from tether.core.store import SessionLog

from . import console

START_TIMEOUT_S = 30.0
HARNESS_LOG = "harness.log"


def spawn(
    session: SessionLog, prompt: str | None = None, mcp_timeout_s: float | None = None,
    base_url: str | None = None,
) -> int:  # fmt: skip
    """Start a background harness on `session` (to record `prompt` first, if given: it
    goes on the child's stdin) and wait until it has taken over. `mcp_timeout_s` (run's
    setting, which the log does not keep) and `base_url` (the endpoint, which always comes
    from the command, never from the log) reach the child through their variables."""
    before = session.read(-1)[0].seq  # the log has at least its session.created
    log_path = session.dir / HARNESS_LOG
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        command = [sys.executable, "-m", "tether.cli", "_wake", session.id]
        child = subprocess.Popen(
            [*command, "--prompt-on-stdin"] if prompt is not None else command,
            stdin=subprocess.PIPE if prompt is not None else subprocess.DEVNULL,
            stdout=fd,
            stderr=fd,
            start_new_session=True,
            env=child_env(mcp_timeout_s, base_url),
        )
    finally:
        os.close(fd)
    if prompt is not None:
        assert child.stdin is not None
        with child.stdin:
            child.stdin.write(prompt.encode())
    if _started(session, child, before):
        note(session.id)
        return ExitCode.OK
    console.fail(_failure(log_path, child.returncode))
    return child.returncode or ExitCode.ERROR


def child_env(mcp_timeout_s: float | None, base_url: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    if mcp_timeout_s is not None:
        env[f"TETHER_{config.key('mcp_timeout_s').upper()}"] = f"{mcp_timeout_s:g}"
    if base_url is not None:
        env["TETHER_BASE_URL"] = base_url
    return env


def _started(session: SessionLog, child: subprocess.Popen[bytes], before: int) -> bool:
    """True once the child holds the lock (or ran and finished); False if it died first."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if session.is_locked():
            return True
        if child.poll() is not None:
            return any(isinstance(e, ev.StatusRunning) for e in session.read(before + 1))
        time.sleep(0.01)
    return session.is_locked()


def _failure(log_path: os.PathLike[str], code: int | None) -> str:
    try:
        with open(log_path, encoding="utf-8", errors="replace") as f:
            lines = [line.strip() for line in f if line.strip()]
    except OSError:
        lines = []
    reason = lines[-1].removeprefix("error: ") if lines else f"exit status {code}"
    return f"the background harness did not start: {reason}"


def note(session_id: str) -> None:
    """What a person can do with a detached run."""
    console.err.print(
        f"running in the background: tether tail -f {session_id} · tether kill {session_id}",
        style="dim",
        markup=False,
        highlight=False,
    )
