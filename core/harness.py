"""The brain: a stateless loop that wakes on a session log and carries it on.

`Harness.wake()` reads the log, closes what a dead harness left open, then
alternates model requests and tool calls until the model ends its turn or a
limit stops it. Everything it knows comes from the log, and everything it does
is appended (and fsynced) before anything acts on it, so it can be killed at
any instant and a new harness continues from the log.

Its parts: model calls and their spans (`calls.py`), what each stop reason calls
for (`stop_reasons.py`), compaction before the context outgrows its window
(`compaction.py`), the tools behind one face (`toolbox.py`) and the permission
gate in front of them (`approvals.py`).
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
from .calls import ModelCalls, RetriesExhausted, content_events
from .catalog import Prices
from .checkpoints import SessionWorkspace
from .compaction import Compactor
from .context import Context
from .cost import CostMeter
from .exit_codes import ExitCode, for_error, for_stop_reason
from .hands import Hands, resources_for
from .interrupts import InterruptGuard
from .mcp_client import MCPClients
from .model import ModelClient, ModelRequest, ModelResponse
from .open_calls import OpenCalls
from .outcomes import INTERRUPTED_RESULT, NOT_RUN_RESULT, STOP_NOTICES, Limits, Observer, Outcome
from .request import build_request
from .sandbox.preflight import Preflight
from .sandbox.protocol import Sandbox
from .session import EventLog
from .stop_reasons import (
    CUT_STOPS,
    WINDOW_END,
    WINDOW_FULL,
    after_response,
    continue_prompt,
    cut_call_result,
)
from .toolbox import Toolbox

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
        self.turn = 0
        self.run_turns = 0
        self.mcp = mcp if mcp is not None else MCPClients({})
        self.approvals = Approvals()
        self.gate = Gate(self.approvals, asker, self._append)
        self.calls = ModelCalls(model, self._append, self.limits.max_retries, observer.text,
                                observer.thinking)  # fmt: skip
        self.tools: Toolbox  # made in _load: what the sandbox is made of is in the log
        self.open_calls: OpenCalls  # ...and what runs the calls through it
        self.compactor: Compactor  # made in _load, from the session's settings
        self._crashed = False  # the last harness stopped without saying so
        self._loaded = False  # the log is read: what comes now is this run's
        self._cuts_in_a_row = 0
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
                cut_result = cut_call_result(self._cut_at) if cut else None
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
            self._append(ev.UserMessage(content=continue_prompt(self._cut_at)))

    def _loop(self) -> str:
        try:
            while True:
                open_ids = list(self.context.open_tool_uses)
                if open_ids and not self.open_calls.run(open_ids):
                    return "requires_action"
                if not self.context.needs_model():
                    refused = self.context.last_stop_reason == "refusal"
                    return "refusal" if refused else "end_turn"
                stop = self.limits.reached(self.run_turns, self.session_cost.cost) or self._turn()
                if stop is not None:
                    return stop
        except RetriesExhausted:
            return "retries_exhausted"

    def _turn(self) -> str | None:
        """One model response and what its stop reason calls for; a stop reason ends the
        run. The context is compacted first if it nears its window."""
        trigger = self.compactor.due(len(self.context.messages))
        if trigger is not None:
            self.compactor.compact(trigger, self.turn)
        return self._handle_stop_reason(self._respond())

    # -- the model -------------------------------------------------------------

    def _next_request(self) -> ModelRequest:
        return build_request(self._settings, self.context.messages, self.tools.definitions())

    def _respond(self) -> ModelResponse:
        """The model's next response, fully recorded. A prompt the API finds too long for
        the window is compacted and asked for again, once."""
        try:
            return self._call(self._next_request())
        except errors.ContextWindowExceeded as exc:
            if not self._settings.compaction or self.compactor.just_compacted:
                raise
            self.compactor.learn(exc)
            self.compactor.compact("prompt_too_long", self.turn)
            return self._call(self._next_request())

    def _call(self, request: ModelRequest) -> ModelResponse:
        got: list[ModelResponse] = []

        def record(response: ModelResponse, duration_ms: int, start_id: str) -> None:
            """All of a response's content and its span end, with a single fsync."""
            got.append(response)
            self.turn += 1
            self.run_turns += 1
            self.compactor.just_compacted = False
            end = ev.ModelRequestEnd(
                model=response.model or self._settings.model, model_request_start_id=start_id,
                usage=response.usage, stop_reason=response.stop_reason, duration_ms=duration_ms,
                turn=self.turn,
            )  # fmt: skip
            self._append(*content_events(response, self.tools.use_event), end)

        self.calls.call(request, record, turn=self.turn)
        return got[0]

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

    def _handle_stop_reason(self, response: ModelResponse) -> str | None:
        """Record what the response's stop reason calls for; a stop reason ends the run."""
        cut = response.stop_reason in CUT_STOPS
        self._cuts_in_a_row = self._cuts_in_a_row + 1 if cut else 0
        then = after_response(response, self._cuts_in_a_row, self._limit)
        for use_id in then.cut_calls:
            self._append(self.open_calls.error_result(use_id, then.cut_result))
        stop = then.stop
        if then.compact and self._settings.compaction and self.context.open_tool_uses:
            self.compactor.asked = WINDOW_FULL  # once its whole calls have run
        elif then.compact and self._settings.compaction:
            self.compactor.compact(WINDOW_FULL, self.turn)
        elif then.compact:
            stop = response.stop_reason
        if stop is not None:
            self.open_calls.close_unrun(list(self.context.open_tool_uses), stop)
            return stop
        if then.continue_prompt is not None:
            self._append(ev.UserMessage(content=then.continue_prompt))
        return None

    # -- stopping --------------------------------------------------------------

    def _stop_interrupted(self, exc: errors.Interrupted) -> Outcome:
        self.calls.end_span(is_error=True, stop_reason="interrupted", turn=self.turn)
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
        self.calls.end_span(is_error=True, stop_reason="error", turn=self.turn)
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
            stop_reason=stop_reason, exit_code=code, turns=self.run_turns, usage=cost.usage,
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
        if isinstance(event, ev.ModelRequestEnd) and not event.is_error:
            self.turn = max(self.turn, event.turn)

    @property
    def _settings(self) -> ev.SessionCreated:
        assert self.settings is not None
        return self.settings

    @property
    def _limit(self) -> str:
        return f"the output limit ({self._settings.max_tokens} tokens)"

    @property
    def _cut_at(self) -> str:
        """Where the last response was cut: the output limit, or the context window."""
        full = self.context.last_stop_reason == "model_context_window_exceeded"
        return WINDOW_END if full else self._limit


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
