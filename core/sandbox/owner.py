"""Which process made a container, said so that another tether can prove the maker
dead: the kernel's boot id and the PID namespace (the same machine and the same
process table), the pid, and the pid's start time (so that a reused pid is not
taken for the maker). A container whose maker cannot be proven dead is never swept."""

from __future__ import annotations

from ..procs import current, machine, start_time


def proven_dead(owner: str) -> bool:
    """Whether the process named by `owner` (see `current`) is gone, beyond doubt."""
    parts = owner.split("/")
    if len(parts) != 4 or "/".join(parts[:2]) != machine() or "?" in machine():
        return False  # another machine, another PID namespace, or no /proc to tell
    pid, start = parts[2], parts[3]
    if not pid.isdigit():
        return False
    now = start_time(int(pid))
    return now is None or (now != "?" and now != start)


__all__ = ["current", "proven_dead"]
