"""The model client: one streamed Messages API request in, one complete response out.

`AnthropicModel` talks to the API through the official `anthropic` SDK with the
SDK's own retries switched off: the harness retries, so that every attempt is
recorded in the session log. Every failure leaves here as one of tether's
errors, sorted into "try again" (`RetryableModelError`) and "don't".

`anthropic` costs about a second to import, so it is imported only when an
`AnthropicModel` is built. (Importing it in a background thread while the
caller prepares the session was measured and lost: that preparation is Python
work too, so the GIL serialises the two and the switching costs ~40 ms.)
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from . import errors
from .events import Usage

logger = logging.getLogger(__name__)

# The newest Sonnet in the installed SDK's `anthropic.types.Model` list.
DEFAULT_MODEL = "claude-sonnet-5-5"

MAX_BACKOFF_S = 30.0  # in units of TETHER_RETRY_BASE_S (1 s by default)
MAX_RETRY_AFTER_S = 60.0  # a server asking for more is not waited on for longer

# The SDK's own retry policy: these statuses may succeed on a second try.
_RETRYABLE_STATUS = {408, 409, 429}
_RETRYABLE_STREAM_ERRORS = {"overloaded_error", "api_error", "rate_limit_error"}
# Refusals that no retry can change: a malformed request, an unknown model, too much input.
_PERMANENT_STATUS = {400, 404, 413, 422}
_TOO_LONG = "prompt is too long"


@dataclass(frozen=True, kw_only=True)
class ModelRequest:
    """Everything one model call sends; `messages`, `tools` and a list `system` are
    API-shaped dicts (a list `system` can carry `cache_control`)."""

    model: str
    system: str | Sequence[Mapping[str, Any]] | None
    messages: tuple[Mapping[str, Any], ...]
    tools: tuple[Mapping[str, Any], ...]
    max_tokens: int
    thinking: Mapping[str, Any] | None = None  # the SDK's ThinkingConfigParam
    output_config: Mapping[str, Any] | None = None  # the SDK's OutputConfigParam (effort)
    betas: tuple[str, ...] = ()  # sent in the `anthropic-beta` header (the beta API's)
    compaction: Mapping[str, Any] | None = None  # BetaCompactionConfigParam: a compaction
    tool_choice: Mapping[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class TextBlock:
    text: str


@dataclass(frozen=True, kw_only=True)
class ThinkingBlock:
    thinking: str
    signature: str


@dataclass(frozen=True, kw_only=True)
class RedactedThinkingBlock:
    data: str


@dataclass(frozen=True, kw_only=True)
class CompactionBlock:
    """The API's summary of a conversation, to be sent back exactly as it came."""

    data: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class ToolUseBlock:
    id: str
    name: str
    input: Mapping[str, Any]


ContentBlock = TextBlock | ThinkingBlock | RedactedThinkingBlock | ToolUseBlock | CompactionBlock


@dataclass(frozen=True, kw_only=True)
class ModelResponse:
    """A complete response: the stream reached `message_stop`."""

    content: tuple[ContentBlock, ...]
    stop_reason: str | None
    usage: Usage
    model: str


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


Listener = Callable[[str], None]


class ModelClient(Protocol):
    """What the harness needs from a model."""

    def create(
        self,
        request: ModelRequest,
        on_text: Listener | None = None,
        on_thinking: Listener | None = None,
    ) -> ModelResponse:
        """Stream one response, calling `on_text` with each text delta as it arrives, and
        `on_thinking` with each thinking delta ("" when a thinking block starts).

        Returns only a complete response. Raises `errors.AuthError` when the key is
        rejected, `RetryableModelError` when another try may succeed, and
        `errors.ModelError` for any other refusal.
        """
        ...


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


class AnthropicModel:
    """A `ModelClient` over the official `anthropic` SDK, streaming, with no SDK retries."""

    def __init__(self, api_key: str, base_url: str | None = None, timeout_s: float = 600) -> None:
        import anthropic  # here, not at the top: see the module docstring

        # No SDK retries: the harness retries, so that each attempt is in the log.
        self._host = _host_of(
            base_url or os.environ.get("ANTHROPIC_BASE_URL") or "api.anthropic.com"
        )
        self._client = anthropic.Anthropic(
            api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout_s
        )

    def create(
        self,
        request: ModelRequest,
        on_text: Listener | None = None,
        on_thinking: Listener | None = None,
    ) -> ModelResponse:
        """Stream one response; see `ModelClient.create`."""
        try:
            return _stream(self._client, request, on_text, on_thinking)
        except _CallbackFailed as failed:
            raise failed.original from None  # the caller's own error, untranslated
        except errors.TetherError:
            raise
        except Exception as exc:
            raise _translate(exc, self._host) from exc


