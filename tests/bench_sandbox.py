"""Sandbox benchmarks, each beside a baseline measured in the same run on the same engine:

    .venv/bin/python tests/bench_sandbox.py

a `bash` round trip against `docker exec` (the SDK's exec_run) on the same container
(a `true`, whose state is saved and found unchanged, and an `export` that changes it
every time), 100 MB of output streamed through the tool against the same through
exec_run, a 10 KB `read` against `cat` through exec_run, and provisioning (first use,
and replacement after a kill) against a bare `docker run --rm --network none IMAGE true`.
Needs a Docker engine and the test image (TETHER_TEST_IMAGE; tests/run.sh builds it).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

import docker
from benchlib import IMAGE, Row, at_most, home, median_ms, print_table, scratch

from tether.core import errors
from tether.core import events as ev
from tether.core.sandbox import DockerSandbox, Resources
from tether.core.store import SessionStore


def rows(work: Path, image: str = IMAGE) -> list[Row]:
    os.environ["TETHER_HOME"] = str(home(work, "sandbox"))  # labels the sandboxes for scratch
    client = docker.from_env()
    resources = Resources(session_id=f"bench-{uuid.uuid4().hex[:8]}", image=image)
    # A live session (its log locked, as by a harness), or provisioning would sweep the box.
    log = SessionStore().create(ev.SessionCreated(model="m"), resources.session_id)
    box = DockerSandbox()
    box.provision(resources)
    try:
        box.execute("bash", {"command": "head -c 7680 /dev/urandom | base64 -w 100 > f"})
        container = client.containers.get(box.container_id)
        bash = median_ms(lambda: box.execute("bash", {"command": "true"}), 1000, warmup=10)
        export = {"command": "export N=$((N + 1))"}  # the state changes every time
        changed = median_ms(lambda: box.execute("bash", export), 300, warmup=10)
        flood = "head -c 100000000 /dev/zero"
        streamed = median_ms(lambda: box.execute("bash", {"command": flood}), 3, warmup=1)
        exec_flood = median_ms(lambda: container.exec_run(["sh", "-c", flood]), 3)
        read = median_ms(lambda: box.execute("read", {"file_path": "f"}), 300, warmup=10)
        exec_true = median_ms(lambda: container.exec_run(["true"]), 30, warmup=1)
        exec_cat = median_ms(lambda: container.exec_run(["cat", "/workspace/f"]), 30)
        first = median_ms(provision_fresh(image), 5)
        again = median_ms(replace_after_kill(box, resources, client), 5)
        bare_run = lambda: client.containers.run(image, ["true"], remove=True, network_mode="none")  # noqa: E731
        docker_run = median_ms(bare_run, 5)
    finally:
        box.release()
        log.close()
        client.close()
    return [
        Row("tool round trip: bash true", bash, "ms", "docker exec true, same box", exec_true,
            *at_most(bash, 1, "ms")),
        Row("bash: a call that changes state", changed, "ms", "docker exec true, same box",
            exec_true, *at_most(changed, 2, "ms")),
        Row("bash: 100 MB of output", streamed, "ms", "docker exec, same command", exec_flood,
            *at_most(streamed, round(2 * exec_flood), "ms")),
        Row("read 10 KB file", read, "ms", "docker exec cat", exec_cat, *at_most(read, 5, "ms")),
        Row("provision, first use", first, "ms", "docker run --rm --network none true", docker_run,
            *at_most(first, 1000, "ms")),
        Row("replace after a kill", again, "ms", "docker run --rm --network none true", docker_run,
            *at_most(again, 1500, "ms")),
    ]  # fmt: skip


def provision_fresh(image: str) -> Callable[[], object]:
    def provision() -> None:
        box = DockerSandbox()
        box.provision(Resources(session_id=f"bench-{uuid.uuid4().hex[:8]}", image=image))
        box.release()

    return provision


def replace_after_kill(box: DockerSandbox, resources: Resources, client) -> Callable[[], object]:  # type: ignore[no-untyped-def]
    def replace() -> None:
        client.api.kill(box.container_id)
        try:
            box.execute("bash", {"command": "true"})
        except errors.SandboxLost:
            box.provision(resources)

    return replace


def main() -> None:
    with scratch() as work:
        table = rows(work)
    print_table(table)


if __name__ == "__main__":
    main()
