"""Which process made a container, said so that another tether can prove the maker
dead: the kernel's boot id and the PID namespace (the same machine and the same
process table), the pid, and the pid's start time (so that a reused pid is not
taken for the maker). A container whose maker cannot be proven dead is never swept."""

from __future__ import annotations

import functools
import os


def current() -> str:
    """This process, as a container's owner label."""
    return f"{_machine()}/{os.getpid()}/{_start_time(os.getpid())}"


def proven_dead(owner: str) -> bool:
    """Whether the process named by `owner` (see `current`) is gone, beyond doubt."""
    parts = owner.split("/")
    if len(parts) != 4 or "/".join(parts[:2]) != _machine() or "?" in _machine():
        return False  # another machine, another PID namespace, or no /proc to tell
    pid, start = parts[2], parts[3]
    if not pid.isdigit():
        return False
    now = _start_time(int(pid))
    return now is None or (now != "?" and now != start)


@functools.cache
def _machine() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
        namespace = os.readlink("/proc/self/ns/pid").split("[")[-1].rstrip("]")
    except OSError:
        return "?/?"
    return f"{boot}/{namespace}"


def _start_time(pid: int) -> str | None:
    """The pid's start time in clock ticks since boot; None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except FileNotFoundError:
        return None
    except OSError:
        return "?"
    fields = stat[stat.rindex(b")") + 2 :].split()
    return fields[19].decode() if fields[1:2] != [b"Z"] and len(fields) > 19 else None
