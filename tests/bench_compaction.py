"""Long-run benchmark: one scripted 200-turn session with realistic tool output, run
with context management (compaction at 80% of a 200k-token window) and without it.

    .venv/bin/python tests/bench_compaction.py [--turns N]

The model is the fake API; each turn calls `bash` in the real sandbox, whose output
is like an agent's day: mostly short (a status, a listing, an edit), some file reads
and greps, and now and then a long test run or log (about 12 KB a call on average).
Compaction requests get a summary of about 1,500 tokens, as real ones are. Without
context management the requests outgrow the window about a third of the way in: the
real API would refuse them, so that run's fake enforces no window, to measure what
it would have sent.

Figures, side by side: the largest request (the fake's count), the input tokens billed
(fresh, cache write and cache read), the cache read share, the estimated cost (the
default model's list price) and the harness's own time per turn (the run's time less
the model requests' and the tool calls'). Bars: the largest request stays under the
window, and the input tokens fall at least 3×.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from benchlib import TETHER, Row, env_for, home, print_table, scratch
from fakeapi import FakeAPI, Reply, Request, compaction, text, tool_use

from tether.core import events as ev
from tether.core.cost import session_cost
from tether.core.store import SessionStore

WINDOW = 200_000
SUMMARY = " ".join(
    f"Step {n}: ran the checks of module {n}, fixed the failing case in src/mod{n:02d}.py, "
    "and noted what is still open."
    for n in range(60)
)  # about 1,500 tokens
# The output of the calls, cycled: (lines, characters a line), about 9 KB a call on average.
SIZES = ((30, 60), (40, 70), (160, 80), (20, 50), (560, 75), (40, 60), (150, 70), (60, 60))
COMMAND = (
    "f=$(printf '{fill}%.0s' $(seq 1 {width})); "
    "for i in $(seq 1 {lines}); do printf '%s %05d: %s\\n' {kind} $i \"$f\"; done"
)


def command(turn: int) -> str:
    """A bash command whose output is the size of turn `turn`'s, different each turn."""
    lines, width = SIZES[turn % len(SIZES)]
    kind = (f"src/mod{turn % 40:02d}.py", f"tests::test_{turn:03d}", "log")[turn % 3]
    return COMMAND.format(fill="abcdefgh"[turn % 8], width=width - 20, lines=lines, kind=kind)


class Script:
    """`turns` model turns: a short thought and a bash call each, then a last answer."""

    def __init__(self, turns: int) -> None:
        self.turns = turns
        self.made = 0

    def __call__(self, request: Request) -> Reply:
        if self.made >= self.turns - 1:
            return text("Done: every module checks out.")
        self.made += 1
        thought = text(f"Turn {self.made}: checking the next part.")
        return thought + tool_use("bash", {"command": command(self.made)})


class SummarizingAPI(FakeAPI):
    """The fake, answering every compaction request with a summary of real length."""

    def _compaction_reply(self, request: Request) -> Reply:
        return compaction(SUMMARY)


@dataclass(frozen=True)
class Figures:
    largest: int
    billed: int
    cache_share: float
    usd: float
    harness_ms_per_turn: float
    turns: int
    compactions: int


def measure(data_dir: Path, turns: int, managed: bool) -> Figures:
    window = WINDOW if managed else None
    with SummarizingAPI(responder=Script(turns), context_window=window) as api:
        flags = ["--context-window", str(WINDOW), "--max-turns", str(turns + 20)]
        flags += [] if managed else ["--no-compaction"]
        env = env_for(data_dir, api.base_url)
        done = subprocess.run([*TETHER, "run", "--json", "-q", *flags, "check every module"],
                              env=env, capture_output=True, text=True, timeout=3600)  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"the {'managed' if managed else 'plain'} run failed: {done.stderr}")
        largest = max(r.tokens for r in api.requests)
    session_id = json.loads(done.stdout.splitlines()[-1])["session_id"]
    events = SessionStore(data_dir / "sessions").open(session_id).read()
    cost = session_cost(events)
    return Figures(
        largest=largest, billed=cost.input_tokens, cache_share=cost.cache_hit_ratio,
        usd=cost.usd or 0.0, harness_ms_per_turn=harness_ms(events) / max(1, _turns(events)),
        turns=_turns(events), compactions=cost.compactions,
    )  # fmt: skip


def harness_ms(events: list[ev.Event]) -> float:
    """The run's wall time less the time in model requests and in tool calls."""
    start = next(e for e in events if isinstance(e, ev.StatusRunning))
    end = next(e for e in reversed(events) if isinstance(e, ev.StatusIdle))
    wall = (_time(end) - _time(start)) * 1000
    model = sum(e.duration_ms for e in events if isinstance(e, ev.ModelRequestEnd))
    tools = sum(e.duration_ms for e in events if isinstance(e, ev.AgentToolResult))
    return wall - model - tools


def _time(event: ev.Event) -> float:
    return datetime.fromisoformat(event.ts.replace("Z", "+00:00")).timestamp()


def _turns(events: list[ev.Event]) -> int:
    return max((e.turn for e in events if isinstance(e, ev.ModelRequestEnd)), default=0)


def rows(work: Path, turns: int = 200) -> list[Row]:
    data_dir = home(work, "compaction")
    plain = measure(data_dir, turns, managed=False)
    managed = measure(data_dir, turns, managed=True)
    base = f"{turns} turns, no context management"
    fewer = plain.billed / managed.billed if managed.billed else 0.0
    return [
        Row(f"{turns} turns: largest request", managed.largest, "tok", base, plain.largest,
            f"≤ {WINDOW:,} tok", managed.largest <= WINDOW),
        Row(f"{turns} turns: input tokens billed", managed.billed, "tok", base, plain.billed,
            "≤ baseline / 3", fewer >= 3),
        Row(f"{turns} turns: cache read share", managed.cache_share * 100, "%", base,
            plain.cache_share * 100),
        Row(f"{turns} turns: estimated cost", managed.usd, "USD", base, plain.usd),
        Row(f"{turns} turns: harness time per turn", managed.harness_ms_per_turn, "ms", base,
            plain.harness_ms_per_turn),
        Row(f"{turns} turns: compactions", managed.compactions, "", base, plain.compactions),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=200)
    args = parser.parse_args()
    with scratch() as work:
        print_table(rows(work, args.turns))


if __name__ == "__main__":
    main()
