"""The exit-code contract, in one table. The README documents the same table."""

from __future__ import annotations

from enum import IntEnum

from . import errors


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    MAX_TURNS = 3
    BUDGET = 4  # token budget or wall-clock timeout reached
    MODEL = 5  # model unreachable, or retries exhausted
    AUTH = 6  # API key missing or rejected
    SANDBOX = 7  # Docker engine or sandbox failure
    NOT_FOUND = 8  # no such session, or an ambiguous prefix
    BUSY = 9  # another harness holds the session
    INVALID_REQUEST = 10  # the API refused a request as invalid (400): retrying cannot help
    REFUSAL = 11  # the model declined to go on (stop_reason refusal)
    MAX_TOKENS = 12  # the response was cut at max_tokens and the turn did not end
    REQUIRES_ACTION = 13  # a tool call waits for approval: `tether approve` / `deny`
    CONTEXT = 14  # the context window is full and could not be compacted
    HANGUP = 129  # SIGHUP: the terminal closed
    INTERRUPTED = 130  # Ctrl-C
    TERMINATED = 143  # SIGTERM, or `tether kill`


# Most specific first: the first matching class wins.
_FOR_ERROR: list[tuple[type[BaseException], ExitCode]] = [
    (errors.AuthError, ExitCode.AUTH),
    (errors.ContextWindowExceeded, ExitCode.CONTEXT),
    (errors.InvalidRequest, ExitCode.INVALID_REQUEST),
    (errors.ModelError, ExitCode.MODEL),
    (errors.SandboxError, ExitCode.SANDBOX),
    (errors.SessionNotFound, ExitCode.NOT_FOUND),
    (errors.AmbiguousSession, ExitCode.NOT_FOUND),
    (errors.SessionBusy, ExitCode.BUSY),
    (errors.UsageError, ExitCode.USAGE),
    (errors.ConfigError, ExitCode.USAGE),
    (errors.HomeMissing, ExitCode.ERROR),
    (errors.TetherError, ExitCode.ERROR),
]

_FOR_STOP_REASON: dict[str, ExitCode] = {
    "end_turn": ExitCode.OK,
    "max_turns": ExitCode.MAX_TURNS,
    "budget_reached": ExitCode.BUDGET,
    "timeout": ExitCode.BUDGET,
    "retries_exhausted": ExitCode.MODEL,
    "refusal": ExitCode.REFUSAL,
    "max_tokens": ExitCode.MAX_TOKENS,
    "model_context_window_exceeded": ExitCode.CONTEXT,
    "requires_action": ExitCode.REQUIRES_ACTION,
    "interrupted": ExitCode.INTERRUPTED,
    "terminated": ExitCode.TERMINATED,
}


_FOR_SIGNAL = {1: ExitCode.HANGUP, 2: ExitCode.INTERRUPTED, 15: ExitCode.TERMINATED}


def for_error(error: BaseException) -> ExitCode:
    if isinstance(error, errors.Interrupted):
        return _FOR_SIGNAL.get(error.signum, ExitCode.INTERRUPTED)
    for cls, code in _FOR_ERROR:
        if isinstance(error, cls):
            return code
    return ExitCode.ERROR


def for_stop_reason(stop_reason: str) -> ExitCode:
    return _FOR_STOP_REASON.get(stop_reason, ExitCode.ERROR)
