"""Schema v2: every event whose type Managed Agents defines validates with the installed
`anthropic` SDK's type for it, on disk and in `tether export`.

The per-type test below is the one that holds event types added later to it: an
event type in EVENT_TYPES whose name Managed Agents defines must serialise to a
line the SDK's union accepts, as that type (add its shapes in core/shapes.py).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import typing
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import e2e
import pydantic
import pytest
from anthropic.types.beta.sessions import (
    BetaManagedAgentsSessionEvent,
    BetaManagedAgentsSessionEventType,
)
from e2e import TEST_IMAGE, tether_env
from fakeapi import FakeAPI
from hypothesis import given
from hypothesis import strategies as st
from scenarios import varied_session
from test_events import event_strategy

from tether.core import errors, exit_codes, shapes
from tether.core import events as ev
from tether.core.export import ma_event_models
from tether.core.store import SessionStore

UNION: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(BetaManagedAgentsSessionEvent)
MA_TYPES = frozenset(typing.get_args(BetaManagedAgentsSessionEventType))
MA_DEFINED = [cls for cls in ev.EVENT_TYPES.values() if cls.TYPE in MA_TYPES]
TETHERS_OWN = sorted(set(ev.EVENT_TYPES) - MA_TYPES)
README = Path(__file__).resolve().parent.parent / "README.md"


def assert_valid(raw: dict[str, Any]) -> Any:
    """`raw` validates with the SDK's union, as the SDK type of its own `type`."""
    model = ma_event_models()[raw["type"]]
    try:
        parsed = UNION.validate_python(raw)
    except pydantic.ValidationError:
        model.model_validate(raw)  # raises with the errors of this type alone
        raise
    assert type(parsed) is model
    return parsed


def test_the_sdk_defines_the_types_tether_names_after_it() -> None:
    assert {"user.message", "agent.tool_use", "span.model_request_end"} <= MA_TYPES
    assert len(MA_DEFINED) >= 11
    assert all(not name.startswith("tether.") for name in ev.EVENT_TYPES)


@pytest.mark.parametrize("cls", MA_DEFINED, ids=[cls.TYPE for cls in MA_DEFINED])
@given(data=st.data())
def test_every_event_type_managed_agents_defines_validates(
    cls: type[ev.Event], data: st.DataObject
) -> None:
    event = data.draw(event_strategy(cls))
    raw = json.loads(event.to_json())
    parsed = assert_valid(raw)
    assert parsed.id == event.id and parsed.model_extra["seq"] == event.seq
    assert parsed.model_extra["v"] == ev.SCHEMA_VERSION


def test_every_event_type_is_in_the_readme_event_table() -> None:
    rows = [line.split(" | ")[0] for line in README.read_text().splitlines()]
    named = {name for row in rows if row.startswith("| `") for name in row.split("`")[1::2]}
    missing = set(ev.EVENT_TYPES) - named
    assert not missing, f"missing from the README's event table: {sorted(missing)}"


STOP_REASONS = sorted(
    (set(exit_codes._FOR_STOP_REASON) - {"terminated"}) | set(shapes.MA_STOP_REASONS)
)


@pytest.mark.parametrize("reason", STOP_REASONS)
def test_every_stop_reason_has_a_managed_agents_stop_reason(reason: str) -> None:
    """A stop reason with an exit code is mapped on purpose, not by the fallback."""
    assert reason in shapes.MA_STOP_REASONS, f"add {reason!r} to shapes.MA_STOP_REASONS"
    event = ev.StatusIdle(seq=4, stop_reason=reason)
    parsed = assert_valid(json.loads(event.to_json()))
    assert parsed.stop_reason.type == shapes.MA_STOP_REASONS[reason]
    assert ev.parse_line(event.to_json()) == event


def test_a_stop_reason_no_table_knows_still_validates_and_reads_back() -> None:
    event = ev.StatusIdle(seq=1, stop_reason="frobnicated")
    raw = json.loads(event.to_json())
    assert raw["stop_reason"] == {"type": "retries_exhausted", "reason": "frobnicated"}
    assert_valid(raw)
    assert ev.parse_line(event.to_json()) == event


@pytest.mark.parametrize(
    "error_type",
    [
        *shapes.MA_ERROR_TYPES,
        *sorted(shapes.MODEL_REQUEST_FAILED),
        "sandbox_error",
        "engine_unavailable",
        "SandboxError",
        "something new",
    ],
)
@pytest.mark.parametrize("retry_status", ["retrying", "exhausted", "terminal"])
@pytest.mark.parametrize("server", [None, "github"])
def test_every_session_error_validates(
    error_type: str, retry_status: Any, server: str | None
) -> None:
    event = ev.SessionError(
        seq=2, error_type=error_type, message="m", retry_status=retry_status, mcp_server_name=server
    )
    parsed = assert_valid(json.loads(event.to_json()))
    assert parsed.error.type == shapes.ma_error_type(error_type, server)
    assert parsed.error.retry_status.type == retry_status
    assert ev.parse_line(event.to_json()) == event


def test_tethers_own_errors_map_by_their_logged_kind() -> None:
    # The harness logs errors.kind (model_error); a v1 log may hold the class name.
    for kind in ("model_error", "auth_error", "ModelError"):
        assert shapes.ma_error_type(kind) == "model_request_failed_error"
    assert shapes.ma_error_type(errors.kind(errors.ImageNotFound("x"))) == "unknown_error"


