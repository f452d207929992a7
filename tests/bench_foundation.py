"""Foundation benchmarks: each figure beside a baseline measured in the same run.

Run by hand (not collected by pytest):  .venv/bin/python tests/bench_foundation.py
Everything happens in temporary directories that are deleted afterwards.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from tether.core import events as ev
from tether.core.store import SessionStore

TETHER = str(Path(sys.executable).with_name("tether"))
Row = tuple[str, float, str, float, str, str]  # what, figure, baseline name, baseline, unit, bar


def median_ms(command: list[str], env: dict[str, str], runs: int = 11) -> float:
    """Median wall time of `command` in milliseconds, after one warm-up run."""
    times = []
    for i in range(runs + 1):
        start = time.perf_counter()
        subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if i:
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


PYCACHE = tempfile.mkdtemp(prefix="tether-bench-pycache-")


def home_env(home: Path) -> dict[str, str]:
    """The environment of a measured command: bytecode is cached, as in a real install
    (PYTHONDONTWRITEBYTECODE would recompile tether's modules on every start)."""
    env = os.environ | {"TETHER_HOME": str(home), "PYTHONPYCACHEPREFIX": PYCACHE}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


# -- append throughput ------------------------------------------------------------------


def bench_append(work: Path, count: int = 2000) -> Row:
    payload = ev.UserMessage(content="x" * 200)
    store = SessionStore(work / "sessions")
    session = store.create(ev.SessionCreated(model="m"))
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
    return ("append + fsync (events/s)", ours, "bare write+fsync", bare, "/s", "≥ 0.8×")


# -- tail -n 50 on a 1 GB log -----------------------------------------------------------


def write_log(path: Path, target_bytes: int) -> int:
    """A valid log of about `target_bytes`, written directly (no fsync per line)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    content = "y" * 900
    template = (
        '{"v":1,"seq":%d,"id":"ev_%x","ts":"2026-11-24T10:00:00.000Z","type":"agent.tool_result",'
        '"tool_use_id":"t","content":"' + content + '","is_error":false,"duration_ms":1,'
        '"truncated":false}\n'
    )
    with open(path, "w") as f:
        f.write(ev.SessionCreated(seq=0, model="m").to_json() + "\n")
        seq, written = 1, 0
        while written < target_bytes:
            chunk = "".join(template % (s, s) for s in range(seq, seq + 10_000))
            f.write(chunk)
            seq, written = seq + 10_000, written + len(chunk)
    return seq


def bench_tail(work: Path) -> Row:
    write_log(work / "big" / "sessions" / "big" / "events.jsonl", 1 << 30)
    write_log(work / "small" / "sessions" / "small" / "events.jsonl", 100_000)
    big = median_ms([TETHER, "tail", "big", "-n", "50"], home_env(work / "big"))
    small = median_ms([TETHER, "tail", "small", "-n", "50"], home_env(work / "small"))
    shutil.rmtree(work / "big")
    return ("tail -n 50, 1 GB log (ms)", big, "same, 100 kB log", small, "ms", "≤ 100 ms")


# -- ls over 5,000 sessions -------------------------------------------------------------


def fill_sessions(home: Path, count: int) -> None:
    """`count` finished sessions of a dozen events each, written directly."""
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
    sessions = home / "sessions"
    sessions.mkdir(mode=0o700, parents=True)
    for i in range(count):
        lines = [replace(e, seq=n).to_json() for n, e in enumerate(events)]
        directory = sessions / f"s{i:05d}"
        directory.mkdir(mode=0o700)
        (directory / "events.jsonl").write_text("\n".join(lines) + "\n")


def bench_ls(work: Path) -> Row:
    (work / "empty").mkdir()
    fill_sessions(work / "many", 5000)
    many = median_ms([TETHER, "ls"], home_env(work / "many"), runs=5)
    empty = median_ms([TETHER, "ls"], home_env(work / "empty"))
    return ("ls, 5,000 sessions (ms)", many, "ls, no sessions", empty, "ms", "≤ 300 ms")


# -- cold start -------------------------------------------------------------------------


def bench_start(work: Path) -> list[Row]:
    env = home_env(work / "empty")
    bare = median_ms([sys.executable, "-c", "pass"], env)
    return [
        (
            "cold start: ls (ms)",
            median_ms([TETHER, "ls"], env),
            "python -c pass",
            bare,
            "ms",
            "≤ 150 ms",
        ),
        (
            "cold start: --help (ms)",
            median_ms([TETHER, "--help"], env),
            "python -c pass",
            bare,
            "ms",
            "≤ 150 ms",
        ),
    ]


def sdk_imports(work: Path) -> list[str]:
    found = []
    for args in (["ls"], ["--help"]):
        result = subprocess.run(
            [sys.executable, "-X", "importtime", TETHER, *args],
            env=home_env(work / "empty"),
            capture_output=True,
            text=True,
        )
        names = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines()}
        found += [f"{' '.join(args)}: {n}" for n in ("anthropic", "docker") if n in names]
    return found


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
    store = SessionStore(work / "live" / "sessions")
    session = store.create(ev.SessionCreated(model="m"), "live")
    command = [TETHER, "tail", "live", "-f", "-n", "0", "--json"]
    ours = follow_latency(
        command,
        lambda i: session.append(ev.UserMessage(content=f"probe {i}")),
        samples,
        home_env(work / "live"),
    )
    session.close()

    plain = work / "plain.jsonl"
    fd = os.open(plain, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def append_plain(i: int) -> None:
        os.write(fd, f'{{"content":"probe {i}"}}\n'.encode())
        os.fsync(fd)

    tail_f = ["tail", "-F", "-n", "0", str(plain)]
    baseline = follow_latency(tail_f, append_plain, samples, dict(os.environ))
    os.close(fd)
    return ("tail -f latency, p95 (ms)", ours, "coreutils tail -F", baseline, "ms", "≤ 50 ms")


# -- report -----------------------------------------------------------------------------


def main() -> None:
    with tempfile.TemporaryDirectory(
        prefix="tether-bench-", dir=os.environ.get("BENCH_DIR")
    ) as tmp:
        work = Path(tmp)
        rows = [bench_append(work)]
        rows += bench_start(work)
        rows.append(bench_ls(work))
        rows.append(bench_tail(work))
        rows.append(bench_follow(work))
        leaks = sdk_imports(work)
    shutil.rmtree(PYCACHE)
    print(f"{'figure':<28} {'value':>10}  {'baseline':<20} {'value':>10} {'ratio':>7}  bar")
    for what, value, base_name, base, _unit, bar in rows:
        print(
            f"{what:<28} {value:>10.1f}  {base_name:<20} {base:>10.1f} {value / base:>6.2f}×  {bar}"
        )
    print("anthropic/docker imported on ls/--help:", ", ".join(leaks) or "never")


if __name__ == "__main__":
    main()
