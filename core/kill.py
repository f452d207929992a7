"""`tether kill`: stop a session's harness from any terminal, or clean up after a dead one.

Killing is not deleting: the log stays, and the session can be resumed. Only
the process that holds the session's lock, verified against the record it
wrote there (see `holder`), is ever signalled: never a pid read from the log,
which a dead harness may have passed on to an unrelated process.
"""

from __future__ import annotations

import logging
import signal
import time

from . import errors, holder, paths, procs
from . import events as ev
from .session import EventLog, last_status

log = logging.getLogger(__name__)

RECORD_WAIT_S = 1.0  # a process writes its record a moment after it takes the lock
OTHER_COMMAND_WAIT_S = 15.0  # how long another `kill` or `rm` may hold the lock


def kill(session: EventLog, grace_s: float = 10.0) -> str:
    """Stop the session; returns what was done ("stopped", "cleaned up", "already terminated")."""
    finished = None if session.lock.held() else last_status(session)
    if isinstance(finished, ev.StatusIdle):  # nothing runs, and how it ended stays true
        remove_containers(session.id)
        return f"not running (idle, {finished.stop_reason}): nothing to stop"
    stopped = stop_harness(session, grace_s)
    session.lock.acquire(wait_s=2.0, role="kill")
    try:
        last = last_status(session)
        if isinstance(last, ev.StatusTerminated):
            return "stopped" if stopped else "already terminated"
        removed = remove_containers(session.id)
        closing: list[ev.Event] = []
        if stopped or isinstance(last, ev.StatusRunning):  # the harness died without a word
            closing.append(ev.UserInterrupt(reason="kill"))
        if removed:
            closing.append(ev.SandboxReleased(container_id="", reason=f"kill removed {removed}"))
        session.append_many([*closing, ev.StatusTerminated(by="kill")])
        return "stopped" if stopped else "cleaned up"
    finally:
        paths.kill_request(session.id).unlink(missing_ok=True)
        session.lock.release()


def stop_harness(session: EventLog, grace_s: float = 10.0) -> bool:
    """SIGTERM the harness that holds the session's lock (it records the kill itself),
    then SIGKILL after `grace_s`. False if no harness held it."""
    running = running_harness(session)
    if running is None:
        return False
    process = holder.open_process(running)
    if process is None:  # it exited between the two looks
        return False
    try:
        paths.kill_request(session.id).touch(mode=0o600)
        process.signal(signal.SIGTERM)
        if not _wait_unlocked(session, grace_s):
            log.warning(
                "harness %d ignored SIGTERM for %.0f s; sending SIGKILL", running.pid, grace_s
            )
            process.signal(signal.SIGKILL)
            _wait_unlocked(session, 5.0)
    finally:
        process.close()
    return True


def running_harness(session: EventLog) -> holder.Holder | None:
    """The verified harness holding the session's lock; None if nobody holds it.

    Raises SessionBusy if the lock is held by a process that cannot be verified
    from here (another host, or no record that matches a live process)."""
    deadline = time.monotonic() + RECORD_WAIT_S
    while session.lock.held():
        found = session.lock.holder()
        if found is not None and found.host != holder.host():
            raise errors.SessionBusy(
                f"session {session.id} runs on host {found.host}; kill it there"
            )
        if found is not None and holder.matches(found):
            if found.role == holder.HARNESS:
                return found
            _wait_for_command(session, found)
        elif time.monotonic() >= deadline:
            raise errors.SessionBusy(_unverified(session, found))
        time.sleep(0.02)
    return None


def _wait_for_command(session: EventLog, other: holder.Holder) -> None:
    """Another `tether kill` or `rm` holds the lock for a moment: let it finish."""
    if not _wait_unlocked(session, OTHER_COMMAND_WAIT_S):
        raise errors.SessionBusy(
            f"session {session.id} is held by `tether {other.role}` (pid {other.pid})"
        )


def _unverified(session: EventLog, found: holder.Holder | None) -> str:
    if found is None:
        why = "its lock has no record of it"
    elif found.machine != procs.machine():
        why = "its record was made in another PID namespace, or before a reboot"
    else:
        why = f"the pid its record names, {found.pid}, is now another process or none"
    who = "a process tether cannot verify"
    return f"session {session.id} is locked by {who} ({why}); nothing was signalled"


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
