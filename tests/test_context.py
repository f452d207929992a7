"""events → messages is a pure function; these pin down its rules."""

from __future__ import annotations

from tether.core import events as ev
from tether.core.context import NO_RESULT, Context, build_messages
from tether.core.request import cached_tools, system_blocks, with_cache_breakpoints


def response(
    *content: ev.Event, is_error: bool = False, stop_reason: str | None = None
) -> list[ev.Event]:
    return [
        ev.ModelRequestStart(model="m"),
        *content,
        ev.ModelRequestEnd(model="m", is_error=is_error, turn=1, stop_reason=stop_reason),
    ]


def use(tool_id: str, command: str = "ls") -> ev.AgentToolUse:
    return ev.AgentToolUse(tool_use_id=tool_id, name="bash", input={"command": command})


def result(tool_id: str, content: str = "ok", is_error: bool = False) -> ev.AgentToolResult:
    return ev.AgentToolResult(tool_use_id=tool_id, content=content, is_error=is_error)


def test_a_full_exchange_alternates_roles() -> None:
    events = [
        ev.SessionCreated(model="m"),
        ev.UserMessage(content="hi"),
        *response(ev.AgentMessage(content="looking"), use("t1")),
        result("t1", "file.txt"),
        *response(ev.AgentMessage(content="done")),
        ev.UserMessage(content="thanks"),
    ]
    messages = build_messages(events)
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    assert messages[1]["content"] == [
        {"type": "text", "text": "looking"},
        {"type": "tool_use", "id": "t1", "name": "bash", "input": {"command": "ls"}},
    ]
    assert messages[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "t1", "content": "file.txt", "is_error": False}
    ]


def test_a_response_without_its_end_is_dropped() -> None:
    events = [
        ev.UserMessage(content="hi"),
        ev.ModelRequestStart(model="m"),
        ev.AgentMessage(content="half of it"),
        use("t1"),
    ]
    context = Context().add_all(events)
    assert context.messages == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert context.needs_model()
    assert not context.open_tool_uses


def test_an_errored_request_is_dropped_and_results_of_dropped_calls_ignored() -> None:
    events = [
        ev.UserMessage(content="hi"),
        *response(use("t1"), is_error=True),
        result("t1"),
        *response(ev.AgentMessage(content="answer")),
    ]
    messages = build_messages(events)
    assert [m["role"] for m in messages] == ["user", "assistant"]


def test_open_tool_uses_are_the_calls_without_results() -> None:
    context = Context().add_all([ev.UserMessage(content="go"), *response(use("a"), use("b"))])
    assert list(context.open_tool_uses) == ["a", "b"]
    context.add(result("a"))
    assert list(context.open_tool_uses) == ["b"]
    assert not context.needs_model()


def test_a_prompt_after_tool_results_joins_the_same_user_turn() -> None:
    events = [
        ev.UserMessage(content="go"),
        *response(use("a")),
        result("a"),
        ev.UserMessage(content="and then?"),
    ]
    last = build_messages(events)[-1]
    assert [b["type"] for b in last["content"]] == ["tool_result", "text"]


def test_cache_breakpoints_mark_the_last_two_user_turns_without_touching_the_context() -> None:
    events = [
        ev.UserMessage(content="1"),
        *response(use("a")),
        result("a"),
        *response(use("b")),
        result("b"),
    ]
    context = Context().add_all(events)
    marked = with_cache_breakpoints(context.messages)
    flags = ["cache_control" in m["content"][-1] for m in marked]
    assert flags == [False, False, True, False, True]
    assert not any("cache_control" in m["content"][-1] for m in context.messages)


def test_system_and_tools_carry_a_breakpoint() -> None:
    assert system_blocks(None) is None
    assert system_blocks("be brief")[0]["cache_control"] == {"type": "ephemeral"}
    tools = cached_tools([{"name": "a"}, {"name": "b"}])
    assert "cache_control" not in tools[0] and "cache_control" in tools[1]


def test_a_prompt_recorded_while_a_call_is_open_goes_after_its_result() -> None:
    """The order today's tether writes on `resume ID PROMPT` after a crash mid-tool."""
    events = [
        ev.UserMessage(content="go"),
        *response(use("a")),
        ev.UserMessage(content="and then?"),
        result("a", "Interrupted", is_error=True),
    ]
    context = Context().add_all(events)
    assert [b["type"] for b in context.messages[-1]["content"]] == ["tool_result", "text"]
    assert context.needs_model()


def test_results_go_in_the_order_of_their_calls() -> None:
    events = [ev.UserMessage(content="go"), *response(use("a"), use("b")), result("b"), result("a")]
    last = build_messages(events)[-1]
    assert [b["tool_use_id"] for b in last["content"]] == ["a", "b"]


