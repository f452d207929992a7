"""The two consoles: `out` for what a person reads on stdout, `err` for stderr.

rich drops colour and cursor codes by itself when NO_COLOR is set or the
stream is not a terminal, so piped output stays plain text.
"""

from __future__ import annotations

import logging

from rich.console import Console

out = Console(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False)


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
