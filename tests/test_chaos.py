"""Chaos: the real harness SIGKILLed at 30+ seeded random points of a scripted
multi-tool session, resumed each time until the session ends, with the log's and
the workspace's invariants checked after every step.

Replay a failure with the seed it prints: TETHER_CHAOS_SEED=<seed> pytest tests/test_chaos.py
"""

from __future__ import annotations

import os
import random
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from e2e import assert_invariants, kill9, of_type, run, start, tether_env
from fakeapi import FakeAPI, validate
from faults import (
    COUNTER,
    RUNS,
    StepScript,
    WorkspaceReader,
    check_runs,
    check_seqs,
    check_tool_pairs,
    is_cut_short,
    parse_log,
    remove_home_resources,
)

from tether.core import events as ev
from tether.core.store import SessionStore

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SEED = int(os.environ.get("TETHER_CHAOS_SEED", "20261124"))
MIN_KILLS = 32
MAX_STEPS = 120
PROMPT = "Run the chaos script."
# 22 turns, 27 calls; every other turn streams for a second.
SCRIPT = StepScript(
    [[1], [2], [3, 4], [5], [6], [7], [8, 9], [10], [11], [12], [13], [14, 15], [16], [17],
     [18], [19, 20], [21], [22], [23], [24, 25], [26], [27]],
    slow_turns=frozenset(range(1, 22, 2)),
    sleep_s=0.3,
)  # fmt: skip


# Where a kill is aimed: after the step's first new event of a type (None: from the
# harness's start), a random delay in a range. Weighted so that start-up, waking, model
# streams and tool calls all get hit.
AIMS: list[tuple[str | None, float, float, float]] = [
    (None, 0.05, 0.7, 0.15),  # start-up: imports, the lock, reading and repairing the log
    ("session.status_running", 0.0, 0.05, 0.15),  # waking: closing what the dead one left
    ("span.model_request_start", 0.05, 0.9, 0.35),  # mid-stream on a slow turn
    ("agent.tool_use", 0.0, 0.35, 0.35),  # a call running, or its container provisioning
]


@dataclass(frozen=True)
class KillPoint:
    """Where a step's harness dies: `delay_s` after the step's first new `after` event
    (or after the harness started, if None)."""

    after: str | None
    delay_s: float

    def __str__(self) -> str:
        return f"SIGKILL {self.delay_s:.2f} s after {self.after or 'start'}"

    @classmethod
    def draw(cls, rng: random.Random, first: bool) -> KillPoint:
        aims = AIMS[1:] if first else AIMS  # the first `run` must live to create the session
        after, low, high, _ = rng.choices(aims, weights=[aim[3] for aim in aims])[0]
        return cls(after, rng.uniform(low, high))


@dataclass
class Chaos:
    """The state of one chaos run: the session, its kills, the steps so far."""

    session_id: str
    log_path: Path
    env: dict[str, str]
    api: FakeAPI
    rng: random.Random
    kills: int = 0
    steps: int = 0
    checked_requests: int = 0
    reader: WorkspaceReader | None = None
    history: str = ""
    torn_tails: int = 0
    phases: Counter[str] = field(default_factory=Counter)  # where the kills landed
    lines_before: int = 0

    def step(self, docker_client: object, image: str) -> bool:
        """Start a harness, maybe kill it, check everything; True once the session is done."""
        first = self.steps == 0
        args = ["run", "--session-id", self.session_id, PROMPT] if first else ["resume", "--last"]
        point = KillPoint.draw(self.rng, first) if self.kills < MIN_KILLS else None
        self.steps += 1
        self.history += f"\n  step {self.steps}: {args[0]}, {point or 'no kill'}"
        self.lines_before = _line_count(self.log_path)
        harness = start(args, self.env)
        killed = point is not None and self._kill_at(harness, point)
        _, stderr = harness.communicate(timeout=120)
        assert "Traceback" not in stderr and "unexpected" not in stderr, stderr
        if killed:
            self.kills += 1
            self.history += " -> killed"
        else:
            assert harness.returncode == 0, f"exit {harness.returncode}: {stderr}"
        return self.check(killed, docker_client, image)

    def _kill_at(self, harness: subprocess.Popen[str], point: KillPoint) -> bool:
        if point.after is not None:
            marker = f'"type":"{point.after}"'.encode()
            target = _log_bytes(self.log_path).count(marker) + 1
            while _log_bytes(self.log_path).count(marker) < target and harness.poll() is None:
                time.sleep(0.005)
        time.sleep(point.delay_s)
        if harness.poll() is not None:
            return False
        kill9(harness)
        return True

    def check(self, killed: bool, docker_client: object, image: str) -> bool:
        events = parse_log(self.log_path, torn_tail_ok=killed)
        if killed:
            self.torn_tails += not self.log_path.read_bytes().endswith(b"\n")
            self.phases[_phase(events[self.lines_before :])] += 1
        check_seqs(events)
        done = _finished(events)
        check_tool_pairs(events, all_closed=done)
        if killed and not done:
            assert SessionStore().open(self.session_id).status() == "crashed"
        self._check_requests()
        if self.reader is None and of_type(events, ev.SandboxProvisioned):
            self.reader = WorkspaceReader(docker_client, image, self.session_id)
        if self.reader is not None:
            check_runs(events, self.reader.lines(RUNS))
            _check_counter_prefix(self.reader.lines(COUNTER))
        return done

    def _check_requests(self) -> None:
        """The model never got a conversation the API would refuse (half-used responses)."""
        requests = self.api.requests
        for request in requests[self.checked_requests :]:
            assert validate(request.body) is None, validate(request.body)
        self.checked_requests = len(requests)


