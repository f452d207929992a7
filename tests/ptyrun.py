"""A command on a pseudo-terminal, for tests that answer its questions as a person would."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time


class PtyProcess:
    """`args` with a pty as stdin, stdout and stderr; `expect` what it prints, `send` keys."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.main, side = pty.openpty()
        self.process = subprocess.Popen(
            args, stdin=side, stdout=side, stderr=side, env=env, start_new_session=True
        )
        os.close(side)
        self.output = ""
        self._seen = 0  # where the next `expect` starts looking

    def expect(self, text: str, timeout: float = 60) -> str:
        """Wait until `text` appears after what earlier `expect`s consumed; the output so far."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.output.find(text, self._seen)
            if found >= 0:
                self._seen = found + len(text)
                return self.output
            if time.monotonic() > deadline or not self._read(deadline - time.monotonic()):
                raise AssertionError(f"never printed {text!r}; it printed:\n{self.output}")

    def send(self, keys: str) -> None:
        os.write(self.main, keys.encode())

    def finish(self, timeout: float = 60) -> int:
        """Read everything to the end and wait for the exit code."""
        deadline = time.monotonic() + timeout
        while self._read(max(0.0, deadline - time.monotonic())):
            pass
        try:
            return self.process.wait(max(1.0, deadline - time.monotonic()))
        finally:
            os.close(self.main)

    def kill(self, signum: int) -> None:
        self.process.send_signal(signum)

    def _read(self, timeout: float) -> bool:
        """Read what is there (waiting up to `timeout`); False at the end of the output."""
        ready, _, _ = select.select([self.main], [], [], max(0.0, timeout))
        if not ready:
            return self.process.poll() is None
        try:
            chunk = os.read(self.main, 65536)
        except OSError:  # EIO: the other side closed and everything was read
            return False
        self.output += chunk.decode(errors="replace").replace("\r\n", "\n")
        return bool(chunk)
