"""Checkpoint and fork benchmarks, each beside a baseline measured in the same run.

    .venv/bin/python tests/bench_checkpoints.py [--files N] [--calls N] [--gb N]

1. The tool round trip of a `bash` call that changes one file of a 10,000-file
   workspace, checkpointed after it, against the same calls with no checkpoint (the
   same image without git, where tether takes none): the gap between one model
   request and the next, median.
2. `tether fork` of a session whose workspace holds 1 GB (1,000 files of random
   bytes, which compress not at all), against copying the same volume into a new one
   with `cp -a` in a container.

Needs a Docker engine and the test image (TETHER_TEST_IMAGE; tests/run.sh builds it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
from pathlib import Path

import docker
from bench_harness import TimedAPI
from bench_workspace import make_repo
from benchlib import IMAGE, TETHER, Row, at_most, env_for, home, print_table, scratch
from fakeapi import text, tool_use

from tether.core.sandbox.engine import volume_name
from tether.core.store import SessionStore


def rows(work: Path, files: int = 10_000, calls: int = 30, gigabytes: float = 1.0) -> list[Row]:
    client = docker.from_env()
    plain = image_without_git(client)
    try:
        repo = make_repo(work / "checkpoint-repo", files)
        data_dir = home(work, "checkpoints")
        with_checkpoint = round_trips(data_dir, repo, IMAGE, calls)
        without = round_trips(data_dir, repo, plain, calls)
        fork = fork_row(client, home(work, "fork"), work, gigabytes)
    finally:
        client.images.remove(plain, force=True)
        client.close()
    bar, met = at_most(with_checkpoint, without + 25, "ms")
    return [
        Row(f"tool round trip, 1 of {files:,} files changed", with_checkpoint, "ms",
            "same, no checkpoint (image w/o git)", without, "≤ baseline + 25 ms", met),
        fork,
    ]  # fmt: skip


def image_without_git(client: docker.DockerClient) -> str:
    container = client.containers.run(
        IMAGE, ["rm", "/usr/bin/git"], detach=True, network_mode="none"
    )
    container.wait()
    container.commit("tether-bench", "no-git")
    container.remove()
    return "tether-bench:no-git"


def round_trips(data_dir: Path, repo: Path, image: str, calls: int) -> float:
    """Median ms from a tool_use answer to the next request, over `calls` bash calls that
    each append to one file (the first call, which copies the workspace, left out)."""
    script = [tool_use("bash", {"command": f"echo {n} >> pkg0/mod0/file0.py"})
              for n in range(calls + 1)] + [text("done")]  # fmt: skip
    with TimedAPI(script) as api:
        env = env_for(data_dir, api.base_url, TETHER_IMAGE=image)
        subprocess.run([*TETHER, "run", "-q", "append"], env=env, cwd=repo, check=True,
                       capture_output=True)  # fmt: skip
    gaps = [(api.arrived[n + 1] - api.answered[n]) * 1000 for n in range(1, calls + 1)]
    return statistics.median(gaps)


def fork_row(client: docker.DockerClient, data_dir: Path, work: Path, gigabytes: float) -> Row:
    files = int(gigabytes * 1000)
    fill = f"for n in $(seq {files}); do head -c 1000000 /dev/urandom > f$n; done"
    with TimedAPI([tool_use("bash", {"command": fill, "timeout_ms": 600_000}),
                   text("done")]) as api:  # fmt: skip
        env = env_for(data_dir, api.base_url)
        subprocess.run([*TETHER, "run", "-q", "--empty", "fill"], env=env, cwd=work,
                       check=True, capture_output=True)  # fmt: skip
    os.environ["TETHER_HOME"] = str(data_dir)
    parent = SessionStore().last().id
    started = time.perf_counter()
    subprocess.run([*TETHER, "fork", "--last", "-q"], env=env, check=True, capture_output=True)
    tether = (time.perf_counter() - started) * 1000
    baseline = copy_volume_ms(client, volume_name(parent))
    return Row(f"fork of a {gigabytes:g} GB workspace", tether, "ms",
               "cp -a of its volume in a container", baseline)  # fmt: skip


def copy_volume_ms(client: docker.DockerClient, source: str) -> float:
    target = client.volumes.create()
    try:
        started = time.perf_counter()
        client.containers.run(
            IMAGE, ["cp", "-a", "/from/.", "/to/"], remove=True, network_mode="none",
            volumes={source: {"bind": "/from", "mode": "ro"}, target.name: {"bind": "/to"}},
        )  # fmt: skip
        return (time.perf_counter() - started) * 1000
    finally:
        target.remove(force=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--gb", type=float, default=1.0)
    args = parser.parse_args()
    with scratch() as work:
        found = rows(work, args.files, args.calls, args.gb)
    print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print_table(found)


if __name__ == "__main__":
    main()