# -- a real session ------------------------------------------------------------------

SESSION = "varied"


@pytest.fixture(scope="module")
def varied(tmp_path_factory: pytest.TempPathFactory, docker_client: object) -> Iterator[Path]:
    """A TETHER_HOME holding one session with every kind of event a run makes today (see
    tests/scenarios.py), made once for this module's tests."""
    home = tmp_path_factory.mktemp("varied")
    with FakeAPI() as api, pytest.MonkeyPatch.context() as patch:
        patch.setenv("TETHER_HOME", str(home))
        patch.setenv("TETHER_CONFIG", str(home / "no-config.toml"))
        varied_session(api, tether_env(api.base_url, TEST_IMAGE), SESSION)
    yield home
    e2e.remove_sandboxes(f"tether.home={home / 'sessions'}")


def env_for(home: Path) -> dict[str, str]:
    return tether_env("http://127.0.0.1:9", TEST_IMAGE, TETHER_HOME=str(home))


def events_in(home: Path) -> list[ev.Event]:
    return SessionStore(home / "sessions").open(SESSION).read()


@pytest.mark.docker
@pytest.mark.slow
def test_a_varied_session_validates_line_by_line(varied: Path) -> None:
    lines = (varied / "sessions" / SESSION / "events.jsonl").read_text().splitlines()
    found: set[str] = set()
    for line in lines:
        raw = json.loads(line)
        assert raw["v"] == 2
        if raw["type"] in MA_TYPES:
            assert_valid(raw)
        else:
            assert raw["type"] in TETHERS_OWN
        found.add(raw["type"])
    assert {"agent.thinking", "session.error", "user.interrupt", "agent.tool_result"} <= found
    assert {"session.created", "sandbox.provisioned", "sandbox.released"} <= found
    events = events_in(varied)
    assert any(e.is_error for e in e2e.of_type(events, ev.AgentToolResult))
    starts = {e.id for e in e2e.of_type(events, ev.ModelRequestStart)}
    assert all(e.model_request_start_id in starts for e in e2e.of_type(events, ev.ModelRequestEnd))


@pytest.mark.docker
@pytest.mark.slow
def test_export_writes_what_events_list_returns(varied: Path) -> None:
    result = e2e.run(["export", SESSION, "--format", "managed-agents"], env_for(varied))
    assert result.returncode == 0, result.stderr
    check_export(json.loads(result.stdout), events_in(varied))


@pytest.mark.docker
@pytest.mark.slow
def test_the_sdk_lists_an_exported_session_over_http(varied: Path) -> None:
    """MA tooling reads a tether session: the SDK's own events.list, served the export."""
    import anthropic

    body = e2e.run(["export", SESSION], env_for(varied)).stdout.encode()
    with serve(f"/v1/sessions/{SESSION}/events", body) as base_url:
        client = anthropic.Anthropic(api_key="unused", base_url=base_url, max_retries=0)
        listed = list(client.beta.sessions.events.list(SESSION))
    exported = json.loads(body)["data"]
    assert [e.id for e in listed] == [item["id"] for item in exported]
    assert [e.type for e in listed] == [item["type"] for item in exported]
    assert all(type(e) is ma_event_models()[e.type] for e in listed)


def jq_recipes() -> list[str]:
    match = re.search(r"<!-- jq-recipes[^>]*-->\n```sh\n(.*?)```", README.read_text(), re.S)
    assert match, "the README lost its jq recipes"
    return [line for line in match.group(1).splitlines() if line.startswith("jq ")]


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize("recipe", jq_recipes())
def test_the_readme_jq_recipes_answer(varied: Path, recipe: str) -> None:
    log = varied / "sessions" / SESSION / "events.jsonl"
    result = subprocess.run(
        ["bash", "-c", recipe], env={**os.environ, "log": str(log)}, capture_output=True,
        text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() not in ("", "null")


def check_export(page: dict[str, Any], events: list[ev.Event]) -> None:
    """`page` is an events.list body holding exactly the MA events of `events`, MA fields only,
    with MA's references (tool results to tool_use events, span ends to their starts)."""
    assert set(page) == {"data", "next_page"} and page["next_page"] is None
    data = page["data"]
    assert [item["id"] for item in data] == [e.id for e in events if e.TYPE in MA_TYPES]
    for item in data:
        parsed = assert_valid(item)
        assert not parsed.model_extra, f"tether's fields in an export: {parsed.model_extra}"
    ids = {item["type"]: set() for item in data}
    for item in data:
        ids[item["type"]].add(item["id"])
    results = [item for item in data if item["type"] == "agent.tool_result"]
    assert results and all(r["tool_use_id"] in ids["agent.tool_use"] for r in results)
    ends = [item for item in data if item["type"] == "span.model_request_end"]
    assert all(end["model_request_start_id"] in ids["span.model_request_start"] for end in ends)


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        found = self.path.split("?")[0] == self.server.path  # type: ignore[attr-defined]
        body = self.server.body if found else b'{"type":"error"}'  # type: ignore[attr-defined]
        self.send_response(200 if found else 404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class serve:
    """Serve `body` at GET `path` on 127.0.0.1; the base URL is what `with` gives."""

    def __init__(self, path: str, body: bytes) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
        self.server.path, self.server.body = path, body  # type: ignore[attr-defined]

    def __enter__(self) -> str:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
