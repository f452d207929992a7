"""Outcomes you can tell apart, and a session never stuck on its creation settings:
the closing line, -q, ls and show, kill of a finished session, resume with nothing to
do, and resume --image / --model / limits recorded as session.updated."""

from __future__ import annotations

import json
import re

import pytest
from e2e import json_lines, of_type, only_session_id, run, session_events
from fakeapi import FakeAPI, text, tool_use

from tether.core import events as ev
from tether.core.exit_codes import ExitCode

pytestmark = pytest.mark.docker


def test_the_closing_line_speaks_to_people(api: FakeAPI, env: dict) -> None:
    api.add(
        tool_use("bash", {"command": "true"}, input_tokens=1_200_000, output_tokens=50),
        text("done", input_tokens=3_000, output_tokens=700),
    )
    result = run(["run", "hi"], env)
    assert result.returncode == 0, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("✓ done · 2 turns · 1.2M tokens · ") and line.endswith(" s"), line
    api.add(text("once"))
    line = run(["run", "hi"], env).stderr.strip().splitlines()[-1]
    cost = r"\d+% cached · (<\$0\.01|~\$\d+\.\d\d)"  # core/cost.py's share and estimate
    words = rf"✓ done · 1 turn · \d+(\.\d)?k? tokens · {cost} · \d+(\.\d)? s"
    assert re.fullmatch(words, line), line


def test_quiet_prints_the_final_answer_on_stdout(api: FakeAPI, env: dict) -> None:
    api.add(tool_use("bash", {"command": "echo 42"}), text("The answer is **42**."))
    result = run(["run", "-q", "what is it?"], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "The answer is **42**.\n" and result.stderr == ""
    api.add(text("Again."))
    assert run(["resume", "--last", "--print", "and now?"], env).stdout == "Again.\n"


def test_ls_and_show_tell_the_outcomes_apart(api: FakeAPI, env: dict) -> None:
    api.add(text("fine"))
    run(["run", "a good one"], env)
    api.add(tool_use("bash", {"command": "ls"}))
    assert run(["run", "--image", "tether-no-such-image:1", "a failing one"], env).returncode == 7
    rows = json_lines(run(["ls", "--json"], env).stdout)
    by_prompt = {r["prompt"]: r for r in rows}
    assert by_prompt["a failing one"]["stop_reason"] == "error"
    assert by_prompt["a good one"]["stop_reason"] == "end_turn"
    table = run(["ls"], env).stdout.splitlines()
    assert table[0].split()[:3] == ["ID", "STATUS", "OUTCOME"]
    failing = next(line for line in table if "a failing one" in line)
    assert " idle    error " in failing
    show = run(["show", "--last"], env).stdout
    assert "last error     image tether-no-such-image:1 is not present locally" in show
    assert "status         idle · error\n" in show  # the word, and no "(error)" after it
    assert "session.created" not in show  # the counts by type are behind --events
    assert all(line == line.rstrip() for line in show.splitlines())


def test_kill_of_a_finished_session_changes_nothing(api: FakeAPI, env: dict) -> None:
    api.add(text("done"))
    run(["run", "hi"], env)
    before = session_events()
    result = run(["kill", "--last"], env)
    assert result.returncode == 0, result.stderr
    assert "not running (idle, end_turn): nothing to stop" in result.stdout
    assert session_events() == before
    assert json_lines(run(["ls", "--json"], env).stdout)[0]["stop_reason"] == "end_turn"


def test_resume_of_a_finished_session_without_a_prompt_exits_2(api: FakeAPI, env: dict) -> None:
    api.add(text("done"))
    run(["run", "hi"], env)
    before = session_events()
    result = run(["resume", "--last"], env)
    assert result.returncode == ExitCode.USAGE
    assert result.stderr.startswith("error: session ") and "nothing to continue" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert session_events() == before and len(api.requests) == 1


def test_resume_changes_the_image_and_records_it(api: FakeAPI, env: dict, test_image: str) -> None:
    api.add(tool_use("bash", {"command": "echo one"}))
    assert run(["run", "--image", "tether-no-such-image:1", "hi"], env).returncode == 7
    api.add(tool_use("bash", {"command": "echo two"}), text("done"))
    result = run(["resume", "--last", "--image", test_image, "try again"], env)
    assert result.returncode == 0, result.stderr
    events = session_events()
    update = of_type(events, ev.SessionUpdated)[0]
    assert update.changes == {"image": test_image}
    assert of_type(events, ev.SandboxProvisioned)[0].image == test_image
    assert of_type(events, ev.AgentToolResult)[-1].content == "two"
    show = run(["show", "--last"], env).stdout
    assert f"sandbox        {test_image} · " in show
    assert f"changed        image {test_image} (" in show


def test_resume_honours_tether_image_model_and_limits(api: FakeAPI, env: dict) -> None:
    api.add(text("first"))
    run(["run", "--image", "tether-no-such-image:1", "hi"], env)
    api.add(text("second"))
    args = ["resume", "--last", "--model", "claude-other", "--max-turns", "3", "more"]
    result = run(args, env)  # env's TETHER_IMAGE is the test image
    assert result.returncode == 0, result.stderr
    changes = of_type(session_events(), ev.SessionUpdated)[0].changes
    assert changes == {"image": env["TETHER_IMAGE"], "model": "claude-other", "max_turns": 3}
    assert api.requests[-1].body["model"] == "claude-other"
    stats = json.loads(run(["show", "--last", "--json"], env).stdout)
    assert stats["settings"]["model"] == "claude-other"
    assert stats["updates"][0]["changes"]["max_turns"] == 3
    api.add(text("third"))
    run(["resume", "--last", "--model", "claude-other", "again"], env)
    assert len(of_type(session_events(), ev.SessionUpdated)) == 1, "no change, no event"


def test_errors_name_no_python_classes(api: FakeAPI, env: dict) -> None:
    api.add(tool_use("bash", {"command": "ls"}))
    result = run(["run", "--image", "tether-no-such-image:1", "hi"], env)
    tail = run(["tail", only_session_id(), "--since", "0"], env).stdout
    for output in (result.stdout + result.stderr, tail):
        assert "ImageNotFound" not in output and "(terminal)" not in output
