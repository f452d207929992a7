"""Events: every type survives a round trip through JSON, and bad lines are refused."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tether.core import events as ev

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
    tuple[Mapping[str, Any], ...]: st.lists(
        st.dictionaries(st.text(max_size=10), _JSON, max_size=3), max_size=3
    ).map(tuple),
    ev.Usage: st.builds(ev.Usage, **{k: st.integers(0, 2**40) for k in ev._USAGE_KEYS}),
}


def event_strategy(cls: type[ev.Event]) -> st.SearchStrategy[ev.Event]:
    """Any valid event of type `cls`, every field drawn from its type hint."""
    hints, _ = ev._schema(cls)
    kwargs = {name: _FOR_HINT[hint] for name, hint in hints.items()}
    kwargs["seq"] = st.integers(0, 2**40)
    return st.builds(cls, **kwargs)


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
    assert list(raw)[:5] == ["v", "seq", "id", "ts", "type"]
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
        (_line(v=2), "schema version"),
        (_line(v=_DROP), "schema version"),
        (_line(type="agent.dance"), "unknown event type"),
        (_line(content=_DROP), "missing 'content'"),
        (_line(content=5), "wrong type"),
        (_line(seq=-1), "seq"),
        (_line(seq=True), "wrong type"),
        (_line(seq="3"), "wrong type"),
        (_line(ts=_DROP), "missing 'ts'"),
    ],
)
def test_bad_lines_are_refused_with_a_reason(line: str | bytes, reason: str) -> None:
    with pytest.raises(ev.InvalidEvent, match=reason):
        ev.parse_line(line)


def test_bad_usage_and_tool_input_are_refused() -> None:
    end = ev.ModelRequestEnd(seq=1, model="m").to_dict()
    with pytest.raises(ev.InvalidEvent):
        ev.from_dict(end | {"usage": {"input_tokens": "lots"}})
    with pytest.raises(ev.InvalidEvent):
        ev.from_dict(end | {"usage": 5})
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
