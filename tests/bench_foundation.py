"""Foundation benchmarks: the session log and the read commands, each beside a baseline
measured in the same run.

    .venv/bin/python tests/bench_foundation.py

Everything happens in a temporary directory that is deleted afterwards.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from benchlib import TETHER, Row, at_most, command_ms, env_for, home, print_table, scratch

from tether.core import events as ev
from tether.core.store import SessionStore

PYTHON_PASS = [sys.executable, "-c", "pass"]


def rows(work: Path) -> list[Row]:
    return [bench_append(work), *bench_start(work), *bench_ls(work), *bench_tail(work),
            bench_follow(work)]  # fmt: skip


# -- append throughput ------------------------------------------------------------------


def bench_append(work: Path, count: int = 2000) -> Row:
    payload = ev.UserMessage(content="x" * 200)
    session = SessionStore(work / "append").create(ev.SessionCreated(model="m"))
    start = time.perf_counter()
    for _ in range(count):
        session.append(payload)
    ours = count / (time.perf_counter() - start)
    session.close()

    line = (session.read(-1)[0].to_json() + "\n").encode()
    fd = os.open(work / "bare.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    start = time.perf_counter()
    for _ in range(count):
        os.write(fd, line)
        os.fsync(fd)
    bare = count / (time.perf_counter() - start)
    os.close(fd)
    return Row("append + fsync, events", ours, "/s", "bare write+fsync loop", bare,
               "≥ 0.8× baseline", ours >= 0.8 * bare)  # fmt: skip


# -- cold start -------------------------------------------------------------------------


def bench_start(work: Path) -> list[Row]:
    empty, small = home(work, "empty"), small_log(work)
    bare = command_ms(PYTHON_PASS, env_for(empty))
    ls = command_ms([*TETHER, "ls"], env_for(empty))
    tail = command_ms([*TETHER, "tail", "small", "-n", "10"], env_for(small))
    return [
        Row("cold start: tether ls", ls, "ms", "python -c pass", bare, *at_most(ls, 150, "ms")),
        Row("cold start: tether tail ID -n 10", tail, "ms", "python -c pass", bare,
            *at_most(tail, 150, "ms")),
    ]  # fmt: skip


def sdk_imports(work: Path) -> list[str]:
    """Which of anthropic and docker `ls` and `tail` import (they should import neither)."""
    found = []
    for args in (["ls"], ["tail", "small", "-n", "10"]):
        command = [sys.executable, "-X", "importtime", *TETHER, *args]
        result = subprocess.run(
            command, env=env_for(small_log(work)), capture_output=True, text=True
        )
        names = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines()}
        found += [f"{args[0]}: {n}" for n in ("anthropic", "docker") if n in names]
    return found


# -- tail -n 50 on a 1 GB log -----------------------------------------------------------


def write_log(path: Path, target_bytes: int) -> int:
    """A valid log of about `target_bytes`, written directly (no fsync per line)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    content = "y" * 900
    template = (
        '{"v":2,"seq":%d,"id":"ev_%x","processed_at":"2026-11-24T10:00:00.000Z",'
        '"type":"agent.tool_result","tool_use_id":"t","content":[{"type":"text","text":"'
        + content
        + '"}],"is_error":false,"duration_ms":1,"truncated":false}\n'
    )
    with open(path, "w") as f:
        f.write(ev.SessionCreated(seq=0, model="m").to_json() + "\n")
        seq, written = 1, 0
        while written < target_bytes:
            chunk = "".join(template % (s, s) for s in range(seq, seq + 10_000))
            f.write(chunk)
            seq, written = seq + 10_000, written + len(chunk)
    return seq


def small_log(work: Path) -> Path:
    """A data dir holding one session, `small`, of a 100 kB log."""
    small = home(work, "small")
    log = small / "sessions" / "small" / "events.jsonl"
    if not log.exists():
        write_log(log, 100_000)
    return small


def bench_tail(work: Path) -> list[Row]:
    """The whole command, and the part of it that reads the log (from its end)."""
    big, small = home(work, "big"), small_log(work)
    write_log(big / "sessions" / "big" / "events.jsonl", 1 << 30)
    ours = command_ms([*TETHER, "tail", "big", "-n", "50"], env_for(big))
    base = command_ms([*TETHER, "tail", "small", "-n", "50"], env_for(small))
    read_big = _read_last_ms(big / "sessions" / "big")
    read_small = _read_last_ms(small / "sessions" / "small")
    shutil.rmtree(big)
    return [
        Row("tail -n 50, 1 GB log: command", ours, "ms", "same, 100 kB log", base,
            *at_most(ours, 100, "ms")),
        Row("tail -n 50, 1 GB log: reading it", read_big, "ms", "same, 100 kB log",
            read_small, *at_most(read_big, 100, "ms")),
    ]  # fmt: skip


