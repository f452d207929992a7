"""The brain: a stateless loop that wakes on a session log and carries it on.

`Harness.wake()` reads the log, closes what a dead harness left open, then
alternates model requests and tool calls until the model ends its turn or a
limit stops it. Everything it knows comes from the log, and everything it does
is appended (and fsynced) before anything acts on it, so it can be killed at
any instant and a new harness continues from the log.

Its parts: each turn (`turns.py`), model calls and their spans (`calls.py`), what
each stop reason calls for (`stop_reasons.py`), compaction before the context
outgrows its window (`compaction.py`), the tools behind one face (`toolbox.py`)
and the permission gate in front of them (`approvals.py`); a run stopped before
it woke is recorded by `early_stop.py`.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Callable, Mapping
from dataclasses import replace

from . import __version__, errors, paths
from . import events as ev
from .approvals import Approvals, Asker, Gate
from .calls import ModelCalls, RetriesExhausted
from .catalog import Prices
from .checkpoints import SessionWorkspace
from .compaction import Compactor
from .context import Context
from .cost import CostMeter
from .early_stop import stop_before_wake as stop_before_wake
from .early_stop import take_kill_request
from .exit_codes import ExitCode, for_error, for_stop_reason
from .hands import Hands, resources_for
from .interrupts import InterruptGuard
from .mcp_client import MCPClients
from .model import ModelClient, ModelRequest
from .open_calls import OpenCalls
from .outcomes import INTERRUPTED_RESULT, NOT_RUN_RESULT, STOP_NOTICES, Limits, Observer, Outcome
from .request import build_request
from .sandbox.preflight import Preflight
from .sandbox.protocol import Sandbox
from .session import EventLog
from .stop_reasons import CUT_STOPS, continue_prompt, cut_call_result
from .toolbox import Toolbox
from .turns import Turns

__all__ = ["INTERRUPTED_RESULT", "NOT_RUN_RESULT", "Harness", "Limits", "Observer", "Outcome"]

SETTLE_S = 5.0  # the longest a run that has ended waits for its preflight to end

# Makes the handle on a session's workspace and its checkpoints: (id, settings, events).
Workspaces = Callable[[str, ev.SessionCreated, list[ev.Event]], SessionWorkspace]


class Harness:
    """One wake of one session: give it the log, a model client and a sandbox, and the
    session's MCP servers, someone to ask about tool calls, and the maker of its
    workspace's checkpoints (none: no checkpoints), if there are any."""

    def __init__(
        self,
        session: EventLog,
        model: ModelClient,
        sandbox: Sandbox,
        observer: Observer,
        limits: Limits | None = None,
        mcp: MCPClients | None = None,
        asker: Asker | None = None,
        workspaces: Workspaces | None = None,
        prices: Mapping[str, Prices] | None = None,
    ) -> None:
        self.session = session
        self.workspaces = workspaces
        self.sandbox = sandbox
        self.observer = observer
        self.limits = limits or Limits()
        self.context = Context()
        self.session_cost = CostMeter(prices)  # for the budgets
        self.run_cost = CostMeter(prices)  # for the outcome
        self.settings: ev.SessionCreated | None = None
        self.mcp = mcp if mcp is not None else MCPClients({})
        self.approvals = Approvals()
        self.gate = Gate(self.approvals, asker, self._append)
        self.calls = ModelCalls(model, self._append, self.limits.max_retries, observer.text,
                                observer.thinking)  # fmt: skip
        self.tools: Toolbox  # made in _load: what the sandbox is made of is in the log
        self.open_calls: OpenCalls  # ...and what runs the calls through it
        self.compactor: Compactor  # made in _load, from the session's settings
        self.turns: Turns  # ...and what takes its turns
        self._crashed = False  # the last harness stopped without saying so
        self._loaded = False  # the log is read: what comes now is this run's
        self._guard = InterruptGuard(self.limits.timeout_s)
        self._checking: Preflight | None = None  # the sandbox's check, until the run ends

    # -- the run ---------------------------------------------------------------

    def wake(self, prompt: str | None = None) -> Outcome:
        """Carry the session on, after `prompt` if one is given, until the model ends
        its turn or something stops it."""
        self.session.lock.acquire()
        try:
            with self._guard:
                return self._wake_locked(prompt)
        except errors.Interrupted as exc:  # before the run had begun (loading the log)
            return stop_before_wake(self.session, exc, self.observer)  # the lock still held
        finally:
            self.session.lock.release()
            if self._checking is not None:
                self._checking.settle(SETTLE_S)

    def _wake_locked(self, prompt: str | None) -> Outcome:
        self._load(self.session.read())
        try:
            self._append(
                ev.StatusRunning(
                    pid=os.getpid(), host=socket.gethostname(), tether_version=__version__
                )
            )
            if self._crashed:  # else any open call still waits for a decision
                cut = self.context.last_stop_reason in CUT_STOPS
                cut_result = cut_call_result(self.turns.cut_at) if cut else None
                self.open_calls.close_after_crash(list(self.context.open_tool_uses), cut_result)
            self._take_prompt(prompt)
            self.tools.hands.wake()
            self._start_preflight()
            stop_reason = self._loop()
        except errors.Interrupted as exc:
            return self._stop_interrupted(exc)
        except errors.TetherError as exc:
            return self._stop_on_error(exc)
        except BaseException:
            self.tools.release(None)
            raise
        self.tools.release("run ended")
        waiting = tuple(self.approvals.waiting(self.context.open_tool_uses))
        ids = tuple(call.tool_use_id for call in waiting)
        self._append(ev.StatusIdle(stop_reason=stop_reason, event_ids=ids))
        notice = STOP_NOTICES.get(stop_reason, "").format(limit=self._settings.max_tokens)
        code = for_stop_reason(stop_reason)
        outcome = self._outcome(stop_reason, code, self.calls.gave_up, notice or None)
        return replace(outcome, pending=waiting)

    def _load(self, events: list[ev.Event]) -> None:
        if not events or not isinstance(events[0], ev.SessionCreated):
            raise errors.LogCorrupt(
                f"session {self.session.id} does not start with session.created"
            )
        self.settings = settings = ev.effective_settings(events) or events[0]
        workspace = self.workspaces and self.workspaces(self.session.id, settings, events)
        resources = resources_for(self.session.id, settings)
        hands = Hands(
            self.sandbox, resources, self._append, self.observer.output, tools=settings.tools,
            workspace=workspace,
        )  # fmt: skip
        files = paths.session_files(self.session.id)
        self.tools = Toolbox(settings, hands, self.mcp, self._append, files)
        self.tools.load(events)
        self.open_calls = OpenCalls(self.tools, self.approvals, self.gate, self._append)
        self.compactor = Compactor(self.calls, self._append, settings, self._next_request)
        self.turns = Turns(settings, self.context, self.calls, self.compactor, self.tools,
                           self.open_calls, self._append, self._next_request)  # fmt: skip
        statuses = [e for e in events if e.TYPE in ev.STATUS_TYPES]
        self._crashed = bool(statuses) and isinstance(statuses[-1], ev.StatusRunning)
        for event in events:
            self._track(event)
        self._loaded = True

    def _take_prompt(self, prompt: str | None) -> None:
        """The new prompt, after the results of any calls a dead harness left open; or,
        with none, a request to go on with an answer that was cut."""
        if prompt is not None:
            self._append(ev.UserMessage(content=prompt))
        elif not self.context.needs_model() and self.context.last_stop_reason in CUT_STOPS:
            self._append(ev.UserMessage(content=continue_prompt(self.turns.cut_at)))

    def _loop(self) -> str:
        try:
            while True:
                open_ids = list(self.context.open_tool_uses)
                if open_ids and not self.open_calls.run(open_ids):
                    return "requires_action"
                if not self.context.needs_model():
                    refused = self.context.last_stop_reason == "refusal"
                    return "refusal" if refused else "end_turn"
                stop = (
                    self.limits.reached(self.turns.run_turns, self.session_cost.cost)
                    or self.turns.take()
                )
                if stop is not None:
                    return stop
        except RetriesExhausted:
            return "retries_exhausted"

    # -- the model -------------------------------------------------------------

    def _next_request(self) -> ModelRequest:
        return build_request(self._settings, self.context.messages, self.tools.definitions())

    # -- the preflight -----------------------------------------------------------

    def _start_preflight(self) -> None:
        """Check the sandbox could start, alongside the first request (if tools may run)."""
        hands = self.tools.hands
        if hands.definitions:
            resources, check = hands.resources, self.sandbox.check
            preflight = Preflight(lambda: check(resources), self._cancel_request)
            self.calls.preflight = self._checking = preflight.start()

    def _cancel_request(self) -> None:
        """Called from the preflight's thread when it failed: stop a request under way."""
        preflight = self.calls.preflight
        assert preflight is not None and preflight.error is not None
        self._guard.cancel(preflight.error, lambda: self.calls.asking)

    # -- stopping --------------------------------------------------------------

    def _stop_interrupted(self, exc: errors.Interrupted) -> Outcome:
        self.calls.end_span(is_error=True, stop_reason="interrupted", turn=self.turns.turn)
        killed = exc.signum == signal.SIGTERM and self._take_kill_request()
        reason = "kill" if killed else exc.reason
        self.open_calls.close_running(list(self.context.open_tool_uses), reason)
        self._append(ev.UserInterrupt(reason=reason))
        self.tools.release(reason)
        if killed:
            self._append(ev.StatusTerminated(by="kill"))
            return self._outcome("terminated", ExitCode.TERMINATED)
        stop_reason = "timeout" if exc.reason == "timeout" else "interrupted"
        self._append(ev.StatusIdle(stop_reason=stop_reason))
        code = for_stop_reason(stop_reason) if stop_reason == "timeout" else for_error(exc)
        return self._outcome(stop_reason, code)

    def _stop_on_error(self, exc: errors.TetherError) -> Outcome:
        if isinstance(exc, errors.StorageError | errors.LogCorrupt):
            self.tools.release(None)
            raise exc  # the log cannot take more events; it reads as crashed, and resumable
        self.calls.end_span(is_error=True, stop_reason="error", turn=self.turns.turn)
        self.open_calls.close_running(list(self.context.open_tool_uses), errors.kind(exc))
        self._append(
            ev.SessionError(error_type=errors.kind(exc), message=str(exc), retry_status="terminal")
        )
        self.tools.release("error")
        self._append(ev.StatusIdle(stop_reason="error"))
        return self._outcome("error", for_error(exc), exc)

    def _take_kill_request(self) -> bool:
        return take_kill_request(self.session)

    def _outcome(
        self,
        stop_reason: str,
        code: ExitCode,
        error: errors.TetherError | None = None,
        notice: str | None = None,
    ) -> Outcome:
        cost = self.run_cost.cost
        return Outcome(
            stop_reason=stop_reason, exit_code=code, turns=self.turns.run_turns, usage=cost.usage,
            cost=cost, error=error, notice=notice,
        )  # fmt: skip

    # -- the log ---------------------------------------------------------------

    def _append(self, *events: ev.Event) -> None:
        """Append (one fsync for the lot), update the context, then tell the observer."""
        with self._guard.shielded():
            recorded = self.session.append_many(events)
            for event in recorded:
                self._track(event)
        for event in recorded:
            self.observer.event(event)

    def _track(self, event: ev.Event) -> None:
        self.context.add(event)
        self.approvals.add(event)
        self.compactor.window.add(event)
        self.session_cost.add(event)
        if self._loaded:
            self.run_cost.add(event)
        self.turns.count(event)

    @property
    def _settings(self) -> ev.SessionCreated:
        assert self.settings is not None
        return self.settings
