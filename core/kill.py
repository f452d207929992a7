"""`tether kill`: stop a session's harness from any terminal, or clean up after a dead one.

Killing is not deleting: the log stays, and the session can be resumed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import time

from . import errors, paths
from . import events as ev
from .session import EventLog, last_status

log = logging.getLogger(__name__)


def kill(session: EventLog, grace_s: float = 10.0) -> str:
    """Stop the session; returns what was done ("stopped", "cleaned up", "already terminated")."""
    action = "cleaned up"
    if session.lock.held():
        _stop_harness(session, grace_s)
        action = "stopped"
    session.lock.acquire(wait_s=2.0)
    try:
        last = last_status(session)
        if isinstance(last, ev.StatusTerminated):
            return action if action == "stopped" else "already terminated"
        removed = remove_containers(session.id)
        closing: list[ev.Event] = []
        if isinstance(last, ev.StatusRunning):  # the harness died without a word
            closing.append(ev.UserInterrupt(reason="kill"))
        if removed:
            closing.append(ev.SandboxReleased(container_id="", reason=f"kill removed {removed}"))
        session.append_many([*closing, ev.StatusTerminated(by="kill")])
        return action
    finally:
        paths.kill_request(session.id).unlink(missing_ok=True)
        session.lock.release()


def _stop_harness(session: EventLog, grace_s: float) -> None:
    """SIGTERM the harness (it records the kill itself), then SIGKILL after the grace period."""
    running = last_status(session)
    if not isinstance(running, ev.StatusRunning):
        raise errors.SessionBusy(f"session {session.id} is locked, but its harness is unknown")
    if running.host != socket.gethostname():
        raise errors.SessionBusy(f"session {session.id} runs on host {running.host}; kill it there")
    paths.kill_request(session.id).touch(mode=0o600)
    _signal(running.pid, signal.SIGTERM)
    if not _wait_unlocked(session, grace_s):
        log.warning("harness %d ignored SIGTERM for %.0f s; sending SIGKILL", running.pid, grace_s)
        _signal(running.pid, signal.SIGKILL)
        _wait_unlocked(session, 5.0)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _wait_unlocked(session: EventLog, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while session.lock.held():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def remove_containers(session_id: str) -> int:
    """Remove the session's containers by label; the engine being away is only a warning."""
    try:
        from .sandbox.cleanup import remove_session_resources

        return remove_session_resources(session_id, volume=False)
    except errors.SandboxError as exc:
        log.warning("could not look for the session's containers: %s", exc)
        return 0
