"""The two consoles: `out` for what a person reads on stdout, `err` for stderr.

rich drops colour and cursor codes by itself when NO_COLOR is set or the
stream is not a terminal, so piped output stays plain text; and there lines
are not wrapped either.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sys
from typing import Any, Literal, TextIO

from rich.console import Console
from rich.text import Text

from tether.core.redact import redact

log = logging.getLogger(__name__)

# rich's own NO_COLOR handling drops colours but keeps bold and reverse; no codes at all is
# what people who set it expect.
_COLOR_SYSTEM: Literal["auto"] | None = None if os.environ.get("NO_COLOR") else "auto"
out = Console(highlight=False, color_system=_COLOR_SYSTEM)
err = Console(stderr=True, highlight=False, color_system=_COLOR_SYSTEM)
# A pipe or a file gets lines as long as they are: no wrapping at a width nobody sees.
out.soft_wrap, err.soft_wrap = not out.is_terminal, not err.is_terminal


def fail(message: str) -> None:
    """Print one error line on stderr (the caller exits). The message may quote a
    server or a model, so it is cleaned and never read as markup; it wraps between
    words on a terminal and stays whole in a pipe."""
    from .text import clean

    line = Text("error:", style="bold red")
    line.append(" " + clean(message))
    err.print(line, highlight=False)


# A reader that went away (`| head`, a pager quit), a terminal that hung up, a closed fd.
_GONE = {errno.EPIPE, errno.EIO, errno.ENXIO, errno.EBADF}


class GuardedStream:
    """stdout or stderr as tether writes to them: every write has its secrets redacted,
    and once `keep_going` is set (a run is under way) a reader that went away or a
    terminal that hung up stops the writing, never the run: the stream's file
    descriptor becomes /dev/null, so even what is still buffered goes quietly."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self._stream = stream
        self._label = label
        self.keep_going: str | None = None  # the running session's id
        self.lost = False

    def write(self, text: str) -> int:
        if not self.lost:
            try:
                self._stream.write(redact(text))
            except OSError as exc:
                self._lose(exc)
        return len(text)

    def flush(self) -> None:
        if not self.lost:
            try:
                self._stream.flush()
            except OSError as exc:
                self._lose(exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def _lose(self, exc: OSError) -> None:
        if self.keep_going is None or exc.errno not in _GONE:
            raise exc
        self.lost = True
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        log.warning(
            "%s went away (%s); the run goes on, and tether tail -f %s follows it",
            self._label, exc.strerror, self.keep_going,
        )  # fmt: skip


def guard_streams() -> None:
    """Put GuardedStream around sys.stdout and sys.stderr (a closed one becomes /dev/null)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name) or open(os.devnull, "w")  # noqa: SIM115 - lives as long as we do
        if not isinstance(stream, GuardedStream):
            setattr(sys, name, GuardedStream(stream, name))


def keep_going(session_id: str) -> None:
    """From now on a run is under way: losing stdout or stderr must not stop it."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, GuardedStream):
            stream.keep_going = session_id


def setup_logging(verbose: bool) -> None:
    """Warnings (and with -v, debug detail) go to stderr as plain `warning: ...` lines."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root = logging.getLogger("tether")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.addLevelName(logging.WARNING, "warning")


class PullProgress:
    """A transient rich bar for `docker pull`, fed the engine's progress messages."""

    def __init__(self) -> None:
        self._progress: Any = None
        self._layers: dict[str, tuple[int, int]] = {}

    def __call__(self, message: dict) -> None:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

        if self._progress is None:
            self._progress = Progress(
                TextColumn("pulling image"),
                BarColumn(),
                DownloadColumn(),
                console=err,
                transient=True,
            )
            self._task = self._progress.add_task("pull", total=None)
            self._progress.start()
        detail = message.get("progressDetail") or {}
        if message.get("id") and detail.get("total"):
            self._layers[message["id"]] = (detail.get("current", 0), detail["total"])
        done = sum(c for c, _ in self._layers.values())
        total = sum(t for _, t in self._layers.values()) or None
        self._progress.update(self._task, completed=done, total=total)
        if str(message.get("status", "")).startswith(("Status:", "Digest:")):
            self.close()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def pull_progress() -> PullProgress | None:
    """A pull progress bar on a terminal; nothing when stderr is not one."""
    return PullProgress() if err.is_terminal else None
