"""This machine and its processes, as /proc tells them: enough to name one process so
that another tether can tell, later, whether that very process still runs.

A pid alone is reused once its process has exited; the kernel's boot id, the PID
namespace, the pid and the pid's start time together name one process. Where
/proc cannot say, the answers say "?" and callers assume nothing.
"""

from __future__ import annotations

import functools
import os


def current() -> str:
    """This process: `boot/namespace/pid/start`."""
    return f"{machine()}/{os.getpid()}/{start_time(os.getpid())}"


@functools.cache
def machine() -> str:
    """`boot/namespace`: the same machine since its last boot and the same process table."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
        namespace = os.readlink("/proc/self/ns/pid").split("[")[-1].rstrip("]")
    except OSError:
        return "?/?"
    return f"{boot}/{namespace}"


def start_time(pid: int) -> str | None:
    """The pid's start time in clock ticks since boot; None if there is no such process
    (or only its zombie), "?" if /proc cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except FileNotFoundError:
        return None
    except OSError:
        return "?"
    fields = stat[stat.rindex(b")") + 2 :].split()  # the name may hold ") "
    return fields[19].decode() if fields[1:2] != [b"Z"] and len(fields) > 19 else None
