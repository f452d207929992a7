"""Secrets out of everything tether records or prints.

The key a person configured (`ANTHROPIC_API_KEY`, `ANTHROPIC_AUTH_TOKEN`) and
anything shaped like an Anthropic key (`sk-ant-...`) become `[REDACTED]`
where text enters the session log (every store's `append_many`) and where it
leaves for a terminal or a pipe (the CLI's stdout and stderr). An error body
can carry the key quoted, JSON-escaped or wrapped over lines, so the configured
key also matches with whitespace, quotes, backslashes, `+` and escaped
newlines between its characters.

What is recorded is what the harness goes on with: the context is built from
the log, so the model never sees a redacted key either, and a command it
writes with one runs with `[REDACTED]` in its place.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .events import Event

REDACTED = "[REDACTED]"
KEY_VARIABLES = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")
MIN_SECRET = 8  # anything shorter is no key, and would redact ordinary words
# Real keys: sk-ant-api03-..., sk-ant-admin01-..., sk-ant-oat01-...
_SHAPED = r"sk-ant-[A-Za-z0-9_\-]{6,}"
# Between two characters of the configured key: what quoting, escaping, wrapping and
# string concatenation put there.
_GAP = r"(?:\\[nrt]|[\s\\\"'+]){0,8}"
_HELD_MAX = 512  # a streamed word longer than this is let through (then redacted alone)


def redact(text: str) -> str:
    """`text` with every secret replaced by REDACTED."""
    return _pattern(configured()).sub(REDACTED, text)


def has_secret(text: str) -> bool:
    return _pattern(configured()).search(text) is not None


def configured() -> tuple[str, ...]:
    """The credentials in the environment now, long enough to be told from words."""
    values = (os.environ.get(name, "").strip() for name in KEY_VARIABLES)
    return tuple(value for value in values if len(value) >= MIN_SECRET)


def recordable(event: Event) -> tuple[Event, str]:
    """The event as a store may record it, no secret in it, and its line. The line is
    looked at first: the walk over the event's fields is only for the rare hit."""
    line = event.to_json()
    if not has_secret(line):
        return event, line
    event = redact_value(event)
    return event, event.to_json()


def redact_value(value: Any) -> Any:
    """`value` (a frozen dataclass, a mapping, a list or tuple, a string) with every
    string in it redacted; the same object when there was nothing to redact."""
    if isinstance(value, str):
        return redact(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: redact_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **changes)
    if isinstance(value, Mapping):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(item) for item in value)
    return value


class StreamRedactor:
    """Redacts text that arrives in pieces (a model's streamed words), holding back the
    last unfinished word so that a key cut across two pieces is never shown in part."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, piece: str) -> str:
        """What of `piece` (and what was held) can be shown now, redacted."""
        text = self._held + piece
        cut = max(text.rfind(" "), text.rfind("\n"), text.rfind("\t")) + 1
        if len(text) - cut > _HELD_MAX:
            cut = len(text)
        self._held = text[cut:]
        return redact(text[:cut])

    def flush(self) -> str:
        """The rest, redacted; call it when the stream ends."""
        held, self._held = self._held, ""
        return redact(held)


@lru_cache(maxsize=8)
def _pattern(secrets: tuple[str, ...]) -> re.Pattern[str]:
    spelled = [_GAP.join(re.escape(char) for char in secret) for secret in secrets]
    return re.compile("|".join([*spelled, _SHAPED]))
