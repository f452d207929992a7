"""The library: the session log, the harness, the model client and the sandbox."""

__version__ = "0.1.0"
