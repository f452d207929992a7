"""Who holds a session's lock, told apart from whoever once had its pid.

The process that takes the lock writes its identity into the lock file: pid,
start time (field 22 of /proc/PID/stat, clock ticks since boot), the kernel's
boot id, host name, and its role ("harness" for `run` and `resume`, else the
command). A pid alone is reused once its process has exited; pid, start time
and boot id together name one process. `tether kill` signals only a process
that holds the lock and still matches its record, and signals it through a
pidfd opened before that check, so no later pid reuse can redirect a signal.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from dataclasses import asdict, dataclass
from pathlib import Path

HARNESS = "harness"
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@dataclass(frozen=True, kw_only=True)
class Holder:
    """A process as the lock file records it."""

    pid: int
    start: int  # clock ticks after boot; 0 where /proc does not say
    boot: str
    host: str
    role: str


def this_process(role: str) -> Holder:
    pid = os.getpid()
    return Holder(pid=pid, start=start_time(pid), boot=boot_id(), host=host(), role=role)


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


def is_local(holder: Holder) -> bool:
    """Whether `holder` was recorded on this machine since it last booted."""
    return holder.host == host() and holder.boot == boot_id()


def matches(holder: Holder) -> bool:
    """Whether the process now at `holder.pid` is the one recorded (not a reuse of its pid)."""
    return is_local(holder) and holder.start != 0 and start_time(holder.pid) == holder.start


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


def start_time(pid: int) -> int:
    """Field 22 of /proc/PID/stat, or 0 if there is no such process (or no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
        return int(stat.rsplit(b")", 1)[1].split()[19])  # the name may hold ") "
    except (OSError, IndexError, ValueError):
        return 0


def boot_id() -> str:
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        return ""


def host() -> str:
    import socket  # here: the read-only commands import this module and never need it

    return socket.gethostname()
