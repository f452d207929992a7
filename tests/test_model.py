"""AnthropicModel drives the real `anthropic` SDK over real HTTP against tests/fakeapi.py."""

from __future__ import annotations

import subprocess
import sys
import typing

import pytest
from fakeapi import (
    FakeAPI,
    cut_stream,
    error,
    stream_error,
    text,
    thinking,
    tool_use,
)

from tether.core import errors
from tether.core.events import Usage
from tether.core.model import (
    DEFAULT_MODEL,
    MAX_RETRY_AFTER_S,
    AnthropicModel,
    ModelRequest,
    RetryableModelError,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
    retry_delay,
)

BASH = {"name": "bash", "input_schema": {"type": "object", "properties": {}}}
HELLO = ModelRequest(
    model="claude-test",
    system="You are terse.",
    messages=({"role": "user", "content": "hello"},),
    tools=(BASH,),
    max_tokens=256,
)


@pytest.fixture
def model(api: FakeAPI) -> AnthropicModel:
    return AnthropicModel(api_key="sk-test", base_url=api.base_url)


def test_text_streams_in_order_and_returns_the_complete_message(api, model):
    api.add(text("The quick brown fox jumps over the lazy dog.", chunk_chars=5))
    seen: list[str] = []
    response = model.create(HELLO, on_text=seen.append)
    assert len(seen) > 3
    assert "".join(seen) == "The quick brown fox jumps over the lazy dog."
    assert response.content == (TextBlock(text="The quick brown fox jumps over the lazy dog."),)
    assert response.stop_reason == "end_turn"
    assert response.model == "claude-test"


def test_tool_use_input_arrives_whole_though_split_across_deltas(api, model):
    command = {"command": "grep -rn 'needle' /work | head -n 20", "timeout_ms": 5000}
    reply = text("Looking.") + tool_use("bash", command, id="toolu_1", chunk_chars=3)
    api.add(reply + tool_use("read", {"file_path": "/etc/hosts"}, id="toolu_2"))
    response = model.create(HELLO)
    assert response.content == (
        TextBlock(text="Looking."),
        ToolUseBlock(id="toolu_1", name="bash", input=command),
        ToolUseBlock(id="toolu_2", name="read", input={"file_path": "/etc/hosts"}),
    )
    assert response.stop_reason == "tool_use"


def test_usage_includes_cache_tokens(api, model):
    api.add(
        text(
            "cached",
            input_tokens=12,
            output_tokens=34,
            cache_read_input_tokens=5000,
            cache_creation_input_tokens=700,
        )
    )
    response = model.create(HELLO)
    assert response.usage == Usage(
        input_tokens=12,
        output_tokens=34,
        cache_read_input_tokens=5000,
        cache_creation_input_tokens=700,
    )


def test_thinking_blocks_keep_their_signature(api, model):
    api.add(thinking("Let me think.", signature="sig-123") + text("Done."))
    response = model.create(HELLO)
    assert response.content == (
        ThinkingBlock(thinking="Let me think.", signature="sig-123"),
        TextBlock(text="Done."),
    )


def test_the_request_log_shows_the_exact_body_the_sdk_sent(api, model):
    api.add(text("ok"))
    cached = [{"type": "text", "text": "system", "cache_control": {"type": "ephemeral"}}]
    request = ModelRequest(
        model="claude-test",
        system=cached,
        messages=(
            {"role": "user", "content": "run it"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "bash",
                                               "input": {"command": "true"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                                          "content": "", "cache_control": {"type": "ephemeral"}}]},
        ),
        tools=(BASH,),
        max_tokens=99,
    )  # fmt: skip
    model.create(request)
    (sent,) = api.requests
    assert sent.path == "/v1/messages"
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert sent.body == {
        "model": "claude-test",
        "max_tokens": 99,
        "system": cached,
        "messages": list(request.messages),
        "tools": [BASH],
        "stream": True,
    }


def test_529_is_retryable_with_the_servers_retry_after(api, model):
    api.add(error(529, retry_after_ms=250))
    with pytest.raises(RetryableModelError) as caught:
        model.create(HELLO)
    assert caught.value.retry_after_s == pytest.approx(0.25)
    assert caught.value.status_code == 529
    assert caught.value.error_type == "overloaded_error"
    assert isinstance(caught.value, errors.ModelError)


@pytest.mark.parametrize(
    ("reply", "status", "retry_after"),
    [(error(429, retry_after_s=3), 429, 3.0), (error(500), 500, None), (error(503), 503, None)],
)
def test_rate_limits_and_server_errors_are_retryable(api, model, reply, status, retry_after):
    api.add(reply)
    with pytest.raises(RetryableModelError) as caught:
        model.create(HELLO)
    assert (caught.value.status_code, caught.value.retry_after_s) == (status, retry_after)


