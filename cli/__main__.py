"""`python -m tether.cli` is the `tether` command."""

from .app import run

run()
