"""How the model API's failures become tether's errors, and when to try again.

`translate` sorts whatever the `anthropic` SDK or its HTTP client raised into
"try again" (`RetryableModelError`: overload, rate limit, 5xx, a broken
connection) and "don't" (a rejected key, an invalid request, a prompt too long
for the window); `retry_delay` says how long the harness waits before the next
try. `anthropic` is imported only when there is an error to translate.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from typing import Any

from . import errors

MAX_BACKOFF_S = 30.0  # in units of TETHER_RETRY_BASE_S (1 s by default)
MAX_RETRY_AFTER_S = 60.0  # a server asking for more is not waited on for longer

# The SDK's own retry policy: these statuses may succeed on a second try.
_RETRYABLE_STATUS = {408, 409, 429}
_RETRYABLE_STREAM_ERRORS = {"overloaded_error", "api_error", "rate_limit_error"}
# Refusals that no retry can change: a malformed request, an unknown model, too much input.
_PERMANENT_STATUS = {400, 404, 413, 422}
_TOO_LONG = "prompt is too long"


class RetryableModelError(errors.ModelError):
    """A failure that may pass on another try: overload, rate limit, 5xx, a broken
    connection or a stream that ended early. `retry_after_s` is the server's hint;
    `error_type` is the API's error type (`overloaded_error`, `rate_limit_error`,
    `api_error`, ...) or `connection_error` / `timeout_error` / `incomplete_stream`."""

    def __init__(
        self,
        message: str,
        *,
        error_type: str = "api_error",
        retry_after_s: float | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.retry_after_s = retry_after_s
        self.status_code = status_code


def retry_delay(attempt: int, retry_after_s: float | None) -> float:
    """Seconds to wait after failed attempt number `attempt` (0 for the first failure).

    The server's `retry-after` wins when it gives one (capped at MAX_RETRY_AFTER_S);
    otherwise exponential backoff from TETHER_RETRY_BASE_S, with jitter so that
    many clients do not come back in step.
    """
    if retry_after_s is not None and retry_after_s > 0:
        return min(retry_after_s, MAX_RETRY_AFTER_S)
    base = _retry_base_s()
    backoff = min(base * 2.0 ** min(max(attempt, 0), 32), base * MAX_BACKOFF_S)
    return backoff * (0.5 + random.random() / 2)


def _retry_base_s() -> float:
    raw = os.environ.get("TETHER_RETRY_BASE_S", "")
    try:
        return max(float(raw), 0.0) if raw else 1.0
    except ValueError:
        raise errors.ConfigError(f"TETHER_RETRY_BASE_S must be a number, not {raw!r}") from None


def host_of(url: str) -> str:
    """The host (and port) of an endpoint, as a person would name it."""
    from urllib.parse import urlsplit

    return urlsplit(url if "//" in url else f"//{url}").netloc or url


def translate(exc: Exception, host: str = "the API") -> errors.ModelError:
    """One of our errors for anything the SDK or its HTTP client raised."""
    import anthropic

    if isinstance(exc, anthropic.APIStatusError):
        return _status_error(exc)
    transport = _http_errors(exc)
    cause = _root_cause(exc)
    if isinstance(exc, anthropic.APITimeoutError) or "TimeoutException" in transport:
        message = f"the model API at {host} timed out: {cause}"
        return RetryableModelError(message, error_type="timeout_error")
    if isinstance(exc, anthropic.APIConnectionError) or "TransportError" in transport:
        message = f"the connection to the model API at {host} failed: {cause}"
        return RetryableModelError(message, error_type="connection_error")
    if isinstance(exc, ValueError):  # the SDK could not parse the streamed tool input
        message = f"the model API sent a malformed response: {exc}"
        return RetryableModelError(message, error_type="invalid_response")
    return errors.ModelError(f"the model call failed: {type(exc).__name__}: {exc}")


def _status_error(exc: Any) -> errors.ModelError:
    status, kind = exc.status_code, exc.type or "error"
    detail = exc.api_message or str(exc)
    if status in (401, 403):
        return errors.AuthError(
            "the API key was rejected" + (f" ({status}: {detail})" if status == 403 else "")
        )
    if _should_retry(exc):
        retry_after = _retry_after_s(exc.response.headers)
        words = kind.removesuffix("_error").replace("_", " ")
        message = f"{status} {words}" + (f": {detail}" if detail.lower() != words else "")
        return RetryableModelError(
            message, error_type=kind, retry_after_s=retry_after, status_code=status
        )
    if status in _PERMANENT_STATUS:
        return _refusal(status, kind, detail)
    return errors.ModelError(f"the model API refused the request ({status} {kind}): {detail}")


def _refusal(status: int, kind: str, detail: str) -> errors.ModelError:
    """A request the API will refuse however often it is sent."""
    if status == 413 or detail.startswith(_TOO_LONG):
        message = f"the prompt does not fit the model's context window ({status} {kind}): {detail}"
        return errors.ContextWindowExceeded(message)
    return errors.InvalidRequest(
        f"the model API refused the request as invalid ({status} {kind}): {detail}"
    )


def _should_retry(exc: Any) -> bool:
    hint = exc.response.headers.get("x-should-retry")
    if hint in ("true", "false"):
        return hint == "true"
    if exc.status_code == 200:  # an `error` event inside a stream that had started fine
        return exc.type in _RETRYABLE_STREAM_ERRORS
    return exc.status_code in _RETRYABLE_STATUS or exc.status_code >= 500


def _retry_after_s(headers: Mapping[str, str]) -> float | None:
    """The server's wait hint: `retry-after-ms`, else `retry-after` in seconds."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return float(headers[name]) * scale
        except (KeyError, ValueError):
            continue
    return None


def _root_cause(exc: BaseException) -> str:
    """The innermost reason (`Connection refused`), not the wrappers' own words."""
    seen = exc
    for _ in range(8):
        inner = seen.__cause__ or seen.__context__
        if inner is None:
            break
        seen = inner
    text = getattr(seen, "strerror", None) or str(seen) or str(exc) or type(exc).__name__
    return str(text).splitlines()[0][:300]


def _http_errors(exc: Exception) -> set[str]:
    """Class names in `exc`'s ancestry that come from the SDK's HTTP library.

    The SDK lets that library's errors escape while a stream is read (a peer that
    closes mid-body, a read timeout); which library it is depends on the SDK
    version, so match by module rather than importing it.
    """
    libraries = ("httpx", "httpx2", "httpcore", "httpcore2")
    return {c.__name__ for c in type(exc).__mro__ if c.__module__.split(".")[0] in libraries}
