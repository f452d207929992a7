"""The model client: one streamed Messages API request in, one complete response out.

`AnthropicModel` talks to the API through the official `anthropic` SDK with the
SDK's own retries switched off: the harness retries, so that every attempt is
recorded in the session log. Every failure leaves here as one of tether's
errors, sorted into "try again" (`RetryableModelError`) and "don't" (see
`model_errors`).

`anthropic` costs about a second to import, so it is imported only when an
`AnthropicModel` is built. (Importing it in a background thread while the
caller prepares the session was measured and lost: that preparation is Python
work too, so the GIL serialises the two and the switching costs ~40 ms.)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from . import errors
from .events import Usage

# The retry policy's names, where callers have always found them.
from .model_errors import MAX_RETRY_AFTER_S as MAX_RETRY_AFTER_S
from .model_errors import RetryableModelError as RetryableModelError
from .model_errors import host_of, translate
from .model_errors import retry_delay as retry_delay

logger = logging.getLogger(__name__)

# The newest Sonnet in the installed SDK's `anthropic.types.Model` list.
DEFAULT_MODEL = "claude-sonnet-5-5"


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


class AnthropicModel:
    """A `ModelClient` over the official `anthropic` SDK, streaming, with no SDK retries."""

    def __init__(self, api_key: str, base_url: str | None = None, timeout_s: float = 600) -> None:
        import anthropic  # here, not at the top: see the module docstring

        # No SDK retries: the harness retries, so that each attempt is in the log.
        self._host = host_of(
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
            raise translate(exc, self._host) from exc


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