def _read_last_ms(directory: Path, runs: int = 20) -> float:
    """Median time to read the last 50 events, in this process (no start-up)."""
    from tether.core.store import SessionLog

    times = []
    for _ in range(runs):
        start = time.perf_counter()
        SessionLog(directory).read(-50)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


# -- ls over 5,000 sessions -------------------------------------------------------------


def fill_sessions(data_dir: Path, count: int, text: str | None = None) -> None:
    """`count` finished sessions of a dozen events each (or of log `text`), written directly."""
    events: list[ev.Event] = [
        ev.SessionCreated(model="claude-test", tools=("bash",)),
        ev.StatusRunning(pid=1, host="h"),
        ev.UserMessage(content="make the failing tests pass, then explain what was wrong"),
    ]
    for turn in range(1, 4):
        events += [
            ev.ModelRequestStart(model="m"),
            ev.AgentToolUse(tool_use_id="t", name="bash", input={"command": "pytest -q"}),
            ev.ModelRequestEnd(model="m", usage=ev.Usage(input_tokens=900), turn=turn),
            ev.AgentToolResult(tool_use_id="t", content="ok\n" * 100),
        ]
    events.append(ev.StatusIdle(stop_reason="end_turn"))
    if text is None:
        text = "\n".join(replace(e, seq=n).to_json() for n, e in enumerate(events)) + "\n"
    sessions = data_dir / "sessions"
    sessions.mkdir(mode=0o700)
    for i in range(count):
        directory = sessions / f"s{i:05d}"
        directory.mkdir(mode=0o700)
        (directory / "events.jsonl").write_text(text)


V1_LOG = Path(__file__).parent / "fixtures" / "v1" / "events.jsonl"  # 42 events, schema v1


def bench_ls(work: Path) -> list[Row]:
    """`ls` over 5,000 sessions written now (v2), and over 5,000 written by the v1 tether."""
    many, old = home(work, "many"), home(work, "many-v1")
    fill_sessions(many, 5000)
    fill_sessions(old, 5000, V1_LOG.read_text())
    ours = command_ms([*TETHER, "ls"], env_for(many), runs=5)
    v1 = command_ms([*TETHER, "ls"], env_for(old), runs=5)
    base = command_ms([*TETHER, "ls"], env_for(home(work, "empty")))
    return [
        Row("ls, 5,000 sessions", ours, "ms", "ls, no sessions", base, *at_most(ours, 300, "ms")),
        Row("ls, 5,000 sessions of v1 logs", v1, "ms", "ls, no sessions", base,
            *at_most(v1, 300, "ms")),
    ]  # fmt: skip


# -- tail -f latency --------------------------------------------------------------------


def follow_latency(
    command: list[str], append: Callable[[int], None], samples: int, env: dict[str, str]
) -> float:
    """p95 milliseconds from the start of `append(i)` to its line on `command`'s stdout."""
    reader = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert reader.stdout is not None
    time.sleep(0.5)  # let it start and print the backlog
    os.set_blocking(reader.stdout.fileno(), True)
    latencies = []
    try:
        for i in range(samples):
            time.sleep(0.003 + (i % 7) * 0.0031)  # land at varied points of the poll cycle
            start = time.perf_counter()
            append(i)
            while f'probe {i}"'.encode() not in reader.stdout.readline():
                pass
            latencies.append((time.perf_counter() - start) * 1000)
    finally:
        reader.kill()
        reader.wait()
    return statistics.quantiles(latencies, n=20)[18]


def bench_follow(work: Path, samples: int = 200) -> Row:
    live = home(work, "live")
    session = SessionStore(live / "sessions").create(ev.SessionCreated(model="m"), "live")
    command = [*TETHER, "tail", "live", "-f", "-n", "0", "--json"]
    append = lambda i: session.append(ev.UserMessage(content=f"probe {i}"))  # noqa: E731
    ours = follow_latency(command, append, samples, env_for(live))
    session.close()

    fd = os.open(work / "plain.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def append_plain(i: int) -> None:
        os.write(fd, f'{{"content":"probe {i}"}}\n'.encode())
        os.fsync(fd)

    tail_f = ["tail", "-F", "-n", "0", str(work / "plain.jsonl")]
    base = follow_latency(tail_f, append_plain, samples, dict(os.environ))
    os.close(fd)
    return Row("tail -f latency, p95", ours, "ms", "coreutils tail -F", base,
               *at_most(ours, 50, "ms"))  # fmt: skip


def main() -> None:
    with scratch() as work:
        table = rows(work)
        leaks = sdk_imports(work)
    print_table(table)
    print("anthropic/docker imported by ls/tail:", ", ".join(leaks) or "neither")


if __name__ == "__main__":
    main()
