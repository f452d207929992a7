"""Removing sessions: one (`rm`), or every finished one at once with what they left
on the engine (`prune`), including volumes and containers labelled by this data
dir that no session owns any more (what `rm` left while Docker was down)."""

from __future__ import annotations

import logging
import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from . import errors
from .store import SessionLog, SessionStore
from .summary import SessionSummary, list_sessions

log = logging.getLogger(__name__)

FINISHED = ("idle", "terminated")  # crashed sessions are left: they may want a resume
_AGE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True)
class Plan:
    """What a prune removes: sessions, and engine resources no session owns."""

    sessions: list[SessionSummary] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    engine_error: str | None = None  # why the engine's side could not be looked at


def parse_age(text: str) -> timedelta:
    """`7d`, `12h`, `30m`, `2w`, `90s` (or several: `1d12h`) as a timedelta."""
    parts = _AGE.findall(text.strip().lower())
    if not parts or _AGE.sub("", text.strip().lower()).strip():
        raise errors.UsageError(f"--older-than must be an age like 7d, 12h or 30m, not {text!r}")
    return timedelta(seconds=sum(float(n) * _UNITS[unit] for n, unit in parts))


def plan(store: SessionStore, older_than: timedelta | None, now: datetime | None = None) -> Plan:
    """The finished sessions idle for longer than `older_than` (all, if None), and the
    volumes and containers of this data dir whose session is gone."""
    cutoff = (now or datetime.now(UTC)) - (older_than or timedelta(0))
    sessions = [s for s in list_sessions(store) if s.status in FINISHED and _before(s, cutoff)]
    try:
        from .sandbox.cleanup import orphans

        volumes, containers = orphans(set(store.ids()))
    except errors.SandboxError as exc:
        return Plan(sessions, engine_error=str(exc))
    return Plan(sessions, volumes, containers)


def _before(summary: SessionSummary, cutoff: datetime) -> bool:
    try:
        return datetime.fromisoformat(summary.last_activity or "") <= cutoff
    except ValueError:
        return False


def execute(store: SessionStore, chosen: Plan) -> None:
    """Remove what `chosen` names; a session that started running since is skipped."""
    for summary in chosen.sessions:
        try:
            remove_session(SessionLog(store.root / summary.id))
        except errors.SessionBusy:
            log.warning("session %s started running; left alone", summary.id)
    if chosen.volumes or chosen.containers:
        from .sandbox.cleanup import remove_resources

        remove_resources(chosen.volumes, chosen.containers)


def remove_session(session: SessionLog, force: bool = False) -> None:
    """Delete a session: its containers and volume, then its directory. A running one
    is refused (SessionBusy) unless `force`, which stops its harness first."""
    if force and session.lock.held():
        from .kill import stop_harness

        stop_harness(session)  # it releases its container; then its volume can go too
    try:
        session.lock.acquire(role="rm")  # so no harness can start on it while it goes
    except errors.SessionBusy:
        raise errors.SessionBusy(
            f"session {session.id} is running; stop it first (tether kill {session.id})"
            + ("" if force else " or pass --force")
        ) from None
    try:
        _remove_sandbox(session.id)
        _remove_files(session)
    finally:
        session.close()


def _remove_sandbox(session_id: str) -> None:
    """Remove the session's containers and volume, if the engine answers."""
    try:
        from .sandbox.cleanup import remove_session_resources

        remove_session_resources(session_id, volume=True)
    except (errors.SandboxError, OSError) as exc:
        log.warning("could not remove session %s's containers and volume: %s", session_id, exc)


def _remove_files(session: SessionLog) -> None:
    try:
        shutil.rmtree(session.dir)
    except OSError as exc:
        raise errors.StorageError(f"could not remove {session.dir}: {exc.strerror}") from None
