"""Sandbox benchmark, run by hand (not collected by pytest):

    .venv/bin/python tests/bench_sandbox.py [IMAGE]

Prints tether's figures beside baselines measured in the same run on the same
engine: a `bash` round trip against `docker exec` (the SDK's exec_run), a
10 KB `read` against `cat` through exec_run, and provisioning (first use and
replacement after a kill) against a bare `docker run --rm IMAGE true`.
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from collections.abc import Callable

import docker

from tether.core import errors
from tether.core.sandbox import DockerSandbox, Resources, remove_session_resources


def median_ms(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def provision_fresh(image: str, sessions: list[str]) -> Callable[[], object]:
    def provision() -> None:
        session_id = f"bench-{uuid.uuid4().hex[:8]}"
        sessions.append(session_id)
        box = DockerSandbox()
        box.provision(Resources(session_id=session_id, image=image))
        box.release()

    return provision


def replace_after_kill(box: DockerSandbox, resources: Resources, client) -> Callable[[], object]:
    def replace() -> None:
        client.api.kill(box.container_id)
        try:
            box.execute("bash", {"command": "true"})
        except errors.SandboxLost:
            box.provision(resources)

    return replace


def main(image: str) -> None:
    client = docker.from_env()
    resources = Resources(session_id=f"bench-{uuid.uuid4().hex[:8]}", image=image)
    sessions = [resources.session_id]
    box = DockerSandbox()
    box.provision(resources)
    try:
        box.execute(
            "bash", {"command": "head -c 10240 /dev/urandom | base64 -w 100 | head -c 10240 > f"}
        )
        container = client.containers.get(box.container_id)
        rows = [
            (
                "bash `true` round trip",
                median_ms(lambda: box.execute("bash", {"command": "true"}), 1000),
                median_ms(lambda: container.exec_run(["true"]), 30),
                "docker exec (exec_run)",
                1.0,
            ),
            (
                "read 10 KB file",
                median_ms(lambda: box.execute("read", {"file_path": "f"}), 300),
                median_ms(lambda: container.exec_run(["cat", "/workspace/f"]), 30),
                "exec_run cat",
                5.0,
            ),
            (
                "provision, first use",
                median_ms(provision_fresh(image, sessions), 5),
                median_ms(lambda: client.containers.run(image, ["true"], remove=True), 5),
                "docker run --rm true",
                1000.0,
            ),
            (
                "replace after a kill",
                median_ms(replace_after_kill(box, resources, client), 5),
                median_ms(lambda: client.containers.run(image, ["true"], remove=True), 5),
                "docker run --rm true",
                1500.0,
            ),
        ]
    finally:
        box.release()
        for session_id in sessions:
            remove_session_resources(session_id, volume=True)
    print_table(rows)


def print_table(rows: list[tuple[str, float, float, str, float]]) -> None:
    head = (
        f"{'measure':<24}{'tether ms':>10}{'target':>9}      {'baseline':<24}{'ms':>9}{'ratio':>8}"
    )
    print(head)
    print("-" * len(head))
    for name, ours, base, base_name, target in rows:
        verdict = "ok" if ours <= target else "OVER"
        print(
            f"{name:<24}{ours:>10.3f}{'<= ' + format(target, 'g'):>9} {verdict:<4} "
            f"{base_name:<24}{base:>9.3f}{base / ours:>7.1f}x"
        )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tether-test:bookworm")
