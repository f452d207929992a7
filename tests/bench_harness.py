"""Harness benchmarks, each beside a baseline measured in the same run.

    .venv/bin/python tests/bench_harness.py [--runs N] [--calls N] [--sessions N]

1. `tether run` start → first request at the model server, against a bare
   `python -c "import anthropic"` and a bare Python process sending the same request.
2. The gap between one model request and the next when the model called `bash` with
   `true` (container round trip, fsynced events, the next request), against `docker
   exec` of `true` on the same kind of container.
3. `tether resume` of a 10,000-event session → its first model request, and the
   harness's peak memory, against resuming a 10-event session.
4. N sessions of TURNS bash calls at once (separate `tether run`s against one fake API,
   each following its own script, in sandboxes of 256 MB and half a CPU) against one
   alone: tool calls per second from start to last exit, and each harness's peak memory
   and CPU time (its own rusage from wait4).

Needs a Docker engine and the test image (TETHER_TEST_IMAGE; tests/run.sh builds it).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchlib import (
    IMAGE,
    TETHER,
    Row,
    at_most,
    command_ms,
    env_for,
    home,
    peak_mb,
    print_table,
    scratch,
    start,
    timings_ms,
    wait_usage,
)
from fakeapi import FakeAPI, Reply, Request, text, tool_use

MODEL = "claude-sonnet-5-5"


class TimedAPI(FakeAPI):
    """The fake API, noting when each request arrived and when its answer was sent."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.arrived: list[float] = []
        self.answered: list[float] = []

    def handle(self, h) -> None:  # type: ignore[no-untyped-def]
        self.arrived.append(time.perf_counter())
        super().handle(h)
        self.answered.append(time.perf_counter())

    def __enter__(self) -> TimedAPI:
        self.start()
        return self


def rows(work: Path, runs: int = 5, calls: int = 60, sessions: int = 20) -> list[Row]:
    one = home(work, "harness")
    return [*bench_first_request(one, runs), bench_preflight(one, runs),
            bench_gap(one, calls), *bench_resume(one, runs),
            *bench_concurrent(home(work, "concurrent"), sessions)]  # fmt: skip


# -- run → first request ----------------------------------------------------------------

BARE_CLIENT = f"""
import anthropic
client = anthropic.Anthropic(max_retries=0)
with client.messages.stream(model="{MODEL}", max_tokens=8192,
                            messages=[{{"role": "user", "content": "hi"}}]) as stream:
    stream.get_final_message()
"""


def first_request_ms(command: list[str], env: dict[str, str]) -> float:
    """Milliseconds from starting `command` to its first request at a fresh fake API."""
    with TimedAPI(default=text("ok")) as api:
        started = time.perf_counter()
        subprocess.run(command, env=env | {"ANTHROPIC_BASE_URL": api.base_url}, check=True,
                       capture_output=True)  # fmt: skip
        return (api.arrived[0] - started) * 1000


def bench_first_request(data_dir: Path, runs: int) -> list[Row]:
    env = env_for(data_dir)
    ours = median_of(lambda: first_request_ms([*TETHER, "run", "-q", "hi"], env), runs)
    bare = median_of(lambda: first_request_ms([sys.executable, "-c", BARE_CLIENT], env), runs)
    imports = command_ms([sys.executable, "-c", "import anthropic"], env, runs)
    return [
        Row("run → first model request", ours, "ms", "python -c 'import anthropic'", imports),
        Row("run → first model request", ours, "ms", "bare SDK process, same request", bare,
            "≤ baseline + 150 ms", ours <= bare + 150),
    ]  # fmt: skip


# -- a missing image: found before the model answers --------------------------------------

SLOW_ANSWER = tool_use("bash", {"command": "ls"}, event_delay_s=0.25)  # about 2 s to stream


