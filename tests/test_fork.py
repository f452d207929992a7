"""End to end: checkpoints after every call that can change files, and forks that
give any point of a session its conversation and its files back. Real CLI, real
Docker, real git, the fake Messages API."""

from __future__ import annotations

from typing import Any

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
    wait_for_event,
)
from fakeapi import FakeAPI, bash, text

from tether.core import events as ev
from tether.core.sandbox.engine import home_filter, volume_name
from tether.core.sandbox.engine import labels as engine_labels

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_client")]


def outputs(session_id: str) -> list[str]:
    return [r.content for r in of_type(session_events(session_id), ev.AgentToolResult)]


def fork(env: dict, *args: str) -> str:
    result = run(["fork", *args, "-q"], env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def changed(env: dict, *args: str) -> list[tuple[str, str]]:
    result = run(["diff", *args, "--json"], env)
    assert result.returncode == 0, result.stderr
    return [(f["status"], f["path"]) for f in json_lines(result.stdout)]


def test_a_fork_at_a_call_has_the_files_of_that_moment_and_forks_again(
    api: FakeAPI, env: dict
) -> None:
    api.add(
        bash("echo one > a.txt && echo bee > b.txt"),
        bash("echo two > a.txt && echo sea > c.txt"),
        bash("rm b.txt"),
        text("Done."),
    )
    assert run(["run", "--empty", "make files"], env).returncode == 0
    parent = only_session_id()
    before = session_events(parent)
    first = of_type(before, ev.AgentToolResult)[0]
    listed = json_lines(run(["show", parent, "--checkpoints", "--json"], env).stdout)
    assert [(c["tool"], c["changed"]) for c in listed] == [
        (None, 0), ("bash", 2), ("bash", 2), ("bash", 1)
    ]  # fmt: skip
    assert listed[1]["files"] == ["A a.txt", "A b.txt"] and listed[1]["seq"] == first.seq + 1

    child = fork(env, parent, "--at", str(first.seq))  # the call's result: with its checkpoint
    carried = session_events(child)
    created = carried[0]
    assert (created.parent, created.parent_seq, created.workspace_source) == (
        parent, first.seq + 1, "fork"
    )  # fmt: skip
    assert [e.id for e in carried[1 : first.seq + 2]] == [e.id for e in before[1 : first.seq + 2]]
    assert_invariants(carried)
    api.add(bash("ls; cat a.txt; echo three > a.txt"), text("Seen."))
    assert run(["resume", child, "what is there?"], env).returncode == 0
    assert outputs(child)[-1] == "a.txt\nb.txt\none"

    assert session_events(parent) == before  # the parent's log, untouched
    assert changed(env, parent) == [("added", "a.txt"), ("added", "c.txt")]
    assert changed(env, parent, "--at", str(first.seq + 1)) == [
        ("added", "a.txt"), ("added", "b.txt")
    ]  # fmt: skip
    assert changed(env, child) == [("added", "a.txt"), ("added", "b.txt")]

    grandchild = fork(env, child)
    api.add(bash("cat a.txt; ls"), text("Seen again."))
    assert run(["resume", grandchild, "look again"], env).returncode == 0
    assert outputs(grandchild)[-1] == "three\na.txt\nb.txt"
    tree = run(["ls", "--tree"], env).stdout.splitlines()
    assert [line.split()[0] for line in tree[1:]] == [parent, "└─", "└─"]
    assert tree[2].split()[1] == child and tree[3].split()[1] == grandchild
    assert f"fork of {child}@" in run(["ls"], env).stdout


def test_a_fork_resumes_without_a_prompt_from_where_it_was_cut(api: FakeAPI, env: dict) -> None:
    api.add(bash("echo one > a.txt"), text("Done."))
    assert run(["run", "--empty", "write"], env).returncode == 0
    parent = only_session_id()
    checkpoint = of_type(session_events(parent), ev.WorkspaceCheckpoint)[0]
    child = fork(env, parent, "--at", str(checkpoint.seq))
    api.add(text("Carrying on."))
    assert run(["resume", child], env).returncode == 0
    messages = api.requests[-1].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[-1]["content"][-1]["type"] == "tool_result"


def test_a_fork_point_inside_a_response_or_a_call_is_refused_with_the_nearest_ones(
    api: FakeAPI, env: dict
) -> None:
    api.add(bash("true"), text("Done."))
    assert run(["run", "--empty", "go"], env).returncode == 0
    parent = only_session_id()
    events = session_events(parent)
    use = of_type(events, ev.AgentToolUse)[0]
    inside = run(["fork", parent, "--at", str(use.seq)], env)
    assert inside.returncode == 2
    assert f"--at {use.seq}: that is inside a model response that was not finished" in inside.stderr
    assert "(before) or" in inside.stderr and "(after)" in inside.stderr
    beyond = run(["fork", parent, "--at", "9999"], env)
    assert (
        beyond.returncode == 2 and f"the session's last event is {events[-1].seq}" in beyond.stderr
    )
    assert run(["ls", "--json"], env).stdout.count('"id"') == 1  # nothing was created


def test_a_fork_taken_while_the_parent_runs(api: FakeAPI, env: dict) -> None:
    api.add(bash("echo done > first.txt"), bash("echo half > second.txt && sleep 60"))
    parent_process = start(["run", "--empty", "work"], env)
    try:
        wait_for_event(ev.WorkspaceCheckpoint, 60)
        wait_for_event(ev.AgentToolUse, 30, count=2)
        parent = only_session_id()
        child = fork(env, parent)
        checkpoint = of_type(session_events(parent), ev.WorkspaceCheckpoint)[0]
        assert session_events(child)[0].parent_seq == checkpoint.seq  # the latest clean point
        api.add(bash("ls"), text("Seen."))
        assert run(["resume", child, "look"], env).returncode == 0
        assert outputs(child)[-1] == "first.txt"
    finally:
        kill9(parent_process)


def test_kill_9_during_a_checkpoint_then_resume_is_consistent(api: FakeAPI, env: dict) -> None:
    many = "mkdir d && seq 1 20000 | split -a 5 -l 1 - d/f && echo made"
    api.add(bash(many))
    harness = start(["run", "--empty", "make many files"], env)
    try:
        result = wait_for_event(ev.AgentToolResult, 120)
        kill9(harness)  # the checkpoint of 20,000 new files takes a while: we are inside it
    finally:
        harness.kill()
    sid = only_session_id()
    assert not [c for c in of_type(session_events(sid), ev.WorkspaceCheckpoint)
                if c.tool_use_id == result.tool_use_id]  # fmt: skip
    api.add(bash("ls d | wc -l && echo after > z.txt"), text("Counted."))
    resumed = run(["resume", sid, "count them"], env, timeout=180)
    assert resumed.returncode == 0, resumed.stderr
    events = session_events(sid)
    assert_invariants(events)
    checkpoints = of_type(events, ev.WorkspaceCheckpoint)
    caught_up = [c for c in checkpoints if c.tool_use_id == result.tool_use_id]
    assert len(caught_up) == 1 and caught_up[0].changed == 20000 and not caught_up[0].error
    assert checkpoints[-1].files == ("A z.txt",) and not checkpoints[-1].error
    assert outputs(sid)[-1] == "20000"
    child = fork(env, sid, "--at", str(caught_up[0].seq))
    api.add(bash("ls d | wc -l; ls"), text("Seen."))
    assert run(["resume", child, "count"], env, timeout=120).returncode == 0
    assert outputs(child)[-1] == "20000\nd"


def test_rm_removes_the_workspace_and_its_checkpoints(
    api: FakeAPI, env: dict, docker_client: Any
) -> None:
    api.add(bash("echo x > x.txt"), text("Done."))
    assert run(["run", "--empty", "go"], env).returncode == 0
    sid = only_session_id()
    label = f"tether.session={sid}"
    names = sorted(v.name for v in docker_client.volumes.list(filters={"label": label}))
    assert names == [volume_name(sid), volume_name(sid, "store")]
    assert run(["rm", sid], env).returncode == 0
    assert docker_client.volumes.list(filters={"label": label}) == []


def test_a_checkpoint_on_a_full_disk_is_recorded_and_the_call_stands(
    api: FakeAPI, env: dict, docker_client: Any
) -> None:
    """The store on a 1 MB tmpfs: the start fits, a 4 MB file does not."""
    sid = "fulldisk01"
    docker_client.volumes.create(
        volume_name(sid, "store"), driver_opts={"type": "tmpfs", "device": "tmpfs", "o": "size=1m"},
        labels=engine_labels(sid, "store"),
    )  # fmt: skip
    api.add(bash("head -c 4000000 /dev/urandom > big.bin && echo wrote"),
            bash("echo small > small.txt && echo ok"), text("Done."))  # fmt: skip
    result = run(["run", "--empty", "--session-id", sid, "fill it"], env)
    assert result.returncode == 0, result.stderr
    assert outputs(sid) == ["wrote", "ok"]
    checkpoints = of_type(session_events(sid), ev.WorkspaceCheckpoint)
    assert len(checkpoints) == 2 and checkpoints[0].error and not checkpoints[0].checkpoint
    assert "No space left on device" in checkpoints[0].error
    assert run(["rm", sid], env).returncode == 0
    mine = [f"tether.session={sid}", *home_filter()]
    assert docker_client.volumes.list(filters={"label": mine}) == []
