"""The persistent shell: one `bash` (or `sh`) per container, spoken to over the
raw, multiplexed socket of a Docker exec.

Docker multiplexes an exec's stdout and stderr onto one socket in frames, each
with an 8-byte header (stream, 3 zero bytes, big-endian length). The shell's
protocol (see shell.sh) answers every call with an `S` line (the exit status),
at most LIMIT bytes of output and an `E` line; every marker starts with a
per-call random nonce, so output cannot be mistaken for one.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import socket
import struct
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">BxxxL")
_STDOUT, _STDERR = 1, 2
_START = "if command -v bash >/dev/null 2>&1; then exec bash --noprofile --norc; fi; exec sh"
_KILL_GRACE_S = 5.0
_KILL_ATTEMPTS = 10


class ShellClosed(Exception):
    """The shell's stream ended: the shell, or its whole container, is gone."""


class ShellTimeout(Exception):
    """No answer from the shell before the deadline."""


def quote(text: str | bytes) -> bytes:
    """One shell word, single-quoted, holding `text` byte for byte (no NUL)."""
    raw = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    return b"'" + raw.replace(b"'", b"'\\''") + b"'"


@dataclass(frozen=True, kw_only=True)
class RawRun:
    """What one call gave back: exit status, the first LIMIT bytes of output."""

    status: int
    output: bytes
    timed_out: bool = False


