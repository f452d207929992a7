"""Every benchmark in one table: each of tether's figures beside the baseline a user
would otherwise pick, measured in the same run, the ratio, and the bar.

    .venv/bin/python tests/bench.py

Runs tests/bench_foundation.py, bench_sandbox.py, bench_harness.py, bench_mcp.py,
bench_workspace.py, bench_checkpoints.py and bench_compaction.py (each also runs on its
own). Needs a Docker engine and the test image (TETHER_TEST_IMAGE). Takes about ten
minutes; everything it creates (temporary files, containers, volumes) is removed.
"""

from __future__ import annotations

import datetime
import os
import platform

import bench_checkpoints
import bench_compaction
import bench_foundation
import bench_harness
import bench_mcp
import bench_sandbox
import bench_workspace
import docker
from benchlib import print_table, scratch


def machine() -> str:
    """Where the figures come from: the date, CPUs, memory, kernel, Docker and load."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    client = docker.from_env()
    engine = client.version()["Version"]
    client.close()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{datetime.date.today()}, {os.cpu_count()} CPUs, {memory:.0f} GiB, "
        f"Linux {platform.release()}, Docker {engine}, load average {load}"
    )


def main() -> None:
    before = machine()
    with scratch() as work:
        rows = bench_foundation.rows(work)
        leaks = bench_foundation.sdk_imports(work)
        rows += bench_sandbox.rows(work)
        rows += bench_harness.rows(work)
        rows += bench_mcp.rows(work)
        rows += bench_workspace.rows(work)
        rows += bench_checkpoints.rows(work)
        rows += bench_compaction.rows(work)
    print(before)
    print_table(rows)
    print("anthropic/docker imported by ls/tail:", ", ".join(leaks) or "neither")
    print("load average at the end:", ", ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