def test_blank_text_is_dropped_and_a_blank_answer_ends_the_turn() -> None:
    events = [
        ev.UserMessage(content="go"),
        *response(ev.AgentMessage(content="\n\n"), use("a")),
        result("a"),
        *response(ev.AgentMessage(content="")),
    ]
    context = Context().add_all(events)
    assert context.messages[1]["content"] == [
        {"type": "tool_use", "id": "a", "name": "bash", "input": {"command": "ls"}}
    ]
    assert context.messages[-1]["role"] == "user"
    assert not context.needs_model()  # the model answered (with nothing): its turn is over
    context.add(ev.UserMessage(content="   "))
    assert not context.needs_model()
    context.add(ev.UserMessage(content="more"))
    assert context.needs_model()
    assert context.messages[-1]["content"][-1] == {"type": "text", "text": "more"}


def test_a_refused_response_is_not_sent_back_and_ends_the_turn() -> None:
    events = [ev.UserMessage(content="go"), *response(ev.AgentMessage(content="I can"), use("a"),
                                                     stop_reason="refusal")]  # fmt: skip
    context = Context().add_all(events)
    assert [m["role"] for m in context.messages] == ["user"]
    assert not context.open_tool_uses and not context.needs_model()


def test_a_paused_turn_is_continued_in_the_same_message() -> None:
    events = [
        ev.UserMessage(content="go"),
        *response(ev.AgentMessage(content="Searching"), stop_reason="pause_turn"),
    ]
    context = Context().add_all(events)
    assert context.needs_model()
    context.add_all(response(ev.AgentMessage(content="found it"), stop_reason="end_turn"))
    assert [m["role"] for m in context.messages] == ["user", "assistant"]
    assert [b["text"] for b in context.messages[1]["content"]] == ["Searching", "found it"]
    assert not context.needs_model()


def test_calls_left_unanswered_before_a_later_response_get_a_result() -> None:
    events = [ev.UserMessage(content="go"), *response(use("a")), *response(use("b"))]
    messages = build_messages(events)
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[2]["content"][0]["content"] == NO_RESULT


def test_thinking_goes_back_as_it_came_and_unsigned_thinking_does_not() -> None:
    events = [
        ev.UserMessage(content="go"),
        *response(
            ev.AgentThinking(content="plan", signature="sig"),
            ev.AgentThinking(content="", data="opaque"),
            ev.AgentThinking(content="no signature"),
            use("a"),
        ),
    ]
    blocks = build_messages(events)[1]["content"]
    assert blocks[:2] == [
        {"type": "thinking", "thinking": "plan", "signature": "sig"},
        {"type": "redacted_thinking", "data": "opaque"},
    ]
    assert [b["type"] for b in blocks] == ["thinking", "redacted_thinking", "tool_use"]


def compaction(method: str = "api", summary: str = "So far: fine.", end: bool = True) -> list:
    block = {"type": "compaction", "content": summary, "signature": "s"} if method == "api" else {}
    compacted = ev.ThreadContextCompacted(method=method, summary=summary, block=block)
    closing = [ev.ModelRequestEnd(model="m", stop_reason="compaction")] if end else []
    return [ev.ModelRequestStart(model="m"), compacted, *closing]


def test_a_compaction_restarts_the_fold_from_its_block() -> None:
    events = [ev.UserMessage(content="go"), *response(use("a")), result("a"), *compaction()]
    context = Context().add_all(events)
    block = {"type": "compaction", "content": "So far: fine.", "signature": "s"}
    assert context.messages == [{"role": "assistant", "content": [block]}]
    assert context.needs_model()  # the turn goes on from the summary
    context.add_all([*response(ev.AgentMessage(content="Carrying on."), use("b")), result("b")])
    assert [m["role"] for m in context.messages] == ["assistant", "user"]
    assert [b["type"] for b in context.messages[0]["content"]] == ["compaction", "text", "tool_use"]


def test_a_compaction_without_its_spans_end_does_not_count() -> None:
    events = [ev.UserMessage(content="go"), *compaction(end=False)]
    assert build_messages(events) == [{"role": "user", "content": [{"type": "text", "text": "go"}]}]


def test_tethers_own_summary_goes_first_as_a_user_message() -> None:
    events = [ev.UserMessage(content="go"), *response(use("a")), result("a")]
    messages = build_messages([*events, *compaction("summary", "Task: go. Done: a.")])
    assert [m["role"] for m in messages] == ["user"]
    assert messages[0]["content"][0]["text"].endswith("Task: go. Done: a.")