def missing_image_ms(env: dict[str, str]) -> tuple[float, float]:
    """(ms from `tether run` to its exit 7, ms the model takes to answer the same request)."""
    with TimedAPI([SLOW_ANSWER, SLOW_ANSWER]) as api:
        env = env | {"ANTHROPIC_BASE_URL": api.base_url}
        started = time.perf_counter()
        done = subprocess.run([*TETHER, "run", "-q", "--image", "tether-no-such:1", "hi"],
                              env=env, capture_output=True)  # fmt: skip
        ours = (time.perf_counter() - started) * 1000
        assert done.returncode == 7, done.stderr
        return ours, _answer_ms(api.base_url)


def _answer_ms(base_url: str) -> float:
    import anthropic

    client = anthropic.Anthropic(api_key="sk-bench", base_url=base_url, max_retries=0)
    started = time.perf_counter()
    with client.messages.stream(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        stream.get_final_message()
    return (time.perf_counter() - started) * 1000


def bench_preflight(data_dir: Path, runs: int) -> Row:
    measured = [missing_image_ms(env_for(data_dir)) for _ in range(max(1, runs // 2))]
    ours = statistics.median(m[0] for m in measured)
    answer = statistics.median(m[1] for m in measured)
    return Row("missing image: run → exit 7", ours, "ms", "the model's answer to it", answer,
               "< baseline (not paid)", ours < answer)  # fmt: skip


def median_of(measure, runs: int) -> float:  # type: ignore[no-untyped-def]
    """The median of `runs` calls of `measure`, after one unmeasured call."""
    return statistics.median([measure() for _ in range(runs + 1)][1:])


# -- gap between requests ---------------------------------------------------------------


def bench_gap(data_dir: Path, calls: int) -> Row:
    replies = [tool_use("bash", {"command": "true"}) for _ in range(calls)] + [text("done")]
    with TimedAPI(replies) as api:
        subprocess.run([*TETHER, "run", "-q", "loop"], env=env_for(data_dir, api.base_url),
                       check=True, capture_output=True)  # fmt: skip
        # skip the first gap: it provisions the container
        gaps = [(api.arrived[i + 1] - api.answered[i]) * 1000 for i in range(1, calls)]
    gap, exec_true = statistics.median(gaps), statistics.median(docker_exec_ms(calls))
    return Row("gap between requests, bash true", gap, "ms", "docker exec true", exec_true,
               *at_most(gap, 15, "ms"))  # fmt: skip


def docker_exec_ms(calls: int) -> list[float]:
    import docker

    client = docker.from_env()
    container = client.containers.run(IMAGE, ["sleep", "infinity"], detach=True, init=True,
                                      network_mode="none")  # fmt: skip
    try:
        return timings_ms(lambda: container.exec_run(["true"]), calls)
    finally:
        container.remove(force=True)
        client.close()


# -- resume -----------------------------------------------------------------------------


def make_session(data_dir: Path, events: int) -> str:
    """A finished session of about `events` events: bash calls and their results."""
    from tether.core import events as ev
    from tether.core.store import SessionStore

    session_id = f"bench-{events}-{time.monotonic_ns()}"
    first = ev.SessionCreated(session_id=session_id, model=MODEL, tools=("bash",), image=IMAGE)
    log = SessionStore(data_dir / "sessions").create(first, session_id)
    batch: list[ev.Event] = [ev.UserMessage(content="start")]
    turn = 0
    while len(batch) < events - 6:
        turn += 1
        use_id = f"toolu_{turn:06d}"
        batch += [
            ev.ModelRequestStart(model="m"),
            ev.AgentToolUse(tool_use_id=use_id, name="bash", input={"command": f"echo {turn}"}),
            ev.ModelRequestEnd(model="m", usage=ev.Usage(input_tokens=100, output_tokens=20),
                               turn=turn),
            ev.AgentToolResult(tool_use_id=use_id, content=f"{turn}\n" * 5),
        ]  # fmt: skip
    log.append_many([*batch, ev.StatusIdle(stop_reason="end_turn")])
    log.close()
    return session_id


def resume(data_dir: Path, events: int) -> tuple[float, float]:
    """Milliseconds from `tether resume` of a new session of `events` events to its first
    request, and the harness's peak memory in MB."""
    session_id = make_session(data_dir, events)
    with TimedAPI(default=text("ok")) as api:
        started = time.perf_counter()
        process = start([*TETHER, "resume", "-q", session_id, "and now?"],
                        env_for(data_dir, api.base_url))  # fmt: skip
        peak = peak_mb(wait_usage(process))
        return (api.arrived[0] - started) * 1000, peak


def bench_resume(data_dir: Path, runs: int) -> list[Row]:
    big = [resume(data_dir, 10_000) for _ in range(runs)]
    small = [resume(data_dir, 10) for _ in range(runs)]
    big_ms, small_ms = (statistics.median(ms for ms, _ in series) for series in (big, small))
    big_mb, small_mb = (max(mb for _, mb in series) for series in (big, small))
    return [
        Row("resume 10,000 events → first request", big_ms, "ms", "10-event session", small_ms,
            *at_most(big_ms, 1500, "ms")),
        Row("resume 10,000 events: peak RSS", big_mb, "MB", "10-event session", small_mb,
            *at_most(big_mb, 200, "MB")),
    ]  # fmt: skip


# -- sessions at once -------------------------------------------------------------------

TURNS = 30
WORK = "echo {key} {turn} >> trace && seq 1 20000 | sha256sum && wc -l < trace"


def scripted(request: Request) -> Reply:
    """Each session's own script, keyed on its prompt: TURNS bash calls, then an answer."""
    messages = request.body["messages"]
    key = messages[0]["content"][0]["text"]
    turn = sum(1 for m in messages if m["role"] == "assistant")
    if turn < TURNS:
        return tool_use("bash", {"command": WORK.format(key=key, turn=turn)})
    return text(f"{key}: done")


def run_at_once(data_dir: Path, count: int) -> tuple[float, list[resource.struct_rusage]]:
    """Tool calls per second across `count` sessions run at once, from the first start to
    the last exit, and each harness's own usage. Every session must have run its script."""
    with FakeAPI(responder=scripted) as api:
        env = env_for(data_dir, api.base_url)
        command = [*TETHER, "run", "-q", "--memory", "256m", "--cpus", "0.5", "--timeout", "300"]
        started = time.perf_counter()
        processes = [start([*command, f"session-{n:02d}"], env) for n in range(count)]
        usages = [wait_usage(p) for p in processes]
        elapsed = time.perf_counter() - started
        prompts = [r.body["messages"][0]["content"][0]["text"] for r in api.requests]
    assert all(prompts.count(f"session-{n:02d}") == TURNS + 1 for n in range(count)), prompts
    return count * TURNS / elapsed, usages


def bench_concurrent(data_dir: Path, sessions: int) -> list[Row]:
    alone, [one] = run_at_once(data_dir, 1)
    together, usages = run_at_once(data_dir, sessions)
    most = max(peak_mb(u) for u in usages)
    cpu = statistics.median(u.ru_utime + u.ru_stime for u in usages)
    many = f"{sessions} sessions at once"
    return [
        Row(f"{many}: tool calls", together, "/s", "1 session alone", alone,
            "≥ 1× baseline", together >= alone),
        Row(f"{many}: peak RSS per harness, max", most, "MB", "1 session alone", peak_mb(one),
            *at_most(most, 200, "MB")),
        Row(f"{many}: CPU per harness, median", cpu, "s", "1 session alone",
            one.ru_utime + one.ru_stime),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument("--sessions", type=int, default=20)
    args = parser.parse_args()
    with scratch() as work:
        table = rows(work, args.runs, args.calls, args.sessions)
    print_table(table)


if __name__ == "__main__":
    main()
