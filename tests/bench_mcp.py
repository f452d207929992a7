"""MCP benchmarks, each beside a baseline measured in the same run.

    .venv/bin/python tests/bench_mcp.py [--runs N]

1. `tether run` start → first request at the model server with one stdio MCP server
   configured (mcp-server-time from PyPI), against the same run with none: the
   server is started and listed before the first request, since the request carries
   its tools.
2. `tether resume` → first request of a session whose log holds that server's tool
   list, against resuming a session without MCP: the list comes from the log, and no
   server starts before a call needs it. Bar: at most 100 ms more.

Needs mcp-server-time (a test extra); no Docker.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from bench_harness import TimedAPI
from benchlib import TETHER, Row, env_for, home, print_table, scratch, start, wait_usage
from fakeapi import text
from mcp_servers import TIME_SERVER

ALLOW = ["--allow", "mcp__time"]


def rows(work: Path, runs: int = 5) -> list[Row]:
    data_dir = home(work, "mcp")
    config = work / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"time": {"command": str(TIME_SERVER)}}}))
    with_mcp = ["--mcp-config", str(config), *ALLOW]
    run_none, run_mcp = side_by_side(
        lambda: first_request_ms(data_dir, ["run", "-q", "hi"]),
        lambda: first_request_ms(data_dir, ["run", "-q", *with_mcp, "hi"]),
        runs,
    )
    resume_none, resume_mcp = side_by_side(
        lambda: resume_ms(data_dir, []), lambda: resume_ms(data_dir, with_mcp), runs
    )
    return [
        Row("run → first request, 1 stdio MCP server", run_mcp, "ms", "same run, no MCP server",
            run_none),
        Row("resume → first request, MCP tools cached", resume_mcp, "ms",
            "same resume, no MCP server", resume_none, "≤ baseline + 100 ms",
            resume_mcp <= resume_none + 100),
    ]  # fmt: skip


def side_by_side(
    baseline: Callable[[], float], ours: Callable[[], float], runs: int
) -> tuple[float, float]:
    """The medians of `runs` measurements of each, taken in turns so that a change of
    load on the machine weighs on both alike (after one unmeasured round)."""
    pairs = [(baseline(), ours()) for _ in range(runs + 1)][1:]
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def first_request_ms(data_dir: Path, args: list[str]) -> float:
    """Milliseconds from starting `tether ARGS` to its first request at a fresh fake API."""
    with TimedAPI(default=text("ok")) as api:
        url = ["--base-url", api.base_url]  # a session keeps the endpoint it was run with
        started = time.perf_counter()
        wait_usage(start([*TETHER, *args[:1], *url, *args[1:]], env_for(data_dir, api.base_url)))
        return (api.arrived[0] - started) * 1000


def resume_ms(data_dir: Path, run_args: list[str]) -> float:
    """A new session made by `tether run RUN_ARGS`, then resumed: the resume's time to its
    first request."""
    session_id = f"bench-mcp-{time.monotonic_ns()}"
    first_request_ms(data_dir, ["run", "-q", "--session-id", session_id, *run_args, "hi"])
    return first_request_ms(data_dir, ["resume", "-q", session_id, "and now?"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with scratch() as work:
        print_table(rows(work, args.runs))


if __name__ == "__main__":
    main()
