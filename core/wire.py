"""Events on disk: one JSON object a line, written at schema v2, read at v1 and v2.

v2 shapes every event whose type Managed Agents defines as the `anthropic`
SDK's Managed Agents types do, so their tooling reads tether's logs:

    {"v":2,"seq":7,"id":"ev_…","processed_at":"2026-11-24T10:59:13.123Z",
     "type":"agent.message","content":[{"type":"text","text":"Done."}]}

The envelope comes first and in this order (`ls` reads it without decoding
the line); the type's own fields follow at the top level. Fields that MA holds
in another form than the dataclass (text as content blocks, a stop reason as
an object) are converted by the type's shapes in `shapes`; every other field,
and all of tether's own types, are written under their attribute names. A v1
line (`ts` for `processed_at`, every field flat) is converted in memory on
read; the file is never rewritten.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import MISSING, asdict, fields
from functools import cache
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from . import shapes
from .events import EVENT_TYPES, SCHEMA_VERSION, Event, InvalidEvent, Usage

V1 = 1
ENVELOPE = ("v", "seq", "id", "processed_at", "type")


def to_wire(event: Event) -> dict[str, Any]:
    """The event as its v2 JSON object."""
    body = asdict(event)
    wire = {"v": SCHEMA_VERSION, "seq": body.pop("seq"), "id": body.pop("id")}
    wire["processed_at"] = body.pop("ts")
    wire["type"] = event.TYPE
    shapes.encode(event.TYPE, body)
    wire.update(body)
    return wire


def to_line(event: Event) -> str:
    """The event as one v2 line, without the newline."""
    return json.dumps(to_wire(event), ensure_ascii=False, separators=(",", ":"))


def parse_line(line: str | bytes) -> Event:
    """Validate one log line and build its event; raises InvalidEvent."""
    try:
        raw = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidEvent(f"not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise InvalidEvent("not a JSON object")
    return from_dict(raw)


def from_dict(raw: dict[str, Any]) -> Event:
    """Build an event from its decoded JSON object, v1 or v2; raises InvalidEvent."""
    version = raw.get("v")
    if version == SCHEMA_VERSION:
        raw = _flatten_v2(raw)
    elif version != V1 or isinstance(version, bool):
        raise InvalidEvent(f"unsupported schema version {version!r}")
    return _build(raw)


def _flatten_v2(raw: dict[str, Any]) -> dict[str, Any]:
    """A v2 object with its fields under the dataclass's names (the v1 layout)."""
    if "processed_at" not in raw:
        raise InvalidEvent(f"{raw.get('type')} is missing 'processed_at'")
    flat = dict(raw)
    flat["ts"] = flat.pop("processed_at")
    type_name = flat.get("type")
    if isinstance(type_name, str):
        shapes.decode(type_name, flat)
    return flat


def _build(raw: dict[str, Any]) -> Event:
    cls = EVENT_TYPES.get(raw.get("type"))  # type: ignore[arg-type]
    if cls is None:
        raise InvalidEvent(f"unknown event type {raw.get('type')!r}")
    kwargs: dict[str, Any] = {}
    hints, required = schema(cls)
    for name, hint in hints.items():
        if name in raw:
            kwargs[name] = _check(cls.TYPE, name, hint, raw[name])
        elif name in required:
            raise InvalidEvent(f"{cls.TYPE} is missing {name!r}")
    if kwargs.get("seq", -1) < 0:
        raise InvalidEvent("missing or negative seq")
    return cls(**kwargs)


_SCHEMAS: dict[type[Event], tuple[dict[str, Any], frozenset[str]]] = {}


def schema(cls: type[Event]) -> tuple[dict[str, Any], frozenset[str]]:
    """Each field's type, and the names of the required ones; worked out once per type."""
    if cls not in _SCHEMAS:
        hints = get_type_hints(cls)
        types = {f.name: hints[f.name] for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.default is MISSING}
        required -= {f.name for f in fields(cls) if f.default_factory is not MISSING}
        _SCHEMAS[cls] = (types, frozenset(required | {"seq", "id", "ts"}))
    return _SCHEMAS[cls]


def field_value(cls: type[Event], name: str, value: Any) -> Any:
    """`value` checked and converted for the field `name` of `cls`; InvalidEvent if it
    does not fit (a setting a `session.updated` changes is checked as the field is)."""
    hints, _ = schema(cls)
    return _check(cls.TYPE, name, hints[name], value)


def _check(type_name: str, name: str, hint: Any, value: Any) -> Any:
    """Return `value` converted to the field's type, or raise InvalidEvent."""
    accepted = _ACCEPTED.get(hint)
    if accepted is not None:
        if isinstance(value, accepted) and (bool in accepted or not isinstance(value, bool)):
            return value
        raise InvalidEvent(f"{type_name}.{name} has the wrong type ({type(value).__name__})")
    if hint is Usage:
        return _usage(type_name, name, value)
    if hint in _LISTS:
        item_type, items = _LISTS[hint]
        if isinstance(value, list | tuple) and all(isinstance(item, item_type) for item in value):
            return tuple(value)
        raise InvalidEvent(f"{type_name}.{name} is not a list of {items}")
    choices = _choices(hint)
    if choices is None:
        raise InvalidEvent(f"{type_name}.{name} has a type tether cannot read ({hint})")
    if value in choices and (value is None or type(value) in (str, int)):
        return value
    raise InvalidEvent(f"{type_name}.{name} is not one of {', '.join(map(str, choices))}")


def _usage(type_name: str, name: str, value: Any) -> Usage:
    if not isinstance(value, dict):
        raise InvalidEvent(f"{type_name}.{name} is not an object")
    try:
        return Usage(**{k: int(v) for k, v in value.items() if k in USAGE_KEYS})
    except (TypeError, ValueError):
        raise InvalidEvent(f"{type_name}.{name} has a bad token count") from None


@cache
def _choices(hint: Any) -> tuple[Any, ...] | None:
    """The values a `Literal[...]` (or `Literal[...] | None`) allows; None for other hints."""
    arms = get_args(hint) if get_origin(hint) in (Union, UnionType) else (hint,)
    found: list[Any] = []
    for arm in arms:
        if arm is _NONE:
            found.append(None)
        elif get_origin(arm) is Literal:
            found.extend(get_args(arm))
        else:
            return None
    return tuple(found)


USAGE_KEYS = frozenset(f.name for f in fields(Usage))
_NONE = type(None)
_ACCEPTED: dict[Any, tuple[type, ...]] = {
    str: (str,),
    int: (int,),
    bool: (bool,),
    float: (float, int),
    str | None: (str, _NONE),
    int | None: (int, _NONE),
    float | None: (float, int, _NONE),
    Mapping[str, Any]: (dict,),
}
_LISTS: dict[Any, tuple[type, str]] = {
    tuple[str, ...]: (str, "strings"),
    tuple[Mapping[str, Any], ...]: (dict, "objects"),
}
