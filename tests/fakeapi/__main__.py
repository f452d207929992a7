"""`python tests/fakeapi --script replies.json`: serve a script until killed."""

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a directory: make `fakeapi` importable as a package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fakeapi.server import main  # noqa: E402

main()
