"""The fake refuses every request the real Messages API refuses: one test per rule.

Each test sends a breach over HTTP and expects the API's 400 with its wording;
most also show the nearest request the API accepts, so a rule cannot be met by
refusing everything.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from fakeapi import (
    COMPACTION_BETA,
    FakeAPI,
    compaction,
    redacted_thinking,
    sign,
    text,
    thinking,
    tool_use,
    validate,
)

HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01", "content-type": "application/json"}
TOOLS = [{"name": "bash", "input_schema": {"type": "object"}}]
USE = {"type": "tool_use", "id": "t1", "name": "bash", "input": {}}
USE2 = {"type": "tool_use", "id": "t2", "name": "bash", "input": {}}
RESULT = {"type": "tool_result", "tool_use_id": "t1", "content": "ok"}
RESULT2 = {"type": "tool_result", "tool_use_id": "t2", "content": "ok"}


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def assistant(content: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": content}


def body(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": "m", "max_tokens": 100, "tools": TOOLS, "messages": list(messages)} | fields


@pytest.fixture(scope="module")
def api() -> Iterator[FakeAPI]:
    with FakeAPI(default=text("fine")) as server:
        yield server


def post(api: FakeAPI, request: dict[str, Any], headers: dict[str, str] = HEADERS):
    conn = http.client.HTTPConnection(api.base_url.removeprefix("http://"), timeout=5)
    conn.request("POST", "/v1/messages", body=json.dumps(request), headers=headers)
    response = conn.getresponse()
    data = json.loads(response.read())
    conn.close()
    return response.status, data


def refused(api: FakeAPI, request: dict[str, Any], headers: dict[str, str] = HEADERS) -> str:
    """The API's message for a request it refuses; fails if it is accepted."""
    status, data = post(api, request, headers)
    assert status == 400, f"accepted: {request}"
    assert data["error"]["type"] == "invalid_request_error"
    assert validate(request) in (data["error"]["message"], None)  # the same rules, offline
    return str(data["error"]["message"])


def accepted(api: FakeAPI, request: dict[str, Any], headers: dict[str, str] = HEADERS) -> None:
    status, data = post(api, request, headers)
    assert status == 200, data


def test_every_call_is_answered_in_the_next_user_turn(api: FakeAPI) -> None:
    message = refused(
        api,
        body(user("a"), assistant([USE, USE2]), user([RESULT, {"type": "text", "text": "go on"}])),
    )  # noqa: E501
    assert message == (
        "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: "
        "t2. Each `tool_use` block must have a corresponding `tool_result` block in the next "
        "message."
    )
    assert "immediately after: t1" in refused(api, body(user("a"), assistant([USE])))
    accepted(api, body(user("a"), assistant([USE, USE2]), user([RESULT2, RESULT])))


def test_results_come_first_in_their_turn(api: FakeAPI) -> None:
    prompt_first = body(user("a"), assistant([USE]), user([{"type": "text", "text": "hi"}, RESULT]))
    assert refused(api, prompt_first) == (
        "messages.2: Did not find 1 `tool_result` block(s) at the beginning of this message. "
        "Messages following `tool_use` blocks must begin with a matching number of "
        "`tool_result` blocks."
    )
    accepted(api, body(user("a"), assistant([USE]), user([RESULT, {"type": "text", "text": "hi"}])))


def test_consecutive_turns_of_one_role_are_combined_before_the_checks(api: FakeAPI) -> None:
    # what today's tether sends after a resume with a prompt: the prompt, then the result
    split = body(user("a"), assistant([USE]), user("and now?"), user([RESULT]))
    assert "Did not find 1 `tool_result` block(s)" in refused(api, split)
    accepted(api, body(user("a"), user("b"), assistant("c"), assistant("d"), user("e")))


def test_a_result_names_a_call_of_the_turn_just_before(api: FakeAPI) -> None:
    message = refused(
        api, body(user("a"), assistant([USE]), user([RESULT]), assistant("ok"), user([RESULT]))
    )  # noqa: E501
    assert message == (
        "messages.4.content.0: unexpected `tool_use_id` found in `tool_result` blocks: t1. Each "
        "`tool_result` block must have a corresponding `tool_use` block in the previous message."
    )
    assert "unexpected `tool_use_id`" in refused(api, body(user([RESULT])))


def test_tool_use_ids_are_unique(api: FakeAPI) -> None:
    twice = body(user("a"), assistant([USE]), user([RESULT]), assistant([USE]), user([RESULT]))
    assert refused(api, twice) == "messages.3: `tool_use` ids must be unique"


