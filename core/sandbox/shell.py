"""The persistent shell: one `bash` (or `sh`) per container, spoken to over the
raw, multiplexed socket of a Docker exec.

Docker multiplexes an exec's stdout and stderr onto one socket in frames, each
with an 8-byte header (stream, 3 zero bytes, big-endian length). A command's
output streams on stdout as it is printed; the shell's protocol (see shell.sh)
closes each call with `NONCE E STATUS`, where the nonce is random per call and
never visible to the command, so output cannot fake it.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import socket
import struct
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any

from .output import Capture

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">BxxxL")
_STDOUT, _STDERR = 1, 2
# Interactive (without a terminal, so without job control or line editing) for a
# terminal's error messages: `bash: x: command not found`, not `main: line 47: x: ...`.
_START = (
    "if command -v bash >/dev/null 2>&1; then exec bash --noprofile --norc --noediting -i; fi;"
    " exec sh -i"
)
_KILL_GRACE_S = 5.0
_KILL_ATTEMPTS = 10
_ALIVE_CHECK_S = 1.0  # how often a long call checks that the shell itself still runs


class ShellClosed(Exception):
    """The shell's stream ended: the shell, or its whole container, is gone."""


class ShellTimeout(Exception):
    """No answer from the shell before the deadline."""


def quote(text: str | bytes) -> bytes:
    """One shell word, single-quoted, holding `text` byte for byte (no NUL)."""
    raw = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    return b"'" + raw.replace(b"'", b"'\\''") + b"'"


def _script(name: str) -> bytes:
    return resources.files(__package__).joinpath(name).read_bytes()


@dataclass(frozen=True, kw_only=True)
class RawRun:
    """How one call ended: its exit status, whether it timed out or was killed out of
    memory, and (for a file tool's script) the start of its output; a bash call's
    output is in the Capture it was given."""

    status: int
    timed_out: bool = False
    out_of_memory: bool = False
    output: bytes = b""


class FrameReader:
    """Demultiplexes an exec socket: collects stdout, logs stderr."""

    def __init__(self, sock: socket.socket, alive: Any = None) -> None:
        self.sock = sock
        self.alive = alive  # a function that says whether the shell still runs
        self._raw = bytearray()
        self.out = bytearray()
        self._checked = time.monotonic()

    def fill(self, deadline: float) -> None:
        """Read at least one more chunk; ShellTimeout at `deadline`, ShellClosed at its end."""
        while True:
            self._check_alive()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ShellTimeout()
            self.sock.settimeout(min(remaining, _ALIVE_CHECK_S))
            try:
                chunk = self.sock.recv(256 * 1024)
            except TimeoutError:
                continue
            except OSError as exc:
                raise ShellClosed(str(exc)) from None
            if not chunk:
                raise ShellClosed("end of stream")
            self._raw += chunk
            self._split_frames()
            return

    def start_call(self) -> None:
        """A call begins: the shell's liveness is next checked a second from now."""
        self._checked = time.monotonic()

    def _check_alive(self) -> None:
        """A shell that died while something it started holds its stdout open never
        ends the stream: ask the engine instead, once a second of a long call."""
        if self.alive is None or time.monotonic() - self._checked < _ALIVE_CHECK_S:
            return
        self._checked = time.monotonic()
        if not self.alive():
            raise ShellClosed("the shell exited")

    def _split_frames(self) -> None:
        while len(self._raw) >= _HEADER.size:
            stream, size = _HEADER.unpack_from(self._raw)
            if len(self._raw) < _HEADER.size + size:
                return
            payload = self._raw[_HEADER.size : _HEADER.size + size]
            if stream == _STDOUT:
                self.out += payload
            elif stream == _STDERR:
                log.debug("sandbox shell stderr: %r", bytes(payload[:500]))
            del self._raw[: _HEADER.size + size]

    def read_line_after(self, marker: bytes, deadline: float) -> bytes:
        """Everything up to `marker`, dropped; then the rest of its line, returned."""
        while (found := self.out.find(marker)) < 0:
            self.fill(deadline)
        start = found + len(marker)
        while (end := self.out.find(b"\n", start)) < 0:
            self.fill(deadline)
        line = bytes(self.out[start:end])
        del self.out[: end + 1]
        return line

    def stream_until(self, marker: bytes, capture: Capture, deadline: float) -> bytes:
        """Feed `capture` all output before `marker` as it comes; return the rest of
        the marker's line."""
        while True:
            found = self.out.find(marker)
            if found >= 0:
                capture.feed(bytes(self.out[:found]))
                del self.out[:found]
                return self.read_line_after(marker, deadline)
            cut = self._safe_end(marker)
            if cut:
                capture.feed(bytes(self.out[:cut]))
                del self.out[:cut]
            self.fill(deadline)

    def _safe_end(self, marker: bytes) -> int:
        """How much of the output is surely not the start of `marker`: all but an end
        that could still become it."""
        at = self.out.find(marker[:1], max(0, len(self.out) - len(marker) + 1))
        while at >= 0:
            if marker.startswith(bytes(self.out[at:])):
                return at
            at = self.out.find(marker[:1], at + 1)
        return len(self.out)