class FrameReader:
    """Demultiplexes an exec socket: collects stdout, logs stderr."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._raw = bytearray()
        self.out = bytearray()

    def read_until(self, marker: bytes, deadline: float) -> int:
        """Read until `marker` is in the collected stdout; returns where it ends."""
        start = 0
        while True:
            found = self.out.find(marker, start)
            if found >= 0:
                return found + len(marker)
            start = max(0, len(self.out) - len(marker) + 1)
            self._fill(deadline)

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ShellTimeout()
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(256 * 1024)
        except TimeoutError:
            raise ShellTimeout() from None
        except OSError as exc:
            raise ShellClosed(str(exc)) from None
        if not chunk:
            raise ShellClosed("end of stream")
        self._raw += chunk
        self._split_frames()

    def _split_frames(self) -> None:
        while len(self._raw) >= _HEADER.size:
            stream, size = _HEADER.unpack_from(self._raw)
            if len(self._raw) < _HEADER.size + size:
                return
            payload = bytes(self._raw[_HEADER.size : _HEADER.size + size])
            del self._raw[: _HEADER.size + size]
            if stream == _STDOUT:
                self.out += payload
            elif stream == _STDERR:
                log.debug("sandbox shell stderr: %r", payload[:500])

    def take(self, end: int) -> bytes:
        data = bytes(self.out[:end])
        del self.out[:end]
        return data


# Saving and sourcing the shell's state costs a third of a `true` round trip, so
# it is skipped for a command that cannot change it: state changes only through
# these builtins, an assignment, or a function or alias (which could hide them).
_STATE_WORDS = re.compile(
    r"(^|[^\w.-])(cd|pushd|popd|export|declare|typeset|readonly|local|unset|set|source|eval"
    r"|alias|unalias|shopt|umask|read|readarray|mapfile|getopts|printf|let|enable|hash)\b"
    r"|(^|[\s;&|(])\.\s|="
)
_DEFINES_CODE = re.compile(r"\(\s*\)|\bfunction\b|\balias\b")


class PersistentShell:
    """One long-lived shell in a running container; `run` one command at a time."""

    def __init__(self, api: Any, container_id: str, user: str) -> None:
        self.api = api
        self.container_id = container_id
        self.user = user
        self.seq = 0
        self.pid = 0
        self._defines_code = False
        self.job_control = False
        exec_id = api.exec_create(
            container_id, ["/bin/sh", "-c", _START], stdin=True, user=user, workdir="/workspace"
        )["Id"]
        response_sock = api.exec_start(exec_id, socket=True)
        self._keep = response_sock  # the wrapper owns the connection; keep it alive
        self.sock: socket.socket = getattr(response_sock, "_sock", response_sock)
        self.reader = FrameReader(self.sock)

    def start(self, timeout_s: float = 10.0) -> None:
        """Send the bootstrap and wait until the shell says it is ready."""
        nonce = secrets.token_hex(8).encode()
        script = resources.files(__package__).joinpath("shell.sh").read_bytes()
        ready = b"printf '%s R %s %s %s\\n' " + nonce + b' "$$" "$__tether_jc" "$__tether_state"'
        self._send(script + b"\n" + ready + b"\n")
        deadline = time.monotonic() + timeout_s
        end = self.reader.read_until(nonce + b" R ", deadline)
        line_end = self.reader.read_until(b"\n", deadline)
        fields = self.reader.take(line_end)[end:].decode().split()
        self.pid, self.job_control, self.state_dir = int(fields[0]), fields[1] == "1", fields[2]

    def may_change_state(self, command: str) -> bool:
        """Whether `command` could change the working directory, variables or functions."""
        if _DEFINES_CODE.search(command):
            self._defines_code = True  # from now on any word may be a function or alias
        return self._defines_code or bool(_STATE_WORDS.search(command))

    def run(
        self, command: str | bytes, *, limit: int, timeout_s: float, keep_state: bool = False
    ) -> RawRun:
        """Run `command`; on timeout kill its process group and still read its result."""
        self.seq += 1
        nonce = secrets.token_hex(8).encode()
        flags = f" {limit + 1} {int(keep_state)} ".encode()
        self._send(b"__tether_run %d " % self.seq + nonce + flags + quote(command) + b"\n")
        try:
            return self._read_result(nonce, time.monotonic() + timeout_s)
        except ShellTimeout:
            self.kill_running()
            result = self._read_result(nonce, time.monotonic() + _KILL_GRACE_S)
            return RawRun(status=result.status, output=result.output, timed_out=True)

    def _read_result(self, nonce: bytes, deadline: float) -> RawRun:
        fields, output = self._read_answer(nonce, deadline)
        return RawRun(status=int(fields[0]), output=output)

    def _read_answer(self, nonce: bytes, deadline: float) -> tuple[list[bytes], bytes]:
        """The fields of the `S` line and the bytes between it and the `E` line."""
        end = self.reader.read_until(b"\n" + nonce + b" E\n", deadline)
        block = self.reader.take(end)
        head_at = block.index(nonce + b" S ") + len(nonce) + 3
        newline = block.index(b"\n", head_at)
        return block[head_at:newline].split(), block[newline + 1 : -(len(nonce) + 4)]

    def spill(self, tail: int, timeout_s: float = 30.0) -> tuple[str, int, bytes]:
        """Keep the last call's output in a file: (its path, its size, its last `tail` bytes)."""
        nonce = secrets.token_hex(8).encode()
        self._send(b"__tether_spill %d " % self.seq + nonce + b" %d\n" % tail)
        fields, data = self._read_answer(nonce, time.monotonic() + timeout_s)
        return fields[1].decode(), int(fields[0]), data

    def kill_running(self) -> None:
        """SIGKILL the running command's process group from a one-off exec.

        The shell writes `SEQ PID` before it waits; the killer waits for this
        call's line so that it never kills an older command's leftovers. Without
        job control there is no group, so it kills everything the user runs
        (the shell too: the caller then starts a fresh one).
        """
        target = '"-$p"' if self.job_control else "-1"
        script = (
            f"i=0; while [ $i -lt 100 ]; do read s p < {self.state_dir}/pid 2>/dev/null; "
            f'if [ "$s" = {self.seq} ]; then kill -9 {target}; exit; fi; '
            "i=$((i+1)); sleep 0.05; done"
        )
        for attempt in range(_KILL_ATTEMPTS):
            try:  # a fork bomb can leave no process slot for the killer: try again
                exec_id = self.api.exec_create(
                    self.container_id, ["/bin/sh", "-c", script], user=self.user
                )
                self.api.exec_start(exec_id["Id"])
                return
            except Exception as exc:  # noqa: BLE001 - any engine refusal means retry
                log.debug("killer exec failed (attempt %d): %s", attempt + 1, exc)
                time.sleep(0.2)

    def _send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise ShellClosed(str(exc)) from None

    def close(self) -> None:
        for closer in (self.sock.close, self._keep.close):
            with contextlib.suppress(OSError):
                closer()
