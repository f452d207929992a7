"""Stopping a run that a signal ended before the harness took over (while the SDKs
load, or the harness loads the log), recorded as the harness would have recorded
it; and the request file by which a SIGTERM is known to come from `tether kill`.
"""

from __future__ import annotations

import signal

from . import errors, paths
from . import events as ev
from .exit_codes import ExitCode, for_error
from .outcomes import Observer, Outcome
from .session import EventLog


def take_kill_request(session: EventLog) -> bool:
    """Whether `tether kill` sent the SIGTERM that arrived (it leaves a file first)."""
    try:
        paths.kill_request(session.id).unlink()
    except FileNotFoundError:
        return False
    return True


def stop_before_wake(
    session: EventLog, interrupt: errors.Interrupted, observer: Observer
) -> Outcome:
    """Record a signal that came while the run was still starting (the SDKs loading),
    as the harness would have a moment later: an interrupt, then idle, or terminated
    when `tether kill` sent it. Nothing had been asked of the model or the sandbox."""
    killed = interrupt.signum == signal.SIGTERM and take_kill_request(session)
    reason = "kill" if killed else interrupt.reason
    stop = ev.StatusTerminated(by="kill") if killed else ev.StatusIdle(stop_reason="interrupted")
    session.lock.acquire()
    try:
        recorded = session.append_many([ev.UserInterrupt(reason=reason), stop])
    finally:
        session.lock.release()
    for event in recorded:
        observer.event(event)
    if killed:
        return Outcome(stop_reason="terminated", exit_code=ExitCode.TERMINATED, turns=0)
    return Outcome(stop_reason="interrupted", exit_code=for_error(interrupt), turns=0)
