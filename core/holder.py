"""Who holds a session's lock, told apart from whoever once had its pid.

The process that takes the lock writes its identity into the lock file: pid,
start time, machine (boot id and PID namespace, see `procs`), host name, and
its role ("harness" for `run` and `resume`, else the command). `tether kill`
signals only a process that holds the lock and still matches its record, and
signals it through a pidfd opened before that check, so no later reuse of the
pid can redirect a signal.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from dataclasses import asdict, dataclass
from pathlib import Path

from . import procs

HARNESS = "harness"


@dataclass(frozen=True, kw_only=True)
class Holder:
    """A process as the lock file records it."""

    pid: int
    start: str | None  # clock ticks after boot (see procs.start_time)
    machine: str
    host: str
    role: str


def this_process(role: str) -> Holder:
    pid = os.getpid()
    return Holder(
        pid=pid, start=procs.start_time(pid), machine=procs.machine(), host=host(), role=role
    )


def record(fd: int, role: str) -> None:
    """Write this process into the open lock file `fd` (whose lock it has just taken)."""
    data = json.dumps(asdict(this_process(role))).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def read(lock_path: Path) -> Holder | None:
    """The process the lock file names, or None for a file without a record."""
    try:
        raw = json.loads(lock_path.read_bytes() or b"null")
        return Holder(**raw) if isinstance(raw, dict) else None
    except (OSError, ValueError, TypeError):
        return None


def matches(holder: Holder) -> bool:
    """Whether the process now at `holder.pid` is the one recorded (not a reuse of its pid)."""
    if holder.machine != procs.machine() or "?" in holder.machine or holder.host != host():
        return False
    now = procs.start_time(holder.pid)
    return now is not None and now != "?" and now == holder.start


class Process:
    """A handle on one verified process; signals can reach no other, even after it exits."""

    def __init__(self, holder: Holder, pidfd: int | None) -> None:
        self.holder = holder
        self._pidfd = pidfd

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            if self._pidfd is not None:
                signal.pidfd_send_signal(self._pidfd, signum)
            elif matches(self.holder):  # no pidfds here: check again right before
                os.kill(self.holder.pid, signum)

    def close(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None


def open_process(holder: Holder) -> Process | None:
    """A handle on the process `holder` records, or None if it no longer runs.

    The pidfd is opened first and the start time checked after: if the check
    passes, the process was alive under that pid the whole time, so the pidfd is
    its own."""
    try:
        pidfd: int | None = os.pidfd_open(holder.pid)
    except ProcessLookupError:
        return None
    except (AttributeError, OSError):  # an old kernel or Python: fall back to checked kills
        pidfd = None
    if not matches(holder):
        if pidfd is not None:
            os.close(pidfd)
        return None
    return Process(holder, pidfd)


def host() -> str:
    import socket  # here: the read-only commands import this module and never need it

    return socket.gethostname()