def test_tool_blocks_need_tools(api: FakeAPI) -> None:
    no_tools = body(user("a"), assistant([USE]), user([RESULT]), tools=[])
    assert refused(api, no_tools) == (
        "Requests which include `tool_use` or `tool_result` blocks must define tools."
    )


def test_no_empty_or_blank_text_block(api: FakeAPI) -> None:
    empty = body(user("a"), assistant([{"type": "text", "text": ""}, USE]), user([RESULT]))
    assert refused(api, empty) == "messages: text content blocks must be non-empty"
    blank = body(user("a"), assistant([{"type": "text", "text": "\n\n"}, USE]), user([RESULT]))
    assert refused(api, blank) == "messages: text content blocks must contain non-whitespace text"
    blank_result = body(
        user("a"), assistant([USE]), user([RESULT | {"content": [{"type": "text", "text": " "}]}])
    )  # noqa: E501
    assert "non-whitespace" in refused(api, blank_result)
    accepted(api, body(user("a"), assistant("")))  # a final empty prefill is the exception


def test_a_final_assistant_message_ends_without_whitespace(api: FakeAPI) -> None:
    assert refused(api, body(user("a"), assistant("Sure, "))) == (
        "messages: final assistant content cannot end with trailing whitespace"
    )
    accepted(api, body(user("a"), assistant("Sure,")))


def test_only_a_final_assistant_message_may_be_empty(api: FakeAPI) -> None:
    assert refused(api, body(user([]), assistant("x"), user("y"))) == (
        "messages.0: all messages must have non-empty content except for the optional final "
        "assistant message"
    )


def test_the_first_message_is_the_users(api: FakeAPI) -> None:
    assert refused(api, body(assistant("hi"), user("a"))) == (
        'messages: first message must use the "user" role'
    )
    assert refused(api, body(user("a"), {"role": "system", "content": "x"})) == (
        "messages.1.role: Input should be 'user' or 'assistant'"
    )


