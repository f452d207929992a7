"""The two consoles: `out` for what a person reads on stdout, `err` for stderr.

rich drops colour and cursor codes by itself when NO_COLOR is set or the
stream is not a terminal, so piped output stays plain text.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Literal

from rich.console import Console

# rich's own NO_COLOR handling drops colours but keeps bold and reverse; no codes at all is
# what people who set it expect.
_COLOR_SYSTEM: Literal["auto"] | None = None if os.environ.get("NO_COLOR") else "auto"
out = Console(highlight=False, soft_wrap=False, color_system=_COLOR_SYSTEM)
err = Console(stderr=True, highlight=False, color_system=_COLOR_SYSTEM)


def fail(message: str) -> None:
    """Print one error line on stderr (the caller exits)."""
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False, soft_wrap=True)


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
