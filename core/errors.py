"""One error tree. Every tether error derives from `TetherError` and from the
built-in it resembles, so callers can catch either. `exit_codes` maps them."""

from __future__ import annotations

import errno
import re


def kind(exc: BaseException) -> str:
    """An error's kind in the log's words: ImageNotFound becomes image_not_found."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


class TetherError(Exception):
    """Root of every error tether raises on purpose; its message is one line for a person."""


class UsageError(TetherError, ValueError):
    """The command line or its input was wrong (empty prompt, bad flag value)."""


class ConfigError(TetherError, ValueError):
    """The config file or a TETHER_* variable holds a bad value."""


class HomeMissing(TetherError, FileNotFoundError):
    """The data directory (TETHER_HOME) is unusable: a file, or cannot be created."""


class SessionNotFound(TetherError, LookupError):
    """No session matches the id or prefix."""


class AmbiguousSession(TetherError, LookupError):
    """A prefix matches more than one session."""


class SessionExists(TetherError, FileExistsError):
    """`--session-id` names a session that already exists."""


class SessionBusy(TetherError, BlockingIOError):
    """Another harness holds the session's lock."""


class LogCorrupt(TetherError, ValueError):
    """The event log cannot be read as a session (unreadable or no valid first event)."""


class StorageError(TetherError, OSError):
    """Writing the log failed (disk full, permissions); nothing half-written was kept."""


class ModelError(TetherError, ConnectionError):
    """The model could not be reached, or kept failing after retries."""


class AuthError(ModelError, PermissionError):
    """The API key is missing or was rejected."""


class InvalidRequest(ModelError, ValueError):
    """The API refused a request as invalid (a 400): sending it again cannot help."""


class ContextWindowExceeded(InvalidRequest):
    """The API refused a request as longer than the model's context window."""


class SandboxError(TetherError, RuntimeError):
    """The sandbox failed in a way the session cannot carry on from."""


class EngineUnavailable(SandboxError, ConnectionError):
    """The Docker engine does not answer."""


class ImageNotFound(SandboxError, LookupError):
    """The sandbox image is neither present nor pullable."""


class SandboxLost(SandboxError):
    """The container died or vanished; the next call gets a fresh one."""


class MCPServerError(TetherError, ConnectionError):
    """An MCP server could not be started, died, or broke the protocol. The call it was
    for becomes an error result the model reads; the next call starts the server afresh."""


class MCPTimeout(MCPServerError, TimeoutError):
    """An MCP server did not answer in time, and was stopped."""


class Interrupted(KeyboardInterrupt):
    """The run was interrupted by Ctrl-C (SIGINT), SIGTERM or its wall-clock limit.

    Deliberately outside the TetherError tree, which derives from Exception: the
    SDKs below the harness (docker, requests, httpx) catch Exception to wrap it, and
    a signal wrapped into "cannot reach the Docker engine" or a retryable model
    error would be swallowed, and the run would go on.
    """

    def __init__(self, signum: int, reason: str) -> None:
        super().__init__(reason)
        self.signum = signum
        self.reason = reason


def storage_error(doing: str, exc: OSError) -> StorageError:
    """A StorageError for a failed write, with what to do about it."""
    remedy = _REMEDIES.get(exc.errno or 0, "check the data dir")
    return StorageError(
        f"{doing}: {exc.strerror or exc}; {remedy}, or set TETHER_HOME to another directory"
    )


_REMEDIES = {
    errno.ENOSPC: "free some space",
    errno.EDQUOT: "free some space",
    errno.EROFS: "remount it writable",
    errno.EACCES: "make it writable",
    errno.EPERM: "make it writable",
    errno.ENOTDIR: "a part of that path is a file, not a directory",
}
