"""Property: every request the harness could build from any log is one the API accepts.

Hypothesis writes session logs the way harnesses write them, and the way crashes
cut them: prompts (blank ones too), responses (complete, errored, or cut off by a
crash before their end), text that is blank, thinking, parallel calls, results in
any order or for calls the context never held, interrupts, resumes with a prompt
(in the order tether 0.1 wrote it, and in the new one), compactions (the API's and
tether's own, finished or cut by a crash), and every stop reason. At every point of
such a log, a harness that woke there, with or without a new prompt, builds its
request with the real code; the strict fake's rules
(`fakeapi.rules.validate`) must accept it.
"""

from __future__ import annotations

import itertools
from typing import Any

from fakeapi import sign
from fakeapi.rules import validate  # noqa: I001  (the rules alone, as the issue asks)
from fakeapi.wire import redacted_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tether.core import events as ev
from tether.core.context import Context
from tether.core.hands import Hands
from tether.core.harness import INTERRUPTED_RESULT
from tether.core.model import request_params
from tether.core.request import build_request
from tether.core.sandbox.tools import TOOL_SPECS
from tether.core.stop_reasons import CUT_STOPS, continue_prompt

SETTINGS = ev.SessionCreated(
    model="claude-sonnet-5-5", system="Be careful.", tools=tuple(s.name for s in TOOL_SPECS)
)
TOOLS = Hands(None, None, lambda e: None, tools=SETTINGS.tools).definitions  # type: ignore[arg-type]
STOPS = ["end_turn", "tool_use", "max_tokens", "pause_turn", "refusal",
         "model_context_window_exceeded", "stop_sequence", None]  # fmt: skip
TEXTS = ["Looking.", "", "\n\n", "Done. ", "  padded  "]

text_block = st.sampled_from(TEXTS).map(lambda t: ("text", t))
thinking_block = st.sampled_from(["plan", ""]).map(lambda t: ("thinking", t))
redacted_block = st.just(("redacted", ""))
use_block = st.just(("tool_use", ""))
block = st.one_of(text_block, thinking_block, redacted_block, use_block)

step = st.one_of(
    st.tuples(st.just("prompt"), st.sampled_from(["fix it", "", " \n ", "and now? "])),
    st.tuples(
        st.just("response"),
        st.lists(block, max_size=4),
        st.sampled_from(STOPS),
        st.sampled_from(["end", "end", "end", "error", "crash"]),
    ),
    st.tuples(st.just("result"), st.integers(0, 3), st.sampled_from(["ok", "", "orphan"])),
    st.tuples(st.just("interrupt")),
    st.tuples(st.just("resume"), st.sampled_from([None, "go on"]), st.booleans()),
    st.tuples(st.just("compact"), st.sampled_from(["api", "summary"]), st.booleans()),
)


