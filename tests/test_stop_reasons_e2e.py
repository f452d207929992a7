"""Stop reasons as the API defines them, each with its own handling and exit code; and
thinking, sent and sent back as the API requires. The real CLI against the strict fake."""

from __future__ import annotations

import json

import pytest
from e2e import json_lines, of_type, run, session_events
from fakeapi import FakeAPI, error, redacted_thinking, text, thinking, tool_use, validate

from tether.core import events as ev
from tether.core.exit_codes import ExitCode


def result_line(stdout: str) -> dict:
    return json_lines(stdout)[-1]


def last_idle(events: list[ev.Event]) -> str:
    return of_type(events, ev.StatusIdle)[-1].stop_reason


def assert_all_valid(api: FakeAPI) -> None:
    for request in api.requests:
        assert validate(request.body) is None, request.body


def test_a_call_cut_at_max_tokens_is_never_run(api: FakeAPI, env: dict) -> None:
    """The SDK salvages a cut call's input (`timeout_ms: 1` of 120000); it must not run."""
    command = {"command": "rm -rf /workspace/precious", "timeout_ms": 120000}
    cut = text("Cleaning up.") + tool_use("bash", command, cut_at=52)
    api.add(cut, text("That call was cut; I will not retry it."))
    result = run(["run", "--json", "clean up"], env)
    assert result.returncode == 0, result.stderr
    events = session_events()
    assert of_type(events, ev.AgentToolUse)[0].input != command  # what the SDK salvaged
    (cut_result,) = of_type(events, ev.AgentToolResult)
    assert cut_result.is_error and "cut off at the output limit" in cut_result.content
    assert not of_type(events, ev.SandboxProvisioned)  # nothing ran, no container started
    assert_all_valid(api)
    sent = api.requests[1].body["messages"][-1]["content"][0]
    assert sent["type"] == "tool_result" and "incomplete" in sent["content"]


def test_cut_text_is_continued(api: FakeAPI, env: dict) -> None:
    api.add(text("The first half of a long answer", stop_reason="max_tokens"),
            text("and its second half."))  # fmt: skip
    result = run(["run", "--max-tokens", "50", "explain"], env)
    assert result.returncode == 0, result.stderr
    assert_all_valid(api)
    asked = api.requests[1].body["messages"][-1]["content"][-1]["text"]
    assert "cut off at the output limit (50 tokens)" in asked and "Continue" in asked
    assert last_idle(session_events()) == "end_turn"


def test_a_response_cut_again_and_again_stops_with_its_own_code(api: FakeAPI, env: dict) -> None:
    api.add(*[text(f"part {n}", stop_reason="max_tokens") for n in range(4)], text("the end"))
    result = run(["run", "--json", "explain at length"], env)
    assert result.returncode == ExitCode.MAX_TOKENS, result.stderr
    final = result_line(result.stdout)
    assert final["stop_reason"] == "max_tokens" and final["exit_code"] == ExitCode.MAX_TOKENS
    assert "--max-tokens" in final["error"]
    assert len(api.requests) == 3
    # a resume without a prompt goes on with the cut answer
    resumed = run(["resume", "--last"], env)
    assert resumed.returncode == 0, resumed.stderr
    assert "cut off" in api.requests[-1].body["messages"][-1]["content"][-1]["text"]
    assert_all_valid(api)


def test_a_refusal_goes_idle_with_its_own_code(api: FakeAPI, env: dict) -> None:
    api.add(text("I can't help with", stop_reason="refusal"), text("Sure, here is a poem."))
    result = run(["run", "--json", "something bad"], env)
    assert result.returncode == ExitCode.REFUSAL, result.stderr
    assert result_line(result.stdout)["stop_reason"] == "refusal"
    assert last_idle(session_events()) == "refusal"
    again = run(["resume", "--last"], env)  # nothing new to say: still refused, not re-asked
    assert again.returncode == ExitCode.REFUSAL and len(api.requests) == 1
    resumed = run(["resume", "--last", "write a poem instead"], env)
    assert resumed.returncode == 0, resumed.stderr
    sent = api.requests[1].body["messages"]
    assert [m["role"] for m in sent] == ["user"]  # the refused turn is not sent back
    assert_all_valid(api)


def test_a_paused_turn_is_continued(api: FakeAPI, env: dict) -> None:
    api.add(text("Searching… ", stop_reason="pause_turn"), text("found it."))
    result = run(["run", "search"], env)
    assert result.returncode == 0, result.stderr
    assert_all_valid(api)
    continued = api.requests[1].body["messages"]
    assert continued[-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "Searching…"}],
    }


def test_a_full_context_window_is_compacted_and_the_answer_continued(
    api: FakeAPI, env: dict
) -> None:
    api.add(text("I was saying", stop_reason="model_context_window_exceeded"), text(" done."))
    result = run(["run", "--json", "go"], env)
    assert result.returncode == 0, result.stderr
    assert result_line(result.stdout)["compactions"] == 1
    assert_all_valid(api)
    compacting, after = api.requests[1], api.requests[2].body["messages"]
    assert compacting.is_compaction
    assert after[0]["content"][0]["type"] == "compaction"
    assert "cut off at the end of the context window" in after[-1]["content"][-1]["text"]


