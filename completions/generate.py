#!/usr/bin/env python3
"""Write tether's shell completion scripts into this directory, from the app itself.

    python completions/generate.py           # rewrite tether.bash, _tether, tether.fish
    python completions/generate.py --check   # exit 1 if a committed file is stale

The scripts are what `_TETHER_COMPLETE=source_<shell> tether` prints; on <Tab>
they call back into `tether`, so commands, options and session ids complete
from the installed app, and only changes to the scripts themselves need a rerun.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tether.cli import completion

HERE = Path(__file__).resolve().parent
FILES = {"bash": "tether.bash", "zsh": "_tether", "fish": "tether.fish"}


def stale_files(directory: Path = HERE) -> list[Path]:
    """The files whose content differs from what the app generates now."""
    stale = []
    for shell, name in FILES.items():
        path = directory / name
        if not path.is_file() or path.read_text() != completion.script(shell) + "\n":
            stale.append(path)
    return stale


def write_all(directory: Path = HERE) -> list[Path]:
    """Rewrite every script; returns the paths written."""
    written = []
    for shell, name in FILES.items():
        path = directory / name
        path.write_text(completion.script(shell) + "\n")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"stale: {path} (run python completions/generate.py)", file=sys.stderr)
        return 1 if stale else 0
    for path in write_all():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
