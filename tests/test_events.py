"""Events: every type survives a round trip through JSON (schema v2), v1 lines are
still read, and bad lines are refused."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tether.core import events as ev
from tether.core import wire

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_FOR_HINT: dict[Any, st.SearchStrategy[Any]] = {
    str: st.text(),
    int: st.integers(0, 2**53),
    bool: st.booleans(),
    float: st.floats(allow_nan=False, allow_infinity=False),
    str | None: st.none() | st.text(),
    int | None: st.none() | st.integers(0, 2**53),
    float | None: st.none() | st.floats(allow_nan=False, allow_infinity=False),
    tuple[str, ...]: st.lists(st.text(max_size=10), max_size=5).map(tuple),
    Mapping[str, Any]: st.dictionaries(st.text(max_size=10), _JSON, max_size=4),
    # content blocks (an MCP result's text and images), which MA's types check
    tuple[Mapping[str, Any], ...]: st.lists(
        st.one_of(
            st.builds(lambda t: {"type": "text", "text": t}, st.text(max_size=20)),
            st.builds(
                lambda data: {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": data},
                },
                st.text("ABCDEFabcdef0123456789+/", max_size=12),
            ),
        ),
        max_size=3,
    ).map(tuple),
    ev.Usage: st.builds(ev.Usage, **{k: st.integers(0, 2**40) for k in wire.USAGE_KEYS}),
}


def event_strategy(cls: type[ev.Event]) -> st.SearchStrategy[ev.Event]:
    """Any valid event of type `cls`, every field drawn from its type hint (a hint not in
    _FOR_HINT is left to hypothesis)."""
    hints, _ = wire.schema(cls)
    kwargs = {
        name: _FOR_HINT[hint] if hint in _FOR_HINT else st.from_type(hint)
        for name, hint in hints.items()
    }
    kwargs["seq"] = st.integers(0, 2**40)
    kwargs["ts"] = _TIMESTAMPS
    return st.builds(cls, **kwargs)


_TIMESTAMPS = st.datetimes(datetime(2000, 1, 1), datetime(2999, 12, 31)).map(
    lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
)


ANY_EVENT = st.one_of([event_strategy(cls) for cls in ev.EVENT_TYPES.values()])


@pytest.mark.parametrize("cls", list(ev.EVENT_TYPES.values()), ids=list(ev.EVENT_TYPES))
@given(data=st.data())
def test_every_event_type_round_trips(cls: type[ev.Event], data: st.DataObject) -> None:
    event = data.draw(event_strategy(cls))
    line = event.to_json()
    assert "\n" not in line
    assert ev.parse_line(line) == event
    assert ev.parse_line(line.encode()) == event


@given(ANY_EVENT)
def test_envelope_and_fields_sit_at_the_top_level(event: ev.Event) -> None:
    raw = json.loads(event.to_json())
    assert list(raw)[:5] == ["v", "seq", "id", "processed_at", "type"]
    assert raw["v"] == ev.SCHEMA_VERSION and raw["type"] == event.TYPE


def test_timestamps_are_rfc3339_utc_with_milliseconds() -> None:
    ts = ev.UserMessage(content="hi").ts
    assert len(ts) == 24 and ts.endswith("Z") and ts[10] == "T" and ts[19] == "."


def test_event_ids_are_unique() -> None:
    assert len({ev.new_event_id() for _ in range(1000)}) == 1000


def _line(**overrides: Any) -> str:
    raw = ev.UserMessage(seq=3, content="hi").to_dict() | overrides
    return json.dumps({k: v for k, v in raw.items() if v is not _DROP})


_DROP = object()


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"v":1,"seq":', "not JSON"),
        ("garbage", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        (b"\xff\xfe", "not JSON"),
        (_line(v=3), "schema version"),
        (_line(v=True), "schema version"),
        (_line(v=_DROP), "schema version"),
        (_line(type="agent.dance"), "unknown event type"),
        (_line(content=_DROP), "missing 'content'"),
        (_line(content=5), "not a list of text blocks"),
        (_line(content="hi"), "not a list of text blocks"),
        (_line(content=[{"type": "image", "source": {}}]), "not a list of text blocks"),
        (_line(seq=-1), "seq"),
        (_line(seq=True), "wrong type"),
        (_line(seq="3"), "wrong type"),
        (_line(processed_at=_DROP), "missing 'processed_at'"),
        (_line(processed_at=5), "wrong type"),
    ],
)
def test_bad_lines_are_refused_with_a_reason(line: str | bytes, reason: str) -> None:
    with pytest.raises(ev.InvalidEvent, match=reason):
        ev.parse_line(line)


def test_bad_usage_and_tool_input_are_refused() -> None:
    end = ev.ModelRequestEnd(seq=1, model="m").to_dict()
    with pytest.raises(ev.InvalidEvent):
        ev.from_dict(end | {"model_usage": {"input_tokens": "lots"}})
    with pytest.raises(ev.InvalidEvent):
        ev.from_dict(end | {"model_usage": 5})
    use = ev.AgentToolUse(seq=1, tool_use_id="t", name="bash", input={}).to_dict()
    with pytest.raises(ev.InvalidEvent):
        ev.from_dict(use | {"input": ["ls"]})


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    event = ev.UserMessage(seq=3, content="hi")
    assert ev.parse_line(json.dumps(event.to_dict() | {"mood": "curious"})) == event


def test_usage_adds_up() -> None:
    total = ev.Usage(input_tokens=1, output_tokens=2) + ev.Usage(cache_read_input_tokens=3)
    assert total == ev.Usage(input_tokens=1, output_tokens=2, cache_read_input_tokens=3)
    assert total.total == 6


@pytest.mark.parametrize(
    ("event", "fields"),
    [
        (ev.UserMessage(content="hi"), {"content": [{"type": "text", "text": "hi"}]}),
        (ev.AgentThinking(content="hm", signature="s"), {"thinking": "hm", "signature": "s"}),
        (
            ev.StatusIdle(stop_reason="end_turn"),
            {"stop_reason": {"type": "end_turn"}},
        ),
        (
            ev.StatusIdle(stop_reason="max_turns"),
            {"stop_reason": {"type": "budget_reached", "reason": "max_turns"}},
        ),
        (
            ev.StatusIdle(stop_reason="interrupted"),
            {"stop_reason": {"type": "end_turn", "reason": "interrupted"}},
        ),
        (
            ev.StatusIdle(stop_reason="requires_action", event_ids=("ev_1",)),
            {"stop_reason": {"type": "requires_action", "event_ids": ["ev_1"]}},
        ),
        (
            ev.SessionError(error_type="rate_limit_error", message="m", retry_status="retrying"),
            {
                "error": {
                    "type": "model_rate_limited_error",
                    "message": "m",
                    "retry_status": {"type": "retrying"},
                    "error_type": "rate_limit_error",
                }
            },
        ),
    ],
    ids=lambda value: getattr(value, "TYPE", ""),
)
def test_fields_take_managed_agents_shapes(event: ev.Event, fields: dict[str, Any]) -> None:
    raw = event.to_dict()
    assert {k: raw[k] for k in fields} == fields
    assert raw["processed_at"] == event.ts and "ts" not in raw


def test_span_end_carries_usage_as_model_usage_beside_its_start() -> None:
    usage = ev.Usage(input_tokens=3, output_tokens=4)
    raw = ev.ModelRequestEnd(model="m", model_request_start_id="ev_s", usage=usage).to_dict()
    assert raw["model_request_start_id"] == "ev_s" and "usage" not in raw
    assert raw["model_usage"] == {
        "input_tokens": 3,
        "output_tokens": 4,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
    }


V1_LINES = {
    b'{"v":1,"seq":1,"id":"ev_a","ts":"2026-11-24T10:00:00.000Z","type":"user.message",'
    b'"content":"write hello.txt"}': ev.UserMessage(
        seq=1, id="ev_a", ts="2026-11-24T10:00:00.000Z", content="write hello.txt"
    ),
    b'{"v":1,"seq":7,"id":"ev_b","ts":"2026-11-24T10:00:01.000Z","type":"span.model_request_end"'
    b',"model":"m","usage":{"input_tokens":10,"output_tokens":26,"cache_read_input_tokens":0,'
    b'"cache_creation_input_tokens":0},"stop_reason":"tool_use","duration_ms":41,'
    b'"is_error":false,"turn":1}': ev.ModelRequestEnd(
        seq=7,
        id="ev_b",
        ts="2026-11-24T10:00:01.000Z",
        model="m",
        usage=ev.Usage(input_tokens=10, output_tokens=26),
        stop_reason="tool_use",
        duration_ms=41,
        turn=1,
    ),
    b'{"v":1,"seq":24,"id":"ev_c","ts":"2026-11-24T10:00:02.000Z","type":"session.status_idle",'
    b'"stop_reason":"interrupted"}': ev.StatusIdle(
        seq=24, id="ev_c", ts="2026-11-24T10:00:02.000Z", stop_reason="interrupted"
    ),
    b'{"v":1,"seq":12,"id":"ev_d","ts":"2026-11-24T10:00:03.000Z","type":"session.error",'
    b'"error_type":"overloaded_error","message":"busy","retry_status":"retrying"}': (
        ev.SessionError(
            seq=12,
            id="ev_d",
            ts="2026-11-24T10:00:03.000Z",
            error_type="overloaded_error",
            message="busy",
            retry_status="retrying",
        )
    ),
}


@pytest.mark.parametrize("line", list(V1_LINES), ids=lambda line: line[70:100].decode())
def test_v1_lines_read_as_the_same_events_and_write_back_as_v2(line: bytes) -> None:
    event = ev.parse_line(line)
    assert event == V1_LINES[line]
    again = ev.parse_line(event.to_json())
    assert again == event and json.loads(event.to_json())["v"] == 2


def test_a_v1_line_keeps_its_flat_fields_and_a_v2_line_its_shaped_ones() -> None:
    """A v1 line in v2's shapes (or the reverse) is refused, not half-read."""
    v1 = json.loads(next(iter(V1_LINES)))
    with pytest.raises(ev.InvalidEvent, match="processed_at"):
        ev.from_dict(v1 | {"v": 2})
    v2 = ev.UserMessage(seq=1, content="hi").to_dict()
    with pytest.raises(ev.InvalidEvent):
        ev.from_dict(v2 | {"v": 1})
