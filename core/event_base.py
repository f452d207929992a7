"""What every event is: the envelope (`seq`, `id`, `ts`), equality and repr written
once, the decorator each event class wears, token `Usage`, and the ids and times
events are stamped with. The event types themselves are in `events` (and
`session_events`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, TypeVar, dataclass_transform

SCHEMA_VERSION = 2  # what `to_json` writes; `parse_line` reads 1 and 2


class InvalidEvent(ValueError):
    """A line that is not a valid event (torn, garbage, or a field of the wrong type)."""


def utc_now() -> str:
    """UTC in RFC 3339 with milliseconds, e.g. 2026-11-24T10:59:13.123Z."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def new_event_id() -> str:
    """A unique, time-ordered event id (nanoseconds + random bits, hex)."""
    return f"ev_{time.time_ns():x}{os.urandom(3).hex()}"


@dataclass(frozen=True, kw_only=True)
class Usage:
    """Token counts of one model response, or a sum of them."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_input_tokens=self.cache_read_input_tokens + other.cache_read_input_tokens,
            cache_creation_input_tokens=self.cache_creation_input_tokens
            + other.cache_creation_input_tokens,
        )

    @property
    def total(self) -> int:
        """All tokens billed: input (fresh, cached and cache writes) plus output."""
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_input_tokens
            + self.cache_creation_input_tokens
        )


# Events are frozen like every value here; equality and repr are written once on
# Event rather than generated for each type, which halves the cost of importing the
# events (and so the start of every command).
_T = TypeVar("_T")
Permission = Literal["allow", "ask", "deny"]  # a tool call's policy, as MA spells it


@dataclass_transform(frozen_default=True, kw_only_default=True)
def event_type(cls: type[_T]) -> type[_T]:
    """The decorator every event class wears: a frozen, keyword-only dataclass."""
    return dataclass(frozen=True, kw_only=True, eq=False, repr=False)(cls)


@event_type
class Event:
    """The envelope every event carries. `seq` is set by the log on append."""

    TYPE: ClassVar[str] = ""
    seq: int = -1
    id: str = field(default_factory=new_event_id)
    ts: str = field(default_factory=utc_now)

    def to_dict(self) -> dict[str, Any]:
        """The event as its JSON object on disk (schema v2)."""
        from . import wire

        return wire.to_wire(self)

    def to_json(self) -> str:
        """The event as one line of the log (schema v2), without the newline."""
        from . import wire

        return wire.to_line(self)

    def field_values(self) -> dict[str, Any]:
        """The fields by their attribute names, envelope included (not the wire shape)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.field_values() == other.field_values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((self.TYPE, self.id, self.seq))

    def __repr__(self) -> str:
        fields_ = ", ".join(f"{k}={v!r}" for k, v in self.field_values().items())
        return f"{type(self).__name__}({fields_})"
