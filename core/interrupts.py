"""Signals as exceptions, delivered only where the harness can take them.

SIGINT (Ctrl-C), SIGTERM (CI, `tether kill`), SIGHUP (the terminal closed)
and the run's wall-clock alarm become `errors.Interrupted` in the main thread,
so a blocking model stream or tool call stops at once. Inside `shielded()` (an
append to the log, for one) a signal waits until the block ends, so a log
line is never half-recorded by our own hand. After the first interrupt the
rest are ignored: clean-up must run to the end. A signal the process was
started with ignored (`nohup`, a background job) stays ignored.

Guards nest: the CLI holds one from the moment a run has a session, while the
SDKs load, and the harness's own takes over when it wakes. The outer one then
keeps any signal for the inner one, which delivers it after its first shielded
block, so no signal is lost between the two and none lands outside the
harness once it has started.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from .errors import Interrupted

REASONS = {
    signal.SIGINT: "ctrl-c",
    signal.SIGTERM: "sigterm",
    signal.SIGHUP: "sighup",
    signal.SIGALRM: "timeout",
}


class Cancelled(BaseException):
    """Raised in the main thread, from another thread's finding (`InterruptGuard.cancel`),
    to stop a blocking call. A BaseException for the reason `Interrupted` is one: the
    SDKs below must not wrap it."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class InterruptGuard:
    """Installs the handlers for one run; use as a context manager."""

    def __init__(self, timeout_s: float | None = None) -> None:
        self.timeout_s = timeout_s
        self.delivered: Interrupted | None = None
        self._depth = 0
        self._pending: Interrupted | None = None
        self._previous: dict[int, object] = {}
        self._handed_over = False  # an inner guard has taken over: keep signals for it
        self._cancel: tuple[Exception, Callable[[], bool]] | None = None
        self._lock = threading.Lock()  # orders a cancel against the handlers going away
        self._active = False

    def __enter__(self) -> InterruptGuard:
        outer = _guard_behind(signal.getsignal(signal.SIGTERM))
        if outer is not None:
            outer._handed_over = True
        for signum in REASONS:
            if signal.getsignal(signum) != signal.SIG_IGN:
                self._previous[signum] = signal.signal(signum, self._handle)
        self._previous[signal.SIGUSR1] = signal.signal(signal.SIGUSR1, self._handle_cancel)
        self._active = True
        if outer is not None:
            self._pending, outer._pending = outer._pending, None
        if self.timeout_s:
            signal.setitimer(signal.ITIMER_REAL, self.timeout_s)
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._active = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]

    @contextmanager
    def shielded(self) -> Iterator[None]:
        """Hold signals back for the length of the block, then deliver the first one."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        if self._depth == 0 and self._pending is not None:
            pending, self._pending = self._pending, None
            self._deliver(pending)

    def cancel(self, error: Exception, while_: Callable[[], bool]) -> None:
        """From another thread: raise Cancelled(error) in the main thread, if `while_()`
        still holds when it gets there and no append is under way (else nothing)."""
        with self._lock:
            if not self._active:
                return  # the handlers are gone: SIGUSR1 would end the process
            self._cancel = (error, while_)
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGUSR1)

    def _handle_cancel(self, signum: int, frame: FrameType | None) -> None:
        if self._cancel is None or self.delivered is not None or self._depth:
            return
        error, while_ = self._cancel
        if while_():
            self._cancel = None
            raise Cancelled(error)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.delivered is not None:
            return  # already stopping; let clean-up finish
        interrupt = Interrupted(signum, REASONS.get(signal.Signals(signum), "signal"))
        if self._depth or self._handed_over:
            self._pending = self._pending or interrupt
        else:
            self._deliver(interrupt)

    def _deliver(self, interrupt: Interrupted) -> None:
        self.delivered = interrupt
        raise interrupt


def _guard_behind(handler: object) -> InterruptGuard | None:
    """The guard whose handler `handler` is, if any."""
    guard = getattr(handler, "__self__", None)
    return guard if isinstance(guard, InterruptGuard) else None