class PersistentShell:
    """One long-lived shell in a running container; `run` one command at a time."""

    def __init__(self, api: Any, container_id: str, user: str) -> None:
        self.api = api
        self.container_id = container_id
        self.user = user
        self.pid = 0
        self.started = 0  # the shell's start time in clock ticks, as /proc says
        self.exec_id = api.exec_create(
            container_id, ["/bin/sh", "-c", _START], stdin=True, user=user, workdir="/workspace"
        )["Id"]
        response_sock = api.exec_start(self.exec_id, socket=True)
        self._keep = response_sock  # the wrapper owns the connection; keep it alive
        self.sock: socket.socket = getattr(response_sock, "_sock", response_sock)
        self.reader = FrameReader(self.sock, self.is_alive)

    def start(self, timeout_s: float = 10.0) -> None:
        """Send the bootstrap and wait until the shell says it is ready."""
        nonce = secrets.token_hex(8).encode()
        ready = b"printf '%s R %s %s\\n' " + nonce + b' "$$" "$__tether_start"'
        self._send(_script("shell.sh") + b"\n" + ready + b"\n")
        fields = self.reader.read_line_after(nonce + b" R ", time.monotonic() + timeout_s)
        pid, started = fields.split()
        self.pid, self.started = int(pid), int(started)

    def run(
        self, command: str | bytes, capture: Capture, *, timeout_s: float, save_state: bool
    ) -> RawRun:
        """Run `command`, its output fed to `capture`; on timeout kill what it started
        (wherever it went) and still read how it ended."""
        nonce, token = secrets.token_hex(8).encode(), secrets.token_hex(8).encode()
        save = b"1" if save_state else b"0"
        self._send(
            b"__tether_call " + token + b" " + save + b" " + quote(command)
            + b"; __tether_end $? " + nonce + b" " + save + b"\n"
        )  # fmt: skip
        marker = nonce + b" E "
        self.reader.start_call()
        try:
            fields = self.reader.stream_until(marker, capture, time.monotonic() + timeout_s)
        except ShellTimeout:
            self.kill("call", self.pid, token.decode())
            fields = self.reader.stream_until(marker, capture, time.monotonic() + _KILL_GRACE_S)
            return RawRun(status=int(fields.split()[0]), timed_out=True)
        words = fields.split()
        return RawRun(status=int(words[0]), out_of_memory=words[1:] == [b"oom"])

    def kill(self, mode: str, pid: int, arg: str) -> None:
        """SIGKILL a call's processes (`call`, with its token) or all a shell's
        (`shell`, with its start time), from a one-off exec; see killer.sh."""
        command = ["/bin/sh", "-c", _script("killer.sh").decode(), "killer", mode, str(pid), arg]
        for attempt in range(_KILL_ATTEMPTS):
            try:  # a fork bomb can leave no process slot for the killer: try again
                exec_id = self.api.exec_create(self.container_id, command, user=self.user)
                said = self.api.exec_start(exec_id["Id"])
                if said:
                    log.debug("killer: %r", said[:500])
                return
            except Exception as exc:  # noqa: BLE001 - any engine refusal means retry
                log.debug("killer exec failed (attempt %d): %s", attempt + 1, exc)
                time.sleep(0.2)

    def kill_all(self) -> None:
        """Kill this shell and everything any of its calls left running."""
        self.kill("shell", self.pid, str(self.started))

    def is_alive(self) -> bool:
        try:
            return bool(self.api.exec_inspect(self.exec_id).get("Running"))
        except Exception as exc:  # noqa: BLE001 - an engine that cannot say: assume alive
            log.debug("exec_inspect failed: %s", exc)
            return True

    def _send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise ShellClosed(str(exc)) from None

    def close(self) -> None:
        for closer in (self.sock.close, self._keep.close):
            with contextlib.suppress(OSError):
                closer()
