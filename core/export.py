"""A session as Managed Agents' `events.list` returns it, for MA tooling to read.

The body of `GET /v1/sessions/{id}/events`: `{"data": [...], "next_page": null}`,
the events in order, each with Managed Agents' fields only:

- tether's own types (`session.created`, `sandbox.*`) have no MA counterpart
  and are left out; tether's extras on MA types (`v`, `seq`, `model`,
  `duration_ms`, a stop reason's `reason`, ...) are dropped;
- references point where MA's do: a tool result's (or a confirmation's)
  `tool_use_id`, and the `event_ids` a `requires_action` waits on, are ids of
  `agent.tool_use` / `agent.mcp_tool_use` *events* (the log keeps the Messages
  API's `toolu_` ids), and a span end written by a v1 tether gets the id of the
  start it closes.

Every event is validated with the installed `anthropic` SDK's type for it, so
what comes out is what the SDK parses. The SDK (and pydantic) are imported
only here, when an export is asked for.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable
from functools import cache
from typing import Any

from . import errors
from .events import Event, ModelRequestEnd, ModelRequestStart

# Fields that name a tool call; in MA they hold the id of the event that made the call.
_CALL_REFERENCES = ("tool_use_id", "mcp_tool_use_id", "custom_tool_use_id")


def managed_agents_page(events: Iterable[Event]) -> dict[str, Any]:
    """The events.list response body for `events` (one page holding them all)."""
    return {"data": managed_agents_events(events), "next_page": None}


def managed_agents_events(events: Iterable[Event]) -> list[dict[str, Any]]:
    """The MA-defined events among `events`, in MA's shape with MA's fields only."""
    models = ma_event_models()
    calls: dict[str, str] = {}  # a call's Messages API id -> the id of the event that made it
    start_id = ""
    found = []
    for event in events:
        wire = event.to_dict()
        if isinstance(event, ModelRequestStart):
            start_id = event.id
        elif isinstance(event, ModelRequestEnd) and not event.model_request_start_id:
            wire["model_request_start_id"] = start_id  # a v1 span end
        _point_at_call_events(event, wire, calls)
        model = models.get(event.TYPE)
        if model is not None:
            found.append(_ma_fields_only(wire, _validated(model, wire)))
    return found


def _point_at_call_events(event: Event, wire: dict[str, Any], calls: dict[str, str]) -> None:
    if event.TYPE.endswith("tool_use"):
        calls[wire.get("tool_use_id", event.id)] = event.id
        return
    for key in _CALL_REFERENCES:
        if wire.get(key) in calls:
            wire[key] = calls[wire[key]]
    waiting = wire.get("stop_reason")
    if isinstance(waiting, dict) and "event_ids" in waiting:  # requires_action
        waiting["event_ids"] = [calls.get(i, i) for i in waiting["event_ids"]]


@cache
def ma_event_models() -> dict[str, Any]:
    """Each event type Managed Agents defines -> the installed SDK's pydantic model for it."""
    from anthropic.types.beta.sessions import BetaManagedAgentsSessionEvent

    union = typing.get_args(BetaManagedAgentsSessionEvent)[0]
    return {
        typing.get_args(model.model_fields["type"].annotation)[0]: model
        for model in typing.get_args(union)
    }


def _validated(model: Any, wire: dict[str, Any]) -> Any:
    import pydantic

    try:
        return model.model_validate(wire)
    except pydantic.ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise errors.LogCorrupt(
            f"event {wire.get('seq')} ({wire.get('type')}) does not fit Managed Agents' "
            f"{model.__name__}: {where}: {problem['msg']}"
        ) from None


def _ma_fields_only(raw: Any, parsed: Any) -> Any:
    """`raw` (JSON as written) cut down to the fields of `parsed` (the SDK's model of it)."""
    model_fields = getattr(type(parsed), "model_fields", None)
    if model_fields is not None and isinstance(raw, dict):
        names = {field.alias or name: name for name, field in model_fields.items()}
        return {
            key: _ma_fields_only(value, getattr(parsed, names[key]))
            for key, value in raw.items()
            if key in names
        }
    if isinstance(parsed, list) and isinstance(raw, list):
        return [_ma_fields_only(item, model) for item, model in zip(raw, parsed, strict=True)]
    return raw