def _log_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def _line_count(path: Path) -> int:
    return _log_bytes(path).count(b"\n")


def _phase(new: list[ev.Event]) -> str:
    """Where a harness was when it died, from the events it appended."""
    if not new:
        return "start-up"
    last = new[-1]
    if isinstance(last, ev.ModelRequestStart):
        return "model stream"
    if isinstance(last, ev.ModelRequestEnd | ev.SandboxProvisioned | ev.SandboxLost):
        return "tool call"  # or provisioning its container
    if isinstance(last, ev.AgentToolResult) and not is_cut_short(last):
        return "after a tool call"
    if isinstance(last, ev.StatusIdle | ev.SandboxReleased):
        return "end"
    return "waking"  # status_running, the interrupted calls' results


def _finished(events: list[ev.Event]) -> bool:
    statuses = [e for e in events if isinstance(e, ev.StatusRunning | ev.StatusIdle)]
    return (
        bool(statuses)
        and isinstance(statuses[-1], ev.StatusIdle)
        and (statuses[-1].stop_reason == "end_turn")
    )


def _check_counter_prefix(counter: list[str]) -> None:
    """Each call's effect at most once, in the script's order."""
    assert counter == SCRIPT.calls[: len(counter)], f"counter out of order or doubled: {counter}"


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI(responder=SCRIPT) as server:
        yield server


@pytest.fixture
def homes(tmp_path: Path, tether_home: Path, docker_client) -> Iterator[tuple[Path, Path]]:  # type: ignore[no-untyped-def]
    """The chaos run's data dir and the uninterrupted reference run's; cleaned by label."""
    reference = tmp_path / "reference-home"
    reference.mkdir()
    yield tether_home, reference
    for home in (tether_home, reference):
        remove_home_resources(docker_client, home)


def reference_counter(api: FakeAPI, home: Path, image: str, docker_client: object) -> list[str]:
    """The counter file of the same script run once without kills."""
    session_id = f"chaos-ref-{uuid.uuid4().hex[:8]}"
    env = tether_env(api.base_url, image, TETHER_HOME=str(home))
    result = run(["run", "--session-id", session_id, PROMPT], env, timeout=120)
    assert result.returncode == 0, result.stderr
    with WorkspaceReader(docker_client, image, session_id, home) as reader:
        assert reader.names() == ["counter", "runs"]
        return reader.lines(COUNTER)


@pytest.mark.timeout(1500)
def test_sigkill_at_random_points_loses_nothing_and_runs_nothing_twice(
    api: FakeAPI, homes: tuple[Path, Path], docker_client, test_image: str
) -> None:
    home, reference_home = homes
    started = time.monotonic()
    expected = reference_counter(api, reference_home, test_image, docker_client)
    assert expected == SCRIPT.calls
    reference_s = time.monotonic() - started

    session_id = f"chaos-{SEED}-{uuid.uuid4().hex[:6]}"
    chaos = Chaos(
        session_id=session_id,
        log_path=home / "sessions" / session_id / "events.jsonl",
        env=tether_env(api.base_url, test_image),
        api=api,
        rng=random.Random(SEED),
    )
    print(f"chaos seed {SEED} (replay: TETHER_CHAOS_SEED={SEED})")
    try:
        while not chaos.step(docker_client, test_image):
            assert chaos.steps < MAX_STEPS, "the session never finished"
        assert chaos.kills >= MIN_KILLS, f"the session ended after only {chaos.kills} kills"
        assert chaos.reader is not None
        events = parse_log(chaos.log_path)
        assert_invariants(events)
        results = of_type(events, ev.AgentToolResult)
        interrupted = [r for r in results if is_cut_short(r)]
        assert chaos.reader.lines(COUNTER) == expected  # the final workspace
        assert chaos.reader.names() == ["counter", "runs"]
        label = f"tether.session={session_id}"
        left = docker_client.containers.list(all=True, filters={"label": label})
    except AssertionError as exc:
        raise AssertionError(
            f"chaos seed {SEED} (replay: TETHER_CHAOS_SEED={SEED}), after {chaos.kills} kills "
            f"in {chaos.steps} steps:{chaos.history}\n{exc}"
        ) from exc
    finally:
        if chaos.reader is not None:
            chaos.reader.close()
    print(
        f"chaos: {chaos.kills} kills in {chaos.steps} steps, {len(results)} tool results "
        f"({len(interrupted)} interrupted), {len(api.requests)} model requests, "
        f"{len(left)} containers of killed harnesses left running, {chaos.torn_tails} torn "
        f"tails; kills in: {dict(chaos.phases.most_common())}; "
        f"reference run {reference_s:.1f} s, all {time.monotonic() - started:.1f} s"
    )
