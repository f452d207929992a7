"""What a harness run is given and gives back: its limits, its observer, its outcome,
and the error results it records for tool calls that will not run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from . import errors
from . import events as ev
from .approvals import Call
from .cost import Cost
from .exit_codes import ExitCode

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

    def output(self, chunk: str) -> None:
        """A piece of the running tool call's output as it arrives, before it is recorded."""


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Limits of one wake. `token_budget` and `budget_usd` count the whole session."""

    max_turns: int | None = None
    token_budget: int | None = None
    budget_usd: float | None = None
    timeout_s: float | None = None
    max_retries: int = 4

    def reached(self, run_turns: int, session: Cost) -> str | None:
        """The stop reason of a limit the run has reached, if any."""
        if self.max_turns is not None and run_turns >= self.max_turns:
            return "max_turns"
        if self.token_budget is not None and session.usage.total >= self.token_budget:
            return "budget_reached"
        usd = session.usd
        if self.budget_usd is not None and usd is not None and usd >= self.budget_usd:
            return "budget_reached"
        return None


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """How a wake ended; `notice` says why, for a person, when it did not end its turn.
    `usage` and `cost` are this wake's."""

    stop_reason: str
    exit_code: ExitCode
    turns: int
    usage: ev.Usage = field(default_factory=ev.Usage)
    cost: Cost = field(default_factory=Cost)
    error: errors.TetherError | None = None
    notice: str | None = None
    pending: tuple[Call, ...] = ()  # requires_action: the calls that wait for a decision