class _CallbackFailed(Exception):
    """Carries an exception raised by `on_text` past the SDK-error translation."""

    def __init__(self, original: Exception) -> None:
        super().__init__(str(original))
        self.original = original


def request_params(request: ModelRequest) -> dict[str, Any]:
    """The SDK's keyword arguments for `request`: the request body, and its beta header."""
    kwargs: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens,
        "messages": list(request.messages),
    }
    if isinstance(request.system, str) and request.system:
        kwargs["system"] = request.system
    elif request.system:
        kwargs["system"] = list(request.system)
    if request.tools:
        kwargs["tools"] = list(request.tools)
    optional = {
        "thinking": request.thinking,
        "output_config": request.output_config,
        "tool_choice": request.tool_choice,
        "compaction": request.compaction,
    }
    kwargs.update({k: dict(v) for k, v in optional.items() if v is not None})
    if request.betas:
        kwargs["betas"] = list(request.betas)
    return kwargs


def _stream(
    client: Any, request: ModelRequest, on_text: Listener | None, on_thinking: Listener | None
) -> ModelResponse:
    complete = False
    params = request_params(request)
    api = client.beta.messages if "betas" in params else client.messages
    with api.stream(**params) as stream:
        for event in stream:
            if event.type == "message_stop":
                complete = True
            else:
                _tell(event, on_text, on_thinking)
        if not complete:
            # The body ended cleanly but early (a proxy cut it at an event boundary).
            raise RetryableModelError(
                "the response stream ended before the message was complete",
                error_type="incomplete_stream",
            )
        return _response(stream.get_final_message())


def _tell(event: Any, on_text: Listener | None, on_thinking: Listener | None) -> None:
    """Pass a streamed delta to whoever listens for its kind."""
    if event.type == "text" and on_text is not None:
        _call(on_text, event.text)
    elif on_thinking is None:
        return
    elif event.type == "thinking":
        _call(on_thinking, event.thinking)
    elif event.type == "content_block_start" and event.content_block.type == "thinking":
        _call(on_thinking, "")


def _call(listener: Listener, delta: str) -> None:
    try:
        listener(delta)
    except Exception as exc:
        raise _CallbackFailed(exc) from exc


def _response(message: Any) -> ModelResponse:
    blocks = tuple(b for b in map(_block, message.content) if b is not None)
    return ModelResponse(
        content=blocks,
        stop_reason=message.stop_reason,
        usage=_usage(message.usage),
        model=message.model,
    )


def _block(block: Any) -> ContentBlock | None:
    if block.type == "text":
        return TextBlock(text=block.text)
    if block.type == "thinking":
        return ThinkingBlock(thinking=block.thinking, signature=block.signature)
    if block.type == "redacted_thinking":
        return RedactedThinkingBlock(data=block.data)
    if block.type == "compaction":
        return CompactionBlock(data=block.model_dump(mode="json", exclude_none=True))
    if block.type == "tool_use":
        return ToolUseBlock(id=block.id, name=block.name, input=dict(block.input or {}))
    logger.warning("ignoring a %s content block the harness does not handle", block.type)
    return None


def _usage(usage: Any) -> Usage:
    return Usage(
        input_tokens=usage.input_tokens or 0,
        output_tokens=usage.output_tokens or 0,
        cache_read_input_tokens=usage.cache_read_input_tokens or 0,
        cache_creation_input_tokens=usage.cache_creation_input_tokens or 0,
    )


def _host_of(url: str) -> str:
    """The host (and port) of an endpoint, as a person would name it."""
    from urllib.parse import urlsplit

    return urlsplit(url if "//" in url else f"//{url}").netloc or url


def _translate(exc: Exception, host: str = "the API") -> errors.ModelError:
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