def test_at_most_four_cache_breakpoints_in_tools_system_and_messages(api: FakeAPI) -> None:
    cached = {"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}
    tools = [TOOLS[0] | {"cache_control": {"type": "ephemeral"}}]
    five = body(user([cached, cached]), system=[cached, cached], tools=tools)
    assert (
        refused(api, five) == "A maximum of 4 blocks with cache_control may be provided. Found 5."
    )
    accepted(api, body(user([cached]), system=[cached, cached], tools=tools))


def test_tool_names_match_the_pattern(api: FakeAPI) -> None:
    bad = body(user("a"), tools=[{"name": "run tests", "input_schema": {"type": "object"}}])
    assert refused(api, bad) == (
        "tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'"
    )
    long = body(user("a"), tools=[{"name": "x" * 129, "input_schema": {"type": "object"}}])
    assert "should match pattern" in refused(api, long)
    accepted(
        api, body(user("a"), tools=[{"name": "a-B_9" * 25, "input_schema": {"type": "object"}}])
    )  # noqa: E501


def test_tool_names_are_unique(api: FakeAPI) -> None:
    assert refused(api, body(user("a"), tools=TOOLS + TOOLS)) == "tools: Tool names must be unique."


def test_a_tool_has_an_object_input_schema(api: FakeAPI) -> None:
    assert refused(api, body(user("a"), tools=[{"name": "bash"}])) == (
        "tools.0.custom.input_schema: Field required"
    )
    assert refused(api, body(user("a"), tools=[{"name": "bash", "input_schema": {}}])) == (
        "tools.0.custom.input_schema.type: Field required"
    )
    array = [{"name": "bash", "input_schema": {"type": "array"}}]
    assert "Input should be 'object'" in refused(api, body(user("a"), tools=array))


def test_required_fields(api: FakeAPI) -> None:
    assert refused(api, {"max_tokens": 1, "messages": [user("a")]}) == "model: Field required"
    assert refused(api, {"model": "m", "messages": [user("a")]}) == "max_tokens: Field required"
    assert "at least one message" in refused(api, body())


def signed_thinking(content: str) -> dict[str, Any]:
    return {"type": "thinking", "thinking": content, "signature": sign("thinking", content)}


def test_thinking_goes_back_with_its_signature(api: FakeAPI) -> None:
    good = signed_thinking("Let me look.")
    accepted(api, body(user("a"), assistant([good, USE]), user([RESULT])))
    forged = good | {"thinking": "Let me look again."}
    assert refused(api, body(user("a"), assistant([forged, USE]), user([RESULT]))) == (
        "messages.1.content.0: Invalid `signature` in `thinking` block"
    )
    unsigned = {"type": "thinking", "thinking": "hm"}
    assert "signature: Field required" in refused(
        api, body(user("a"), assistant([unsigned]), user("b"))
    )  # noqa: E501
    bad_redacted = {"type": "redacted_thinking", "data": "made-up"}
    assert "redacted_thinking" in refused(
        api, body(user("a"), assistant([bad_redacted, USE]), user([RESULT]))
    )  # noqa: E501


def test_thinking_of_the_latest_assistant_message_goes_back_unchanged() -> None:
    """Stateful: the fake remembers the thinking it returned with each call."""
    reply = thinking("First I plan.") + redacted_thinking() + tool_use("bash", {}, id="t1")
    with FakeAPI([reply], default=text("done")) as server:
        client = anthropic.Anthropic(api_key="k", base_url=server.base_url, max_retries=0)
        first = client.messages.create(model="m", max_tokens=100, tools=TOOLS,
                                       messages=[user("a")])  # fmt: skip
        blocks = [b.model_dump(exclude_none=True) for b in first.content]
        dropped = [b for b in blocks if b["type"] != "redacted_thinking"]
        message = refused(server, body(user("a"), assistant(dropped), user([RESULT])))
        assert message.startswith("messages.1.content.")
        assert "blocks in the latest assistant message cannot be modified" in message
        accepted(server, body(user("a"), assistant(blocks), user([RESULT])))


def test_thinking_and_effort_settings_are_the_sdks(api: FakeAPI) -> None:
    accepted(api, body(user("a"), thinking={"type": "adaptive"}, output_config={"effort": "max"}))
    accepted(api, body(user("a"), thinking={"type": "disabled"}))
    assert "does not match any of the expected tags" in refused(
        api, body(user("a"), thinking={"type": "on"})
    )  # noqa: E501
    assert refused(api, body(user("a"), output_config={"effort": "huge"})) == (
        "output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'"
    )
    small = body(user("a"), thinking={"type": "enabled", "budget_tokens": 512})
    assert "greater than or equal to 1024" in refused(api, small)


BETA = HEADERS | {"anthropic-beta": COMPACTION_BETA}


def compacted(summary: str = "So far: the tests pass.") -> dict[str, Any]:
    return {"type": "compaction", "content": summary, "signature": sign("compaction", summary)}


def test_a_compaction_block_goes_first_and_unchanged(api: FakeAPI) -> None:
    block = compacted()
    accepted(api, body(assistant([block]), user("go on")), BETA)
    assert "compaction beta" in refused(api, body(assistant([block]), user("go on")))
    accepted(api, body(assistant([block])), BETA)  # the turn continues from the summary
    misplaced = body(user("a"), assistant([block]), user("b"))
    assert "is not the first block of the conversation" in refused(api, misplaced, BETA)
    changed = body(assistant([block | {"content": "So far: all fine."}]), user("go on"))
    assert "differs from the text its `signature` recorded" in refused(api, changed, BETA)
    twice = body(assistant([block, compacted("again")]), user("x"))
    assert "more than one `compaction` block" in refused(api, twice, BETA)


def test_a_compaction_request_needs_its_beta_and_a_finished_turn(api: FakeAPI) -> None:
    request = body(user("a"), assistant("b"), user("c"), compaction={"type": "summarize"})
    assert refused(api, request) == "compaction: Extra inputs are not permitted"
    status, data = post(api, request, BETA)
    assert status == 200 and data["stop_reason"] == "compaction"
    assert data["content"][0]["type"] == "compaction"
    unfinished = body(user("a"), assistant([USE]), compaction={"type": "summarize"})
    assert "without `tool_result`" in refused(api, unfinished, BETA)


def test_an_endpoint_without_the_beta_refuses_its_header() -> None:
    with FakeAPI(default=text("fine"), compaction_beta=False) as server:
        message = refused(server, body(user("a"), compaction={"type": "summarize"}), BETA)
    assert message == (
        f"Unexpected value(s) `{COMPACTION_BETA}` for the `anthropic-beta` header. Please "
        "consult our documentation at docs.anthropic.com or try again without the header."
    )


def test_a_prompt_over_the_window_is_too_long() -> None:
    with FakeAPI(default=text("fine"), context_window=1000) as server:
        accepted(server, body(user("a" * 2000)))
        message = refused(server, body(user("a" * 5000)))
    assert message.startswith("prompt is too long: ")
    assert message.endswith(" tokens > 1000 maximum")


def test_a_scripted_compaction_reply_answers_the_compaction_request() -> None:
    with FakeAPI([compaction("Scripted summary."), text("after")]) as server:
        status, data = post(server, body(user("a"), compaction={"type": "summarize"}), BETA)
        assert data["content"][0]["content"] == "Scripted summary."
        assert post(server, body(user("b")))[1]["content"][0]["text"] == "after"
