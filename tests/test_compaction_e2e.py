"""Long runs end to end: the real CLI and Docker sandbox against a fake API that enforces
a context window and answers compaction requests as the real API does."""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace

import pytest
from e2e import (
    assert_invariants,
    json_lines,
    kill9,
    of_type,
    only_session_id,
    run,
    session_events,
    start,
    wait_for,
)
from fakeapi import COMPACTION_BETA, FakeAPI, Reply, Request, compaction, text, tool_use, validate

from tether.core import events as ev
from tether.core.exit_codes import ExitCode

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_client")]

SUMMARY_ASKED = "(tether) The conversation is about to outgrow"
WINDOW = 20_000
CALLS = 40
# About 6 KB of output: 100 lines of 60 characters, different for every call.
SIX_KB = "for i in $(seq 1 100); do printf 'call %03d line %03d: %s\\n' {n} $i $(printf x%.0s $(seq 1 36)); done"  # noqa: E501


class Scripted:
    """CALLS bash calls of about 6 KB of output each, then an answer; summary requests
    (tether's own, for endpoints without the beta) get a summary."""

    def __init__(self, calls: int = CALLS) -> None:
        self.calls = calls
        self.made = 0

    def __call__(self, request: Request) -> Reply:
        last = request.body["messages"][-1]["content"]
        if isinstance(last, list) and SUMMARY_ASKED in str(last[-1]):
            return text(f"Summary: {self.made} of {self.calls} calls made; keep going.")
        if self.made < self.calls:
            self.made += 1
            return tool_use("bash", {"command": SIX_KB.format(n=self.made)})
        return text("All 40 calls are done.")


def accepted(api: FakeAPI) -> list[Request]:
    return [r for r in api.requests if validate(r.body) is None and r.tokens <= WINDOW]


def test_forty_calls_of_6kb_fit_a_20k_window(env: dict) -> None:
    script = Scripted()
    with FakeAPI(responder=script, context_window=WINDOW) as api:
        result = run(["run", "--json", "--context-window", str(WINDOW), "make 40 calls"],
                     env | {"ANTHROPIC_BASE_URL": api.base_url}, timeout=300)  # fmt: skip
        requests = api.requests
    assert result.returncode == 0, result.stderr[-2000:]
    final = json_lines(result.stdout)[-1]
    assert final["stop_reason"] == "end_turn" and final["compactions"] >= 3
    events = session_events()
    assert_invariants(events)
    results = of_type(events, ev.AgentToolResult)
    assert len(results) == CALLS and all(not r.is_error for r in results)  # every call is logged
    assert all(len(r.content) > 5000 for r in results)
    compactions = of_type(events, ev.ThreadContextCompacted)
    assert len(compactions) == final["compactions"]
    assert all(c.method == "api" and c.block["type"] == "compaction" for c in compactions)
    # no request was over the window, and none broke a rule
    assert all(r.tokens <= WINDOW for r in requests), max(r.tokens for r in requests)
    assert all(validate(r.body) is None for r in requests)
    compacting = [r for r in requests if r.is_compaction]
    assert len(compacting) == len(compactions)
    assert all(COMPACTION_BETA in r.headers["anthropic-beta"] for r in compacting)
    after = requests[requests.index(compacting[0]) + 1].body["messages"]
    assert after[0]["content"][0]["type"] == "compaction"  # the summary goes first
    # at most four breakpoints, one of them on the compaction block
    assert after[0]["content"][0]["cache_control"] == {"type": "ephemeral"}


def test_kill_9_during_a_compaction_then_resume(env: dict) -> None:
    script = Scripted(calls=12)
    slow_summary = compaction("Summary of the first calls.", event_delay_s=1.0)
    with FakeAPI(responder=script, context_window=WINDOW) as api:
        api_env = env | {"ANTHROPIC_BASE_URL": api.base_url}
        api.add(slow_summary)  # answers the first compaction request, slowly
        harness = start(["run", "--context-window", str(WINDOW), "make 12 calls"], api_env)
        wait_for(lambda: any(r.is_compaction for r in api.requests), timeout=120,
                 what="a compaction request")  # fmt: skip
        time.sleep(0.5)
        kill9(harness)
        events = session_events()
        assert not of_type(events, ev.ThreadContextCompacted)  # no half-summary
        resumed = run(["resume", only_session_id()], api_env, timeout=300)
        requests = api.requests
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    notice = re.search(
        r"context compacted by the API: ~([\d.]+k?) → ~([\d.]+k?) tokens", resumed.stdout
    )
    assert notice, resumed.stdout[-2000:]  # the live view's one line, with both sizes
    assert all(validate(r.body) is None for r in requests)
    assert all(r.tokens <= WINDOW for r in requests)
    events = session_events()
    assert_invariants(events)
    assert len(of_type(events, ev.AgentToolResult)) == 12
    assert of_type(events, ev.ThreadContextCompacted)


