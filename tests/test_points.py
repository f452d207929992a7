"""Which files a point of a log has: `diff --at`, `fork --at` and the harness's
checkpoint history, worked out from events alone (no Docker)."""

from __future__ import annotations

import pytest

from tether.core import errors
from tether.core import events as ev
from tether.core.changes import LIVE, Range, diff_range
from tether.core.checkpoints import History
from tether.core.fork import choose_cut, clean_points


def session() -> list[ev.Event]:
    """A run: a response asking for one bash call, the workspace made ready meanwhile,
    the call's result and its checkpoint, a second call, then the answer."""
    made = [
        ev.SessionCreated(session_id="s", model="m", image="i"),
        ev.UserMessage(content="go"),
        ev.StatusRunning(pid=1, host="h"),
        ev.ModelRequestStart(model="m"),
        ev.AgentToolUse(tool_use_id="t1", name="bash", input={"command": "echo a > a"}),
        ev.ModelRequestEnd(model="m", turn=1),
        ev.WorkspacePrepared(source="git", files=3, checkpoint="c0"),
        ev.AgentToolResult(tool_use_id="t1", content=""),
        ev.WorkspaceCheckpoint(tool_use_id="t1", checkpoint="c1", changed=1),
        ev.ModelRequestStart(model="m"),
        ev.AgentToolUse(tool_use_id="t2", name="bash", input={"command": "rm a"}),
        ev.ModelRequestEnd(model="m", turn=2),
        ev.AgentToolResult(tool_use_id="t2", content=""),
        ev.WorkspaceCheckpoint(tool_use_id="t2", checkpoint="c2", changed=1),
        ev.ModelRequestStart(model="m"),
        ev.AgentMessage(content="done"),
        ev.ModelRequestEnd(model="m", turn=3),
        ev.StatusIdle(stop_reason="end_turn"),
    ]
    return [ev_with_seq(event, seq) for seq, event in enumerate(made)]


def ev_with_seq(event: ev.Event, seq: int) -> ev.Event:
    from dataclasses import replace

    return replace(event, seq=seq)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (None, Range(old="c0")),  # the start against now
        ("8", Range(old="c0", new="c1")),  # what the call checkpointed at 8 changed
        ("13", Range(old="c1", new="c2")),
        ("start..13", Range(old="c0", new="c2")),
        ("8..", Range(old="c1", new=LIVE)),
        ("2..8", Range(old="c0", new="c1")),  # before any checkpoint: the start's files
        ("10..12", Range(old="c1", new="c1")),  # between checkpoints: the last one before
    ],
)
def test_diff_at_names_two_states_of_the_files(at: str | None, expected: Range) -> None:
    assert diff_range(session(), at) == expected


def test_diff_at_refuses_what_is_not_an_event_number() -> None:
    with pytest.raises(errors.UsageError, match="give SEQ, A..B or start..B"):
        diff_range(session(), "last")


def test_diff_of_a_workspace_never_made_ready_is_nothing() -> None:
    assert diff_range(session()[:6], None) is None


@pytest.mark.parametrize(
    ("at", "seq", "checkpoint"),
    [
        (None, 17, "c2"),  # the end
        (7, 8, "c1"),  # a call's result comes with its checkpoint
        (8, 8, "c1"),
        (2, 2, "c0"),  # before the workspace was ready: its start
        (12, 13, "c2"),
    ],
)
def test_a_fork_takes_the_last_checkpoint_at_or_before_its_point(
    at: int | None, seq: int, checkpoint: str
) -> None:
    cut = choose_cut(session(), at)
    assert (cut.seq, cut.checkpoint and cut.checkpoint.checkpoint) == (seq, checkpoint)


@pytest.mark.parametrize(
    ("at", "message"),
    [
        (4, "inside a model response that was not finished; fork at 2 (before) or 8 (after)"),
        (6, "a tool call is still waiting for its result there; fork at 2 (before) or 8"),
        (99, "the session's last event is 17"),
    ],
)
def test_a_fork_point_inside_a_response_or_a_call_is_refused(at: int, message: str) -> None:
    with pytest.raises(errors.UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        choose_cut(session(), at)


def test_clean_points_skip_a_result_whose_checkpoint_follows() -> None:
    assert 7 not in clean_points(session()) and 8 in clean_points(session())


def test_history_knows_the_start_the_last_checkpoint_and_a_call_left_without_one() -> None:
    events = session()
    assert History.of(events) == History(prepared=events[6], baseline="c0", last="c2")
    cut_short = History.of(events[:13])  # t2's result, but the harness died before its checkpoint
    assert (cut_short.last, cut_short.pending) == ("c1", "t2")
    fork = History.of(events, carried=8)  # a fork carries its parent's ready workspace
    assert (fork.prepared, fork.baseline) == (None, "c0")
