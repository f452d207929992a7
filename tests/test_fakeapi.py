"""The fake Messages API speaks the wire format the SDK expects and refuses what the API would."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import anthropic
import pytest
from fakeapi import (
    FakeAPI,
    Reply,
    Request,
    error,
    replies_from_json,
    text,
    tool_use,
)

HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01", "content-type": "application/json"}
HELLO = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
TOOLS = [{"name": "bash", "input_schema": {"type": "object"}}]


def post(api: FakeAPI, body: Any, headers: dict[str, str] = HEADERS, path: str = "/v1/messages"):
    """A raw POST: status, lower-cased headers and the body as text."""
    conn = http.client.HTTPConnection(api.base_url.removeprefix("http://"), timeout=5)
    conn.request("POST", path, body=json.dumps(body), headers=headers)
    response = conn.getresponse()
    data = response.read().decode()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def sse(data: str) -> list[dict[str, Any]]:
    """Parse an SSE body, checking each `event:` line names its data's type."""
    events = []
    for chunk in data.strip().split("\n\n"):
        name, payload = chunk.split("\n")
        event = json.loads(payload.removeprefix("data: "))
        assert name == f"event: {event['type']}"
        events.append(event)
    return events


def sdk(api: FakeAPI) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="k", base_url=api.base_url, max_retries=0)


def test_a_stream_has_the_apis_events_in_the_apis_order():
    command = {"command": "echo 'a somewhat long command'", "timeout_ms": 1000}
    with FakeAPI([text("Hi there", chunk_chars=3) + tool_use("bash", command, id="tu_1")]) as api:
        status, headers, data = post(api, HELLO | {"stream": True, "tools": TOOLS})
    assert status == 200
    assert headers["content-type"] == "text/event-stream"
    assert headers["request-id"].startswith("req_")
    events = sse(data)
    kinds = [e["type"] for e in events]
    assert kinds[:3] == ["message_start", "ping", "content_block_start"]
    assert kinds[-2:] == ["message_delta", "message_stop"]
    texts = [e["delta"]["text"] for e in events if e["type"] == "content_block_delta"
             and e["delta"]["type"] == "text_delta"]  # fmt: skip
    assert texts == ["Hi ", "the", "re"]
    parts = [e["delta"]["partial_json"] for e in events
             if e.get("delta", {}).get("type") == "input_json_delta"]  # fmt: skip
    assert parts[0] == "" and len(parts) > 3
    assert json.loads("".join(parts)) == command
    starts = [e["content_block"] for e in events if e["type"] == "content_block_start"]
    assert starts[1] == {"type": "tool_use", "id": "tu_1", "name": "bash", "input": {}}
    assert events[-2]["delta"]["stop_reason"] == "tool_use"
    assert events[-2]["usage"]["output_tokens"] > 0


def test_a_non_streaming_request_gets_the_whole_message_through_the_sdk():
    reply = text("Checking.") + tool_use("bash", {"command": "ls"}, id="tu_9")
    with FakeAPI([reply.with_(input_tokens=7, cache_read_input_tokens=3)]) as api:
        message = sdk(api).messages.create(**HELLO, tools=TOOLS)
    assert [b.type for b in message.content] == ["text", "tool_use"]
    assert message.content[1].input == {"command": "ls"}
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens) == (7, 3)


def test_an_error_reply_is_shaped_like_the_apis():
    with FakeAPI([error(529, retry_after_ms=1500)]) as api:
        status, headers, data = post(api, HELLO)
    assert status == 529
    assert headers["retry-after-ms"] == "1500"
    body = json.loads(data)
    assert body["type"] == "error"
    assert body["error"]["type"] == "overloaded_error"
    assert body["request_id"] == headers["request-id"]


def test_running_out_of_script_is_a_clear_500_and_is_recorded():
    with FakeAPI([text("only one")]) as api:
        post(api, HELLO)
        status, _, data = post(api, HELLO)
        assert len(api.requests) == 2
    assert status == 500
    assert "no reply left for request 2" in json.loads(data)["error"]["message"]


def test_a_default_reply_answers_once_the_script_runs_out():
    with FakeAPI([text("first")], default=text("again")) as api:
        texts = [sdk(api).messages.create(**HELLO).content[0].text for _ in range(3)]
    assert texts == ["first", "again", "again"]


def test_responders_see_the_request_and_decide_the_reply():
    def echo(request: Request) -> Reply:
        return text(f"you said {request.body['messages'][-1]['content']}")

    with FakeAPI([lambda r: text("queued callable")], responder=echo) as api:
        client = sdk(api)
        first = client.messages.create(**HELLO).content[0].text
        second = client.messages.create(**HELLO).content[0].text
    assert (first, second) == ("queued callable", "you said hi")


def test_concurrent_requests_are_all_recorded():
    with FakeAPI(default=text("ok")) as api:
        threads = [threading.Thread(target=post, args=(api, HELLO)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(api.requests) == 8
        assert all(r.body == HELLO for r in api.requests)


def test_requests_need_a_key_a_version_and_the_right_path():
    with FakeAPI(default=text("fine"), api_key="sk-right") as api:
        assert post(api, HELLO, {**HEADERS, "x-api-key": "sk-wrong"})[0] == 401
        assert post(api, HELLO, {**HEADERS, "x-api-key": "sk-right"})[0] == 200
        no_version = {k: v for k, v in HEADERS.items() if k != "anthropic-version"}
        assert post(api, HELLO, {**no_version, "x-api-key": "sk-right"})[0] == 400
        assert post(api, HELLO, {**HEADERS, "x-api-key": "sk-right"}, "/v1/complete")[0] == 404
        assert api.pending == 0 and len(api.requests) == 4


def test_a_script_file_parses_into_replies():
    replies, default = replies_from_json(
        {
            "replies": [
                {"text": "Looking.", "tool_use": {"name": "bash", "input": {"command": "ls"}}},
                {"error": 529, "retry_after_ms": 10},
                {"blocks": [{"type": "text", "text": "hi"}], "cache_read_input_tokens": 9},
            ],
            "default": {"text": "bye"},
        }
    )
    assert [b.type for b in replies[0].blocks] == ["text", "tool_use"]
    assert replies[1].status == 529 and replies[1].headers == {"retry-after-ms": "10"}
    assert replies[2].cache_read_input_tokens == 9
    assert default == text("bye")


def test_standalone_mode_serves_a_script_until_killed(tmp_path: Path):
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"text": "from a file"}]))
    fakeapi = Path(__file__).with_name("fakeapi")
    proc = subprocess.Popen(
        [sys.executable, str(fakeapi), "--script", str(script)], stdout=subprocess.PIPE, text=True
    )
    try:
        base_url = proc.stdout.readline().strip()
        client = anthropic.Anthropic(api_key="k", base_url=base_url, max_retries=0)
        assert client.messages.create(**HELLO).content[0].text == "from a file"
        with pytest.raises(anthropic.InternalServerError, match="no reply left"):
            client.messages.create(**HELLO)
    finally:
        proc.kill()
        proc.wait()
