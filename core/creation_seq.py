"""The JSONL store's creation counter: sessions numbered 1, 2, ... in the order they are
created, so that `--last` and `ls` need no clock (a clock steps back: NTP, a VM restored,
a laptop's dead battery).

    sessions/.creation-seq   the last number given, flock()ed while the next is taken

A counter that is lost (deleted by hand, a data dir copied without dotfiles) or
unreadable goes on from the highest number its sessions record.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path

from .errors import storage_error

COUNTER_NAME = ".creation-seq"


def take_next(root: Path, highest_recorded: Callable[[], int]) -> int:
    """The next number in `root`'s sequence, taken under its lock and recorded at once."""
    path = root / COUNTER_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise storage_error(f"cannot number a session in {root}", exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # held for microseconds by each creator
        number = _parse(os.pread(fd, 32, 0)) or highest_recorded()
        _write(fd, str(number + 1).encode())
        return number + 1
    except OSError as exc:
        raise storage_error(f"cannot number a session in {root}", exc) from None
    finally:
        os.close(fd)  # and the lock with it


def _parse(data: bytes) -> int | None:
    text = data.decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


def _write(fd: int, data: bytes) -> None:
    """Overwrite the counter with `data` and make it durable: a number given out is never
    given again, even after a crash."""
    os.pwrite(fd, data.ljust(20), 0)  # fixed width: never a torn or shorter number
    os.fsync(fd)
