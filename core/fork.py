"""`tether fork`: a new session from any point of another, files included.

The fork's log begins with a `session.created` naming the parent and the seq it
was taken at, then carries the parent's events up to that seq (their seqs,
ids and times unchanged), so its context is the parent's at that moment. Its
workspace is a new volume holding the files of the last checkpoint at or
before that seq, and its store a copy of the parent's, so `diff` still
compares with the parent's start. The parent is only read: a fork can be
taken while the parent runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

from . import errors
from . import events as ev
from .changes import Point, at_or_before, points
from .store import SessionLog, SessionStore, check_session_id, new_session_id
from .workspace import FORK


@dataclass(frozen=True, kw_only=True)
class Cut:
    """Where a fork is taken: the parent's last event it carries, and the files it gets."""

    seq: int
    checkpoint: Point | None  # None: the parent never made its workspace ready


def clean_points(events: Sequence[ev.Event]) -> list[int]:
    """The seqs after which nothing is half done: no model response being recorded, no
    tool call waiting for its result, and no tool result just before its checkpoint."""
    found: list[int] = []
    open_uses: set[str] = set()
    in_response = False
    for event, following in zip(events, [*events[1:], None], strict=True):
        if isinstance(event, ev.ModelRequestStart | ev.ModelRequestEnd):
            in_response = isinstance(event, ev.ModelRequestStart)
        elif isinstance(event, ev.AgentToolUse):
            open_uses.add(event.tool_use_id)
        elif isinstance(event, ev.AgentToolResult):
            open_uses.discard(event.tool_use_id)
        if not in_response and not open_uses and not _checkpoint_follows(event, following):
            found.append(event.seq)
    return found


def _checkpoint_follows(event: ev.Event, following: ev.Event | None) -> bool:
    """A result whose checkpoint comes next: the point is after both (the call's files)."""
    return (
        isinstance(event, ev.AgentToolResult)
        and isinstance(following, ev.WorkspaceCheckpoint)
        and following.tool_use_id == event.tool_use_id
    )


def choose_cut(events: Sequence[ev.Event], at: int | None) -> Cut:
    """The point to fork at: `at` (a call's result comes with its checkpoint), or the
    parent's latest clean point; refused with the nearest clean points when `at` falls
    inside a response or a tool call."""
    last = events[-1].seq
    clean = clean_points(events)
    if at is None:
        seq = clean[-1]
    elif at > last:
        raise errors.UsageError(f"--at {at}: the session's last event is {last}")
    elif at in clean:
        seq = at
    elif at + 1 in clean and _result_then_checkpoint(events, at):
        seq = at + 1  # a call's result: with its checkpoint, the files right after the call
    else:
        raise errors.UsageError(f"--at {at}: {_inside(events, at)}; {_nearest(clean, at)}")
    found = points([e for e in events if e.seq <= seq]) or points(events)[:1]  # or the start
    return Cut(seq=seq, checkpoint=at_or_before(found, seq) or (found[0] if found else None))


def _result_then_checkpoint(events: Sequence[ev.Event], at: int) -> bool:
    pair = [e for e in events if e.seq in (at, at + 1)]
    return len(pair) == 2 and _checkpoint_follows(pair[0], pair[1])


def _inside(events: Sequence[ev.Event], at: int) -> str:
    upto = [e for e in events if e.seq <= at]
    starts = sum(isinstance(e, ev.ModelRequestStart) for e in upto)
    if starts > sum(isinstance(e, ev.ModelRequestEnd) for e in upto):
        return "that is inside a model response that was not finished"
    return "a tool call is still waiting for its result there"


def _nearest(clean: list[int], at: int) -> str:
    before = [s for s in clean if s < at]
    after = [s for s in clean if s > at]
    choices = [f"{before[-1]} (before)" if before else "", f"{after[0]} (after)" if after else ""]
    return "fork at " + " or ".join(c for c in choices if c)


def fork(parent: SessionLog, at: int | None, session_id: str | None = None) -> SessionLog:
    """Create the fork of `parent` at `at` (its end by default); returns it, unlocked."""
    events = parent.read()
    if not events or not isinstance(events[0], ev.SessionCreated):
        raise errors.LogCorrupt(f"session {parent.id} does not start with session.created")
    cut = choose_cut(events, at)
    child_id = check_session_id(session_id) if session_id else new_session_id()
    settings: ev.SessionCreated = events[0]
    created = _created(settings, parent.id, child_id, cut)
    child = SessionStore(parent.dir.parent).create(created, child_id)
    try:
        child.append_many([e for e in events[1:] if e.seq <= cut.seq])
        if cut.checkpoint is not None:
            child.append(_restore(settings, parent.id, child_id, cut.checkpoint))
        child.append(ev.StatusIdle(stop_reason="forked"))
    except BaseException:
        _undo(child)
        raise
    child.close()
    return child


def _created(
    parent: ev.SessionCreated, parent_id: str, child_id: str, cut: Cut
) -> ev.SessionCreated:
    restored = cut.checkpoint is not None
    return replace(
        parent,
        seq=-1, id=ev.new_event_id(), ts=ev.utc_now(), session_id=child_id,
        parent=parent_id, parent_seq=cut.seq,
        workspace=None if restored else parent.workspace,
        workspace_source=FORK if restored else parent.workspace_source,
        workspace_from=parent.workspace_from or parent.workspace,
    )  # fmt: skip


def _restore(
    settings: ev.SessionCreated, parent_id: str, child_id: str, point: Point
) -> ev.WorkspacePrepared:
    """The child's volumes, with the files of `point`; its `workspace.prepared`."""
    import time

    from .sandbox import engine
    from .sandbox.workspace import fork_volumes

    started = time.monotonic()
    fork_volumes(engine.connect().api, settings.image, parent_id, child_id, point.checkpoint)
    return ev.WorkspacePrepared(
        source=FORK, checkpoint=point.checkpoint,
        duration_ms=int((time.monotonic() - started) * 1000),
    )  # fmt: skip


def _undo(child: SessionLog) -> None:
    """Remove a fork that could not be finished: its volumes and its directory."""
    import shutil

    with contextlib.suppress(errors.TetherError, OSError):
        from .sandbox.cleanup import remove_session_resources

        remove_session_resources(child.id, volume=True)
    child.close()
    shutil.rmtree(child.dir, ignore_errors=True)
