"""The JSONL store's writer lock: an flock() on a file beside the log.

The kernel drops it when its holder dies, however it dies, so a SIGKILLed
harness never leaves a session locked. Readers who ask whether it is held take
it shared for microseconds, which is why a writer retries a busy lock briefly.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path

from . import errors
from . import holder as holders
from .holder import HARNESS, Holder


class FileLock:
    """One session's writer lock (a SessionLock). `on_release` runs before it is let go."""

    def __init__(self, path: Path, session_id: str, on_release: Callable[[], None]) -> None:
        self.path = path
        self.session_id = session_id
        self.on_release = on_release
        self._fd: int | None = None

    @property
    def mine(self) -> bool:
        """Whether this process holds it through this object."""
        return self._fd is not None

    def acquire(self, wait_s: float = 0.2, role: str = HARNESS) -> None:
        """Take the lock, or raise SessionBusy if another process holds it past `wait_s`.
        Once taken, the file names this process in `role` (see `holder`)."""
        if self._fd is not None:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            doing = f"cannot lock session {self.session_id} ({self.path})"
            raise errors.storage_error(doing, exc) from None
        deadline = time.monotonic() + wait_s
        while not _try_flock(fd, fcntl.LOCK_EX):
            if time.monotonic() >= deadline:
                os.close(fd)
                raise errors.SessionBusy(f"session {self.session_id} is running in another harness")
            time.sleep(0.01)
        self._fd = fd
        try:
            holders.record(fd, role)
        except OSError as exc:
            self.release()
            raise errors.storage_error(f"cannot lock session {self.session_id}", exc) from None

    def release(self) -> None:
        self.on_release()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def held(self) -> bool:
        """Whether some process (this one included) holds it."""
        return self._fd is not None or lock_held(self.path)

    def holder(self) -> Holder | None:
        """The process the file names as the lock's holder (None before it has written)."""
        return holders.read(self.path) if self.held() else None


def lock_held(path: str | os.PathLike[str]) -> bool:
    """Whether some process holds the lock file's flock (tested shared, for microseconds)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        return not _try_flock(fd, fcntl.LOCK_SH)
    except OSError as exc:
        return exc.errno == errno.EACCES
    finally:
        os.close(fd)


def _try_flock(fd: int, kind: int) -> bool:
    """Take flock `kind` without waiting; False if another process's lock is in the way."""
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