def test_an_endpoint_without_the_beta_gets_teters_own_summary(env: dict) -> None:
    script = Scripted(calls=16)
    with FakeAPI(responder=script, context_window=WINDOW, compaction_beta=False) as api:
        result = run(["run", "--json", "--context-window", str(WINDOW), "make 16 calls"],
                     env | {"ANTHROPIC_BASE_URL": api.base_url}, timeout=300)  # fmt: skip
        requests = api.requests
    assert result.returncode == 0, result.stderr[-2000:]
    compactions = of_type(session_events(), ev.ThreadContextCompacted)
    assert compactions and all(c.method == "summary" for c in compactions)
    assert compactions[0].summary.startswith("Summary: ")
    refused = [r for r in requests if r.is_compaction]
    assert len(refused) == 1  # the beta is tried once a run, then not again
    summarized = requests[requests.index(refused[0]) + 2].body["messages"]
    assert summarized[0]["role"] == "user"
    assert "was replaced by this summary" in summarized[0]["content"][0]["text"]
    assert all(r.tokens <= WINDOW for r in requests)
    assert len(of_type(session_events(), ev.AgentToolResult)) == 16


def test_a_prompt_too_long_is_compacted_and_asked_again(env: dict) -> None:
    """The estimate can be wrong: the API's 400 triggers the compaction too."""
    script = Scripted(calls=6)
    with FakeAPI(responder=script, context_window=9000) as api:
        result = run(["run", "--json", "--context-window", "200000", "make 6 calls"],
                     env | {"ANTHROPIC_BASE_URL": api.base_url}, timeout=300)  # fmt: skip
        requests = api.requests
    assert result.returncode == 0, result.stderr[-2000:]
    events = session_events()
    triggers = [c.trigger for c in of_type(events, ev.ThreadContextCompacted)]
    assert "prompt_too_long" in triggers
    assert len(of_type(events, ev.AgentToolResult)) == 6
    assert any(r.tokens > 9000 for r in requests)  # refused, then compacted


def test_cost_and_cache_are_reported(env: dict, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "config.toml"
    config.write_text('[prices."claude-sonnet-5-5"]\ninput = 100.0\noutput = 100.0\n')
    script = Scripted(calls=3)
    with FakeAPI(responder=script) as api:
        run_env = env | {"ANTHROPIC_BASE_URL": api.base_url, "TETHER_CONFIG": str(config)}
        result = run(["run", "--json", "three calls"], run_env)
        assert result.returncode == 0, result.stderr
        final = json_lines(result.stdout)[-1]
        assert final["cost_usd"] > 0 and 0 <= final["cache_hit_ratio"] < 1
        assert final["compactions"] == 0
        shown = run(["show", "--last", "--json"], run_env)
        stats = json.loads(shown.stdout)
        cost = stats[0]["cost"] if isinstance(stats, list) else stats["cost"]
        assert cost["cost_usd"] == pytest.approx(final["cost_usd"])
        human = run(["show", "--last"], run_env).stdout
        assert "(estimate)" in human and "read from the cache" in human
        assert "200,000-token window" in human


def test_a_budget_in_dollars_stops_the_run(env: dict, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "config.toml"
    config.write_text('[prices."claude-sonnet-5-5"]\ninput = 1000.0\noutput = 1000.0\n')
    with FakeAPI(responder=Scripted(calls=10)) as api:
        run_env = env | {"ANTHROPIC_BASE_URL": api.base_url, "TETHER_CONFIG": str(config)}
        result = run(["run", "--json", "--budget-usd", "5", "ten calls"], run_env)
    assert result.returncode == ExitCode.BUDGET, result.stderr
    assert json_lines(result.stdout)[-1]["stop_reason"] == "budget_reached"
    assert len(of_type(session_events(), ev.AgentToolResult)) < 10


def test_a_window_full_mid_calls_runs_the_whole_calls_then_compacts(env: dict) -> None:
    """The last call of a cut response never runs; the calls before it do, then the
    context is compacted, so that no compaction request ends on unanswered calls."""
    calls = tool_use("bash", {"command": "echo one"}) + tool_use("bash", {"command": "echo two"})
    full = replace(calls, stop_reason="model_context_window_exceeded")
    with FakeAPI([full, text("Done.")]) as api:
        result = run(["run", "go"], env | {"ANTHROPIC_BASE_URL": api.base_url})
        requests = api.requests
    assert result.returncode == 0, result.stderr[-2000:]
    assert all(validate(r.body) is None for r in requests)
    assert [r.is_compaction for r in requests] == [False, True, False]
    events = session_events()
    uses = [u.tool_use_id for u in of_type(events, ev.AgentToolUse)]
    one, two = sorted(of_type(events, ev.AgentToolResult), key=lambda r: uses.index(r.tool_use_id))
    assert not one.is_error and one.content.strip() == "one"
    assert two.is_error and "context window" in two.content  # cut: never run
    (compacted,) = of_type(events, ev.ThreadContextCompacted)
    assert compacted.trigger == "model_context_window_exceeded"
