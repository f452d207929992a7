"""The tool calls a run has open: each run once its permission allows, or closed with
an error result that says why it did not run (or may have run in part).

The harness asks this for every open call, in call order; what the calls are and
how they run is the toolbox's, and who may run them is the approvals' gate.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import events as ev
from .approvals import RUN, WAIT, Approvals, Gate
from .calls import Append
from .outcomes import INTERRUPTED_RESULT, NOT_RUN_RESULT
from .toolbox import Toolbox


class OpenCalls:
    """Runs and closes a session's open tool calls, appending each result."""

    def __init__(self, tools: Toolbox, approvals: Approvals, gate: Gate, append: Append) -> None:
        self.tools = tools
        self.approvals = approvals
        self.gate = gate
        self.append = append
        self.running: str | None = None  # the call being run now

    def run(self, open_ids: Sequence[str]) -> bool:
        """Run the open calls in order, each once its permission allows; False when one
        waits for a decision that nobody here can give."""
        for use_id in open_ids:
            verdict = self.gate.check(use_id)
            if verdict.kind == WAIT:
                return False
            if verdict.kind == RUN:
                call = self.approvals.calls[use_id]
                self.running = use_id
                self.append(self.tools.run(call))
                self.running = None
                if call.server is None:  # a sandbox call may change files: a checkpoint
                    self.tools.hands.checkpoint(use_id, call.name)
            else:
                self.append(self.error_result(use_id, verdict.message))
        return True

    def close_after_crash(self, open_ids: Sequence[str], cut_result: str | None) -> None:
        """Give the calls a dead harness may have started an error result, so none is
        re-run: interrupted, or, for the last call of a cut response (`cut_result`), never
        started. A call that waited for a decision (and the calls after it) never
        started: it is asked again."""
        for use_id in self.approvals.before_question(open_ids):
            last = use_id == open_ids[-1]
            message = cut_result if cut_result is not None and last else INTERRUPTED_RESULT
            self.append(self.error_result(use_id, message))

    def close_running(self, open_ids: Sequence[str], reason: str) -> None:
        """The call that was running may have run in part (its output so far is kept); a
        call the sandbox never started, and the ones after it, did not run. A call that
        waited for a decision stays open, to be asked again on resume."""
        call = self.tools.hands.current  # the sandbox's side: how far the call got
        for use_id in self.approvals.before_question(open_ids):
            if use_id != self.running:
                self.append(self.error_result(use_id, NOT_RUN_RESULT.format(reason=reason)))
            elif call is None or call.use_id != use_id:  # an MCP call: it may have run
                self.append(self.error_result(use_id, INTERRUPTED_RESULT))
            elif call.executing:
                self.append(call.stopped(reason))
            else:  # the sandbox was still starting: the call itself never began
                self.append(self.error_result(use_id, NOT_RUN_RESULT.format(reason=reason)))

    def close_unrun(self, open_ids: Sequence[str], reason: str) -> None:
        """A stopped turn's calls never run: each gets a result saying so."""
        for use_id in open_ids:
            self.append(self.error_result(use_id, NOT_RUN_RESULT.format(reason=reason)))

    def error_result(self, use_id: str, message: str) -> ev.Event:
        return self.tools.error_result(self.approvals.calls[use_id], message)
