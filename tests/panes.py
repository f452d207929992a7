"""A real terminal for tests: tmux runs a command in a pane of a given size, and
`screen()` reads back what a person would see (tmux's own server, on its own
socket, so a test never touches anyone's tmux)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Mapping


def have_tmux() -> bool:
    return shutil.which("tmux") is not None


class Pane:
    """One command in a detached tmux pane of `width` x `height`; the pane stays
    after the command exits, so its last screen can still be read."""

    def __init__(
        self, command: list[str], env: Mapping[str, str], width: int = 100, height: int = 50
    ) -> None:
        self.socket = f"tether-test-{uuid.uuid4().hex[:8]}"
        self.name = "t"
        variables = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
        line = f"env -i {variables} {shlex.join(command)}; code=$?; echo; echo [exit $code]"
        self._tmux("new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height),
                   "bash --norc --noprofile -c " + shlex.quote(line))  # fmt: skip
        self._tmux("set-option", "-t", self.name, "remain-on-exit", "on")

    def screen(self, colours: bool = False) -> str:
        """The rows of the pane (and its scrollback) as shown, trailing blank rows dropped."""
        args = ["capture-pane", "-p", "-S", "-200", "-t", self.name]
        text = self._tmux(*(args + ["-e"] if colours else args))
        return text.rstrip("\n") + "\n"

    def wait_for(self, needle: str, timeout: float = 60) -> str:
        """The screen once it shows `needle`; AssertionError with the screen if it never does."""
        deadline = time.monotonic() + timeout
        while True:
            shown = self.screen()
            if needle in shown:
                return shown
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} never appeared; the screen:\n{shown}")
            time.sleep(0.05)

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", self.name, *keys)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)

    def __enter__(self) -> Pane:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30
        )
        if result.returncode != 0:
            raise RuntimeError(f"tmux {args[0]} failed: {result.stderr.strip()}")
        return result.stdout


def terminal_env(env: Mapping[str, str]) -> dict[str, str]:
    """`env` for a colour terminal: what a person's shell would have."""
    kept = {k: v for k, v in env.items() if k not in ("NO_COLOR", "COLUMNS", "LINES")}
    return kept | {"TERM": "xterm-256color", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