def test_a_full_context_window_without_compaction_stops_with_its_own_code(
    api: FakeAPI, env: dict
) -> None:
    api.add(text("I was saying", stop_reason="model_context_window_exceeded"))
    result = run(["run", "--json", "--no-compaction", "go"], env)
    assert result.returncode == ExitCode.CONTEXT, result.stderr
    assert result_line(result.stdout)["stop_reason"] == "model_context_window_exceeded"


def test_an_invalid_request_is_terminal_and_quotes_the_api(api: FakeAPI, env: dict) -> None:
    api.add(error(400, message="messages.0.content.0.text: unsupported thing"))
    result = run(["run", "--json", "go"], env)
    assert result.returncode == ExitCode.INVALID_REQUEST, result.stderr
    final = result_line(result.stdout)
    assert "unsupported thing" in final["error"] and "invalid" in final["error"]
    assert len(api.requests) == 1  # never retried
    errors = of_type(session_events(), ev.SessionError)
    assert [e.retry_status for e in errors] == ["terminal"]
    assert "messages.0.content.0.text: unsupported thing" in result.stderr


def test_a_prompt_too_long_without_compaction_stops_with_the_context_code(
    api: FakeAPI, env: dict
) -> None:
    api.add(error(400, message="prompt is too long: 210000 tokens > 200000 maximum"))
    result = run(["run", "--no-compaction", "go"], env)
    assert result.returncode == ExitCode.CONTEXT, result.stderr
    assert "210000 tokens > 200000 maximum" in result.stderr


def test_a_prompt_too_long_to_compact_stops_with_the_context_code(api: FakeAPI, env: dict) -> None:
    api.context_window = 2000
    result = run(["run", "go " + "on and on " * 2000], env)
    assert result.returncode == ExitCode.CONTEXT, result.stderr
    assert "tokens > 2000 maximum" in result.stderr
    assert_all_valid(api)
    assert [r.is_compaction for r in api.requests] == [False, True, True]  # whole, trimmed


@pytest.mark.docker
@pytest.mark.usefixtures("docker_client")
def test_thinking_is_requested_recorded_and_sent_back_unchanged(api: FakeAPI, env: dict) -> None:
    api.add(
        thinking("The user wants the date; a tool call gets it.")
        + redacted_thinking()
        + tool_use("bash", {"command": "echo 2026"}),
        thinking("It printed the year.") + text("It is 2026."),
    )
    result = run(["run", "--thinking", "adaptive", "--effort", "high", "what year?"], env)
    assert result.returncode == 0, result.stderr
    assert_all_valid(api)  # the fake also refused any thinking block changed or dropped
    first, second = (r.body for r in api.requests)
    assert first["thinking"] == {"type": "adaptive", "display": "summarized"}
    assert first["output_config"] == {"effort": "high"}
    kinds = [b["type"] for b in second["messages"][1]["content"]]
    assert kinds == ["thinking", "redacted_thinking", "tool_use"]
    thoughts = of_type(session_events(), ev.AgentThinking)
    assert [bool(t.data) for t in thoughts] == [False, True, False]
    assert "∴ The user wants the date" in result.stdout

    shown = run(["tail", "--last", "-n", "100"], env).stdout
    assert "∴ The user wants the date" in shown and "∴ (redacted thinking)" in shown
    hidden = run(["tail", "--last", "-n", "100", "--hide-thinking"], env).stdout
    assert "∴" not in hidden and "It is 2026." in hidden


def test_thinking_off_and_effort_come_from_the_environment_too(api: FakeAPI, env: dict) -> None:
    api.add(text("ok"))
    result = run(["run", "hi"], env | {"TETHER_THINKING": "off", "TETHER_EFFORT": "low"})
    assert result.returncode == 0, result.stderr
    body = api.requests[0].body
    assert body["thinking"] == {"type": "disabled"} and body["output_config"] == {"effort": "low"}
    created = session_events()[0]
    assert (created.thinking, created.effort) == ("off", "low")


def test_no_thinking_setting_sends_the_models_default(api: FakeAPI, env: dict) -> None:
    api.add(text("ok"))
    assert run(["run", "hi"], env).returncode == 0
    assert "thinking" not in api.requests[0].body and "output_config" not in api.requests[0].body


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--thinking", "on"], "--thinking must be adaptive or off, not 'on'"),
        (["--effort", "extreme"], "--effort must be low, medium, high, xhigh or max"),
    ],
)
def test_bad_thinking_settings_are_usage_errors(env: dict, args: list[str], message: str) -> None:
    result = run(["run", *args, "hi"], env)
    assert result.returncode == ExitCode.USAGE
    assert message in result.stderr and "Traceback" not in result.stderr


def test_a_bad_thinking_value_in_the_config_file_names_the_key(env: dict, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "bad.toml"
    config.write_text('thinking = "sometimes"\n')
    result = run(["config", "--json"], env | {"TETHER_CONFIG": str(config)})
    assert result.returncode == ExitCode.USAGE
    assert f"{config}: thinking must be adaptive or off" in result.stderr
    good = tmp_path / "good.toml"
    good.write_text('thinking = "adaptive"\neffort = "max"\n')
    shown = json.loads(run(["config", "--json"], env | {"TETHER_CONFIG": str(good)}).stdout)
    values = {name: shown["settings"][name]["value"] for name in ("thinking", "effort")}
    assert values == {"thinking": "adaptive", "effort": "max"}
