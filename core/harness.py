"""The brain: a stateless loop that wakes on a session log and carries it on.

`Harness.wake()` reads the log, closes what a dead harness left open, then
alternates model requests and tool calls until the model ends its turn or a
limit stops it. Everything it knows comes from the log, and everything it does
is appended (and fsynced) before anything acts on it, so it can be killed at
any instant and a new harness continues from the log.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from . import __version__, errors, paths
from . import events as ev
from .approvals import RUN, WAIT, Approvals, Asker, Call, Gate
from .checkpoints import SessionWorkspace
from .config import parse_size
from .context import Context
from .exit_codes import ExitCode, for_error, for_stop_reason
from .hands import Hands
from .interrupts import InterruptGuard
from .mcp_client import MCPClients
from .model import (
    ContentBlock,
    ModelClient,
    ModelResponse,
    RedactedThinkingBlock,
    RetryableModelError,
    TextBlock,
    ThinkingBlock,
    retry_delay,
)
from .request import build_request
from .sandbox.protocol import Resources, Sandbox
from .session import EventLog
from .stop_reasons import CUT_STOPS, after_response, continue_prompt, cut_call_result
from .toolbox import Toolbox

log = logging.getLogger(__name__)

INTERRUPTED_RESULT = (
    "Interrupted: the harness stopped while this tool call was running, so it may or may "
    "not have run, in part or in full. Check its effects before running it again."
)
NOT_RUN_RESULT = "Not run: the run stopped ({reason}) before this tool call started."
STOP_NOTICES = {
    "refusal": "the model declined to continue (stop_reason refusal); resume with a "
    "different prompt",
    "max_tokens": "the model's responses kept being cut at --max-tokens ({limit}); resume "
    "to let it go on, or raise --max-tokens",
    "model_context_window_exceeded": "the conversation filled the model's context window",
}


class Observer(Protocol):
    """What the harness tells whoever is watching (the CLI renders it)."""

    def event(self, event: ev.Event) -> None:
        """An event that has just been appended (and fsynced)."""

    def text(self, delta: str) -> None:
        """A piece of the model's text as it streams in, before it is recorded."""

    def thinking(self, delta: str) -> None:
        """A piece of the model's thinking as it streams in ("" starts a thinking block)."""


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Limits of one wake. `token_budget` counts the whole session's tokens."""

    max_turns: int | None = None
    token_budget: int | None = None
    timeout_s: float | None = None
    max_retries: int = 4


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """How a wake ended; `notice` says why, for a person, when it did not end its turn."""

    stop_reason: str
    exit_code: ExitCode
    turns: int
    usage: ev.Usage = field(default_factory=ev.Usage)
    error: errors.TetherError | None = None
    notice: str | None = None
    pending: tuple[Call, ...] = ()  # requires_action: the calls that wait for a decision


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
    ) -> None:
        self.session = session
        self.workspaces = workspaces
        self.model = model
        self.sandbox = sandbox
        self.observer = observer
        self.limits = limits or Limits()
        self.context = Context()
        self.settings: ev.SessionCreated | None = None
        self.session_usage = ev.Usage()
        self.run_usage = ev.Usage()
        self.turn = 0
        self.run_turns = 0
        self.mcp = mcp if mcp is not None else MCPClients({})
        self.approvals = Approvals()
        self.gate = Gate(self.approvals, asker, self._append)
        self.tools: Toolbox  # made in _load: what the sandbox is made of is in the log
        self._crashed = False  # the last harness stopped without saying so
        self._cuts_in_a_row = 0
        self._open_span: str | None = None  # the id of a span.model_request_start not yet ended
        self._gave_up: errors.ModelError | None = None  # why retries ran out, for the person
        self._guard = InterruptGuard(self.limits.timeout_s)

    # -- the run ---------------------------------------------------------------

    def wake(self, prompt: str | None = None) -> Outcome:
        """Carry the session on, after `prompt` if one is given, until the model ends
        its turn or something stops it."""
        self.session.lock.acquire()
        try:
            with self._guard:
                return self._wake_locked(prompt)
        finally:
            self.session.lock.release()

    def _wake_locked(self, prompt: str | None) -> Outcome:
        self._load(self.session.read())
        try:
            self._append(
                ev.StatusRunning(
                    pid=os.getpid(), host=socket.gethostname(), tether_version=__version__
                )
            )
            self._close_open_tool_uses()
            self._take_prompt(prompt)
            self.tools.hands.wake()
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
        outcome = self._outcome(
            stop_reason, for_stop_reason(stop_reason), error=self._gave_up, notice=notice or None
        )
        return replace(outcome, pending=waiting)

    def _load(self, events: list[ev.Event]) -> None:
        if not events or not isinstance(events[0], ev.SessionCreated):
            raise errors.LogCorrupt(
                f"session {self.session.id} does not start with session.created"
            )
        self.settings = settings = events[0]
        resources = Resources(
            session_id=self.session.id, image=settings.image, workspace=settings.workspace,
            network=settings.network, memory=settings.memory, cpus=settings.cpus,
            pids_limit=settings.pids_limit, max_output=_max_output(settings.max_output),
        )  # fmt: skip
        workspace = self.workspaces and self.workspaces(self.session.id, settings, events)
        hands = Hands(
            self.sandbox, resources, self._append, tools=settings.tools, workspace=workspace
        )
        self.tools = Toolbox(
            settings, hands, self.mcp, self._append, paths.session_files(self.session.id)
        )
        self.tools.load(events)
        statuses = [e for e in events if e.TYPE in ev.STATUS_TYPES]
        self._crashed = bool(statuses) and isinstance(statuses[-1], ev.StatusRunning)
        for event in events:
            self._track(event)

    def _take_prompt(self, prompt: str | None) -> None:
        """The new prompt, after the results of any calls a dead harness left open; or,
        with none, a request to go on with an answer that was cut."""
        if prompt is not None:
            self._append(ev.UserMessage(content=prompt))
        elif not self.context.needs_model() and self.context.last_stop_reason in CUT_STOPS:
            self._append(ev.UserMessage(content=continue_prompt(self._limit)))

    def _loop(self) -> str:
        while True:
            if self.context.open_tool_uses and not self._run_tools():
                return "requires_action"
            if not self.context.needs_model():
                return "refusal" if self.context.last_stop_reason == "refusal" else "end_turn"
            if self.limits.max_turns is not None and self.run_turns >= self.limits.max_turns:
                return "max_turns"
            budget = self.limits.token_budget
            if budget is not None and self.session_usage.total >= budget:
                return "budget_reached"
            response = self._request()
            if response is None:
                return "retries_exhausted"
            stop = self._handle_stop_reason(response)
            if stop is not None:
                return stop

    # -- the model -------------------------------------------------------------

    def _request(self) -> ModelResponse | None:
        """One model response, fully recorded; None once retries are exhausted."""
        request = build_request(self._settings, self.context.messages, self.tools.definitions())
        for attempt in range(self.limits.max_retries + 1):
            start = ev.ModelRequestStart(model=self._settings.model)
            self._open_span = start.id  # before the append: an interrupt may follow it at once
            self._append(start)
            started = time.monotonic()
            try:
                response = self.model.create(
                    request, on_text=self.observer.text, on_thinking=self.observer.thinking
                )
            except RetryableModelError as exc:
                if not self._record_retry(exc, attempt, started):
                    self._gave_up = errors.ModelError(
                        f"the model API failed {attempt + 1} times in a row; the last: {exc}"
                    )
                    return None
                time.sleep(retry_delay(attempt, exc.retry_after_s))
                continue
            except errors.ModelError:
                self._end_span(started, is_error=True, stop_reason="error")
                raise
            self._record_response(response, started)
            return response
        return None

    def _record_retry(self, exc: RetryableModelError, attempt: int, started: float) -> bool:
        """Record a failed attempt; False when it was the last one allowed."""
        self._end_span(started, is_error=True, stop_reason="error")
        exhausted = attempt >= self.limits.max_retries
        self._append(
            ev.SessionError(
                error_type=exc.error_type,
                message=str(exc),
                retry_status="exhausted" if exhausted else "retrying",
            )
        )
        return not exhausted

    def _record_response(self, response: ModelResponse, started: float) -> None:
        """All of a response's content and its span end, with a single fsync."""
        self.turn += 1
        self.run_turns += 1
        self.run_usage += response.usage
        content = [self._content_event(block) for block in response.content]
        end = ev.ModelRequestEnd(
            model=response.model or self._settings.model,
            model_request_start_id=self._open_span or "",
            usage=response.usage,
            stop_reason=response.stop_reason,
            duration_ms=_ms_since(started),
            turn=self.turn,
        )
        self._open_span = None
        self._append(*content, end)

    def _handle_stop_reason(self, response: ModelResponse) -> str | None:
        """Record what the response's stop reason calls for; a stop reason ends the run."""
        cut = response.stop_reason in CUT_STOPS
        self._cuts_in_a_row = self._cuts_in_a_row + 1 if cut else 0
        then = after_response(response, self._cuts_in_a_row, self._limit)
        for use_id in then.cut_calls:
            self._append(self._error_result(use_id, cut_call_result(self._limit)))
        if then.stop is not None:
            for use_id in list(self.context.open_tool_uses):  # a stopped turn's calls never run
                self._append(self._error_result(use_id, NOT_RUN_RESULT.format(reason=then.stop)))
            return then.stop
        if then.continue_prompt is not None:
            self._append(ev.UserMessage(content=then.continue_prompt))
        return None

    def _end_span(self, started: float, *, is_error: bool, stop_reason: str) -> None:
        if self._open_span:
            start_id, self._open_span = self._open_span, None
            self._append(
                ev.ModelRequestEnd(
                    model=self._settings.model,
                    model_request_start_id=start_id,
                    duration_ms=_ms_since(started),
                    is_error=is_error,
                    stop_reason=stop_reason,
                    turn=self.turn,
                )
            )

    # -- tools -----------------------------------------------------------------

    def _run_tools(self) -> bool:
        """Run the open calls in order, each once its permission allows; False when one
        waits for a decision that nobody here can give."""
        for use_id in list(self.context.open_tool_uses):
            verdict = self.gate.check(use_id)
            if verdict.kind == WAIT:
                return False
            if verdict.kind == RUN:
                call = self.approvals.calls[use_id]
                self._append(self.tools.run(call))
                if call.server is None:
                    self.tools.hands.checkpoint(use_id, call.name)
            else:
                self._append(self._error_result(use_id, verdict.message))
        return True

    def _close_open_tool_uses(self) -> None:
        """After a crash, give the calls the dead harness may have started an error result,
        so none is re-run: interrupted, or never started if its response was cut. A call
        that waited for a decision (and the calls after it) never started: asked again."""
        if not self._crashed:
            return  # it stopped cleanly: any open call still waits for a decision
        cut = self.context.last_stop_reason in CUT_STOPS
        open_ids = list(self.context.open_tool_uses)
        for use_id in self.approvals.before_question(open_ids):
            last = use_id == open_ids[-1]
            message = cut_call_result(self._limit) if cut and last else INTERRUPTED_RESULT
            self._append(self._error_result(use_id, message))

    def _error_result(self, use_id: str, message: str) -> ev.Event:
        return self.tools.error_result(self.approvals.calls[use_id], message)

    # -- stopping --------------------------------------------------------------

    def _stop_interrupted(self, exc: errors.Interrupted) -> Outcome:
        started = time.monotonic()
        self._end_span(started, is_error=True, stop_reason="interrupted")
        killed = exc.signum == signal.SIGTERM and self._take_kill_request()
        reason = "kill" if killed else exc.reason
        self._close_running_tool(reason)
        self._append(ev.UserInterrupt(reason=reason))
        self.tools.release(reason)
        if killed:
            self._append(ev.StatusTerminated(by="kill"))
            return self._outcome("terminated", ExitCode.TERMINATED)
        stop_reason = "timeout" if exc.reason == "timeout" else "interrupted"
        self._append(ev.StatusIdle(stop_reason=stop_reason))
        code = for_stop_reason(stop_reason) if stop_reason == "timeout" else for_error(exc)
        return self._outcome(stop_reason, code)

    def _close_running_tool(self, reason: str) -> None:
        """The call that was running may have run in part; the ones after it did not run.
        A call that waited for a decision stays open, to be asked again on resume."""
        open_ids = self.approvals.before_question(self.context.open_tool_uses)
        for index, use_id in enumerate(open_ids):
            message = INTERRUPTED_RESULT if index == 0 else NOT_RUN_RESULT.format(reason=reason)
            self._append(self._error_result(use_id, message))

    def _stop_on_error(self, exc: errors.TetherError) -> Outcome:
        if isinstance(exc, errors.StorageError | errors.LogCorrupt):
            self.tools.release(None)
            raise exc  # the log cannot take more events; it reads as crashed, and resumable
        self._end_span(time.monotonic(), is_error=True, stop_reason="error")
        self._close_running_tool(type(exc).__name__)
        self._append(
            ev.SessionError(
                error_type=type(exc).__name__, message=str(exc), retry_status="terminal"
            )
        )
        self.tools.release("error")
        self._append(ev.StatusIdle(stop_reason="error"))
        return self._outcome("error", for_error(exc), error=exc)

    def _take_kill_request(self) -> bool:
        return take_kill_request(self.session)

    def _outcome(
        self,
        stop_reason: str,
        code: ExitCode,
        error: errors.TetherError | None = None,
        notice: str | None = None,
    ) -> Outcome:
        return Outcome(
            stop_reason=stop_reason,
            exit_code=code,
            turns=self.run_turns,
            usage=self.run_usage,
            error=error,
            notice=notice,
        )

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
        if isinstance(event, ev.ModelRequestEnd) and not event.is_error:
            self.turn = max(self.turn, event.turn)
            self.session_usage += event.usage

    @property
    def _settings(self) -> ev.SessionCreated:
        assert self.settings is not None
        return self.settings

    @property
    def _limit(self) -> str:
        return f"{self._settings.max_tokens} tokens"

    def _content_event(self, block: ContentBlock) -> ev.Event:
        if isinstance(block, TextBlock):
            return ev.AgentMessage(content=block.text)
        if isinstance(block, ThinkingBlock):
            return ev.AgentThinking(content=block.thinking, signature=block.signature)
        if isinstance(block, RedactedThinkingBlock):
            return ev.AgentThinking(content="", data=block.data)
        return self.tools.use_event(block)  # a tool call, with what the policy says of it


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


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _max_output(text: str) -> int:
    """The output cap a log recorded, in bytes; the default if the log's is not a size."""
    try:
        return parse_size(text)
    except ValueError:
        log.warning("max_output %r in the log is not a size; keeping 64m per call", text)
        return parse_size("64m")
