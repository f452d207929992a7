"""Harness benchmarks, each beside a baseline measured in the same run.

    .venv/bin/python tests/bench_harness.py [--runs N]

1. `tether run` start → first request at the model server, against a bare Python
   process that imports the SDK and sends the same request.
2. The gap between one model request and the next when the model called `bash`
   with `true` (container round trip, fsynced events, building the request),
   against `docker exec` of `true` on the same kind of container.
3. `tether resume` of a 10,000-event session → its first model request, and the
   harness's peak memory, against resuming a 10-event session.

Needs a Docker engine and the test image (tests/run.sh builds it).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from e2e import TETHER, remove_sandboxes, tether_env  # noqa: E402
from fakeapi import FakeAPI, text, tool_use  # noqa: E402

IMAGE = os.environ.get("TETHER_TEST_IMAGE", "tether-test:bookworm")


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


def first_request_ms(env: dict[str, str], runs: int) -> tuple[float, float]:
    tether, bare = [], []
    for _ in range(runs):
        with TimedAPI(default=text("ok")) as api:
            started = time.perf_counter()
            subprocess.run([*TETHER, "run", "-q", "hi"], env={**env, **_url(api)}, check=True,
                           capture_output=True)  # fmt: skip
            tether.append((api.arrived[0] - started) * 1000)
        with TimedAPI(default=text("ok")) as api:
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", BARE_CLIENT], env={**env, **_url(api)},
                           check=True, capture_output=True)  # fmt: skip
            bare.append((api.arrived[0] - started) * 1000)
    return statistics.median(tether), statistics.median(bare)


BARE_CLIENT = """
import anthropic
client = anthropic.Anthropic(max_retries=0)
with client.messages.stream(model="claude-sonnet-5-5", max_tokens=8192,
                            messages=[{"role": "user", "content": "hi"}]) as stream:
    stream.get_final_message()
"""


def _url(api: FakeAPI) -> dict[str, str]:
    return {"ANTHROPIC_BASE_URL": api.base_url}


def request_gap_ms(env: dict[str, str], calls: int) -> list[float]:
    replies = [tool_use("bash", {"command": "true"}) for _ in range(calls)] + [text("done")]
    with TimedAPI(replies) as api:
        subprocess.run([*TETHER, "run", "-q", "loop"], env={**env, **_url(api)}, check=True,
                       capture_output=True)  # fmt: skip
        # skip the first gap: it provisions the container
        return [(api.arrived[i + 1] - api.answered[i]) * 1000 for i in range(1, calls)]


def docker_exec_ms(calls: int) -> list[float]:
    import docker

    client = docker.from_env()
    container = client.containers.run(IMAGE, ["sleep", "infinity"], detach=True, init=True,
                                      network_mode="none")  # fmt: skip
    try:
        timings = []
        for _ in range(calls):
            started = time.perf_counter()
            container.exec_run(["true"])
            timings.append((time.perf_counter() - started) * 1000)
        return timings
    finally:
        container.remove(force=True)


def make_session(events: int) -> str:
    """A session of about `events` events: bash calls and their results."""
    from tether.core import events as ev
    from tether.core.store import SessionStore

    session_id = f"bench-{events}-{os.getpid()}-{time.monotonic_ns()}"
    log = SessionStore().create(
        ev.SessionCreated(
            session_id=session_id, model="claude-sonnet-5-5", tools=("bash",), image=IMAGE
        ),
        session_id,
    )
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
    batch += [ev.StatusIdle(stop_reason="end_turn")]
    log.append_many(batch)
    log.close()
    return session_id


def resume_ms(env: dict[str, str], events: int) -> tuple[float, float]:
    session_id = make_session(events)
    with TimedAPI(default=text("ok")) as api:
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.perf_counter()
        subprocess.run([*TETHER, "resume", "-q", session_id, "and now?"],
                       env={**env, **_url(api)}, check=True, capture_output=True)  # fmt: skip
        elapsed = (api.arrived[0] - started) * 1000
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(peak, before) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["TETHER_HOME"] = home
        env = tether_env("http://unused", IMAGE, TETHER_HOME=home)
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed tether has its bytecode
        rows = []
        ours, bare = first_request_ms(env, args.runs)
        rows.append(("run → first request (ms, median)", ours, "bare SDK process", bare))
        gaps, execs = request_gap_ms(env, args.calls), docker_exec_ms(args.calls)
        rows.append(("gap between requests, bash true (ms, median)", statistics.median(gaps),
                     "docker exec true", statistics.median(execs)))  # fmt: skip
        rows.append(("  same, p95", _p95(gaps), "docker exec p95", _p95(execs)))
        big, big_mb = resume_ms(env, 10_000)
        small, _ = resume_ms(env, 10)
        rows.append(("resume 10,000 events → first request (ms)", big, "10-event session", small))
        rows.append(("harness peak memory, 10,000 events (MB)", big_mb, "", float("nan")))
        remove_sandboxes(f"tether.home={home}/sessions")
    print(f"{'figure':48} {'tether':>9}   {'baseline':26} {'value':>9} {'ratio':>7}")
    for name, value, baseline_name, baseline in rows:
        ratio = value / baseline if baseline == baseline and baseline else float("nan")
        print(f"{name:48} {value:9.1f}   {baseline_name:26} {baseline:9.1f} {ratio:7.2f}")


def _p95(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.95) - 1]


if __name__ == "__main__":
    main()