def test_401_means_the_key_was_rejected(api, model):
    api.add(error(401))
    with pytest.raises(errors.AuthError, match="^the API key was rejected$") as caught:
        model.create(HELLO)
    assert not isinstance(caught.value, RetryableModelError)


def test_a_wrong_key_is_rejected_by_a_server_that_knows_the_right_one():
    with FakeAPI(default=text("hi"), api_key="sk-right") as api:
        with pytest.raises(errors.AuthError):
            AnthropicModel(api_key="sk-wrong", base_url=api.base_url).create(HELLO)
        assert AnthropicModel(api_key="sk-right", base_url=api.base_url).create(HELLO)


def test_400_is_a_model_error_that_carries_the_apis_message(api, model):
    bad = ModelRequest(
        model="m", system=None, messages=({"role": "assistant", "content": "hi"},),
        tools=(), max_tokens=10,
    )  # fmt: skip
    with pytest.raises(errors.ModelError, match='first message must use the "user" role') as caught:
        model.create(bad)
    assert not isinstance(caught.value, RetryableModelError | errors.AuthError)
    assert "400 invalid_request_error" in str(caught.value)


@pytest.mark.parametrize("cleanly", [False, True], ids=["mid-body", "early-end-of-body"])
def test_a_stream_cut_midway_is_retryable_and_returns_nothing(api, model, cleanly):
    api.add(cut_stream(after_events=5, reply=text("one two three four five", chunk_chars=4),
                       cleanly=cleanly))  # fmt: skip
    seen: list[str] = []
    with pytest.raises(RetryableModelError) as caught:
        model.create(HELLO, on_text=seen.append)
    assert seen == ["one ", "two "]  # it did stream, but the partial message is not returned
    expected = "incomplete_stream" if cleanly else "connection_error"
    assert caught.value.error_type == expected


def test_an_overloaded_error_event_mid_stream_is_retryable(api, model):
    api.add(stream_error("overloaded_error", after_events=4))
    with pytest.raises(RetryableModelError) as caught:
        model.create(HELLO)
    assert caught.value.error_type == "overloaded_error"


def test_an_invalid_request_error_event_mid_stream_is_not_retryable(api, model):
    api.add(stream_error("invalid_request_error", after_events=2))
    with pytest.raises(errors.ModelError) as caught:
        model.create(HELLO)
    assert not isinstance(caught.value, RetryableModelError)


def test_a_server_that_is_gone_is_a_retryable_connection_error():
    with FakeAPI() as api:
        url = api.base_url
    with pytest.raises(RetryableModelError) as caught:
        AnthropicModel(api_key="k", base_url=url).create(HELLO)
    assert caught.value.error_type == "connection_error"


def test_a_stalled_stream_times_out_as_retryable(api):
    api.add(text("stalls after the first delta", hang_after_events=3))
    model = AnthropicModel(api_key="k", base_url=api.base_url, timeout_s=0.3)
    with pytest.raises(RetryableModelError) as caught:
        model.create(HELLO)
    assert caught.value.error_type == "timeout_error"


def test_an_exception_from_on_text_reaches_the_caller_unchanged(api, model):
    api.add(text("boom"))

    def explode(_: str) -> None:
        raise BrokenPipeError("stdout closed")

    with pytest.raises(BrokenPipeError, match="stdout closed"):
        model.create(HELLO, on_text=explode)


def test_retry_delay_honours_retry_after_up_to_a_cap():
    assert retry_delay(0, 2.5) == 2.5
    assert retry_delay(5, 10_000) == MAX_RETRY_AFTER_S


def test_retry_delay_backs_off_exponentially_with_jitter(monkeypatch):
    monkeypatch.setenv("TETHER_RETRY_BASE_S", "0.1")
    for attempt in range(4):
        delays = {retry_delay(attempt, None) for _ in range(20)}
        high = 0.1 * 2**attempt
        assert all(high / 2 <= d <= high for d in delays)
        assert len(delays) > 1
    assert retry_delay(1000, None) <= 0.1 * 30


def test_retry_delay_rejects_a_bad_base(monkeypatch):
    monkeypatch.setenv("TETHER_RETRY_BASE_S", "soon")
    with pytest.raises(errors.ConfigError):
        retry_delay(0, None)


def test_the_default_model_is_a_sonnet_the_sdk_knows():
    from anthropic.types import Model

    known = typing.get_args(typing.get_args(Model)[0])
    assert DEFAULT_MODEL in known
    assert "sonnet" in DEFAULT_MODEL


def test_importing_the_model_module_does_not_import_the_sdk():
    code = "import sys, tether.core.model; print('anthropic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
