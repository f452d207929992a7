"""What `resume` does to a session before a harness wakes on it: record the settings
it changes (`session.updated`), or refuse when a finished session is given nothing
to do. The new prompt is the harness's to record, after the results of calls a
crash left open."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import errors
from . import events as ev
from .context import Context
from .stop_reasons import CUT_STOPS
from .store import SessionLog
from .summary import check_log


def prepare(
    session: SessionLog, prompt: str | None, wanted: Mapping[str, Any]
) -> tuple[ev.SessionCreated, list[ev.Event]]:
    """Append the changed settings to `session` (whose lock the caller holds), unless
    there is nothing to continue and no `prompt` (the harness records it); returns the
    settings now in force and the events appended."""
    check_log(session)  # one clear line for a log that is empty or not a session's
    events = session.read()
    settings = ev.effective_settings(events)
    if settings is None:
        raise errors.LogCorrupt(f"session {session.id} does not start with session.created")
    if prompt is None and not has_work(events):
        raise errors.UsageError(
            f"session {session.id} is finished; there is nothing to continue. "
            f'Give it a new prompt: tether resume {session.id} "..."'
        )
    new: list[ev.Event] = []
    changes = changed(settings, wanted)
    if changes:
        new.append(ev.SessionUpdated(changes=changes))
        settings = settings.updated(changes)
    return settings, session.append_many(new) if new else []


def has_work(events: list[ev.Event]) -> bool:
    """Whether a harness woken on these events would do anything: the model's turn is
    due, a tool call was left without a result, an answer was cut (the harness asks
    it to go on), or the model refused (the harness says so again, with its code)."""
    context = Context().add_all(events)
    if context.open_tool_uses or context.needs_model():
        return True
    return context.last_stop_reason in CUT_STOPS or context.last_stop_reason == "refusal"


def changed(settings: ev.SessionCreated, wanted: Mapping[str, Any]) -> dict[str, Any]:
    """The settings in `wanted` (None: not given) that differ from the session's."""
    return {
        name: value
        for name, value in wanted.items()
        if value is not None and name in ev.UPDATABLE and getattr(settings, name) != value
    }