class LogWriter:
    """Turns generated steps into events, as harnesses (old and new) and crashes leave them."""

    def __init__(self) -> None:
        self.events: list[ev.Event] = [SETTINGS, ev.UserMessage(content="start")]
        self.ids = (f"toolu_{n:04d}" for n in itertools.count())

    def apply(self, kind: str, *args: Any) -> None:
        getattr(self, kind)(*args)

    def open_calls(self) -> list[str]:
        return list(Context().add_all(self.events).open_tool_uses)

    def prompt(self, text: str) -> None:
        self.events.append(ev.UserMessage(content=text))

    def response(self, blocks: list[tuple[str, str]], stop: str | None, ending: str) -> None:
        self.events.append(ev.ModelRequestStart(model="m"))
        self.events.extend(self.content(kind, value) for kind, value in blocks)
        if ending != "crash":
            self.events.append(ev.ModelRequestEnd(model="m", stop_reason=stop,
                                                  is_error=ending == "error"))  # fmt: skip

    def content(self, kind: str, value: str) -> ev.Event:
        if kind == "text":
            return ev.AgentMessage(content=value)
        if kind == "thinking":
            return ev.AgentThinking(content=value, signature=sign("thinking", value))
        if kind == "redacted":
            return ev.AgentThinking(content="", data=redacted_data())
        return ev.AgentToolUse(tool_use_id=next(self.ids), name="bash", input={"command": "ls"})

    def result(self, which: int, content: str) -> None:
        calls = self.open_calls()
        if content == "orphan" or not calls:
            use_id = "toolu_orphan" if content == "orphan" else f"toolu_gone{which}"
            self.events.append(ev.AgentToolResult(tool_use_id=use_id, content="late"))
        else:
            use_id = calls[which % len(calls)]
            self.events.append(ev.AgentToolResult(tool_use_id=use_id, content=content))

    def interrupt(self) -> None:
        for use_id in self.open_calls():
            self.events.append(
                ev.AgentToolResult(tool_use_id=use_id, content=INTERRUPTED_RESULT, is_error=True)
            )
        self.events.append(ev.UserInterrupt(reason="ctrl-c"))

    def resume(self, prompt: str | None, old_order: bool) -> None:
        """A wake: today's tether recorded the prompt before closing open calls."""
        if prompt is not None and old_order:
            self.prompt(prompt)
        self.interrupt_calls()
        if prompt is not None and not old_order:
            self.prompt(prompt)

    def compact(self, method: str, finished: bool) -> None:
        """A compaction, recorded with its span's end, or cut by a crash before it."""
        summary = "So far: the tests pass."
        block = {"type": "compaction", "content": summary, "signature": sign("compaction", summary),
                 "tool_changes": []} if method == "api" else {}  # fmt: skip
        self.events.append(ev.ModelRequestStart(model="m"))
        self.events.append(ev.ThreadContextCompacted(method=method, summary=summary, block=block))
        if finished:
            self.events.append(ev.ModelRequestEnd(model="m", stop_reason="compaction"))

    def interrupt_calls(self) -> None:
        for use_id in self.open_calls():
            self.events.append(
                ev.AgentToolResult(tool_use_id=use_id, content=INTERRUPTED_RESULT, is_error=True)
            )


def woken(events: list[ev.Event], prompt: str | None) -> Context:
    """The context of a harness that woke on `events` (with `prompt`), as `Harness` does:
    open calls closed, then the prompt, or a request to go on with a cut answer."""
    context = Context().add_all(events)
    for use_id in list(context.open_tool_uses):
        context.add(ev.AgentToolResult(tool_use_id=use_id, content="x", is_error=True))
    if prompt is not None:
        context.add(ev.UserMessage(content=prompt))
    elif not context.needs_model() and context.last_stop_reason in CUT_STOPS:
        context.add(ev.UserMessage(content=continue_prompt("8192 tokens")))
    return context


def request_body(context: Context) -> dict[str, Any]:
    params = request_params(build_request(SETTINGS, context.messages, TOOLS))
    params.pop("betas", None)  # a header, not the body
    return params | {"stream": True}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, max_size=14))
def test_every_request_built_from_any_log_is_one_the_api_accepts(steps: list[tuple]) -> None:
    writer = LogWriter()
    for item in steps:
        writer.apply(*item)
    events = writer.events
    for cut in range(2, len(events) + 1):  # a crash after any event
        for prompt in (None, "continue please"):
            context = woken(events[:cut], prompt)
            if context.needs_model():
                body = request_body(context)
                problem = validate(body)
                assert problem is None, f"{problem}\nlog: {events[:cut]}\nbody: {body}"


def test_the_generator_reaches_the_cases_that_matter() -> None:
    """A guard for the property: the bad order of today's resume is among the logs."""
    writer = LogWriter()
    writer.response([("tool_use", "")], "tool_use", "end")
    writer.resume("and now?", old_order=True)
    types = [type(e).__name__ for e in writer.events[-2:]]
    assert types == ["UserMessage", "AgentToolResult"]
    body = request_body(woken(writer.events, None))
    assert validate(body) is None
    assert [b["type"] for b in body["messages"][-1]["content"]] == ["tool_result", "text"]
