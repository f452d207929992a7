"""Helpers for the sandbox tests: session ids, a sandbox on an image, and the test
images without bash (dash alone; busybox alone), each built once, offline."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from e2e import TEST_IMAGE

from tether.core.sandbox import DockerSandbox, Resources, remove_session_resources

NO_BASH_IMAGE = "tether-test:nobash"
BUSYBOX_IMAGE = "tether-test:busybox"
BUSYBOX = "/bin/busybox"  # Debian's busybox-static; tests/run.sh installs it


def new_session_id() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def sandbox_on(image: str) -> Iterator[DockerSandbox]:
    """A sandbox on `image` for a session of its own; removed with its volume after."""
    session_id = new_session_id()
    box = DockerSandbox()
    box.provision(Resources(session_id=session_id, image=image))
    try:
        yield box
    finally:
        box.release()
        remove_session_resources(session_id, volume=True)


def no_bash_image(client: Any) -> str:
    """The test image without bash: dash is its /bin/sh."""
    return _image(client, NO_BASH_IMAGE, _without_bash)


def busybox_image(client: Any) -> str:
    """An image of busybox alone (its ash as /bin/sh, its applets as the tools), as
    Alpine's userland is, from the host's static busybox."""
    return _image(client, BUSYBOX_IMAGE, _busybox)


def _image(client: Any, name: str, build: Callable[[Any, str, str], None]) -> str:
    import docker

    try:
        client.images.get(name)
    except docker.errors.ImageNotFound:
        repository, tag = name.split(":")
        build(client, repository, tag)
    return name


def _without_bash(client: Any, repository: str, tag: str) -> None:
    command = ["rm", "-f", "/usr/bin/bash", "/bin/bash", "/usr/bin/rbash"]
    container = client.containers.run(
        TEST_IMAGE, command, user="root", network_mode="none", detach=True
    )
    try:
        container.wait(timeout=60)
        container.commit(repository, tag, changes=['CMD ["/bin/sh"]'])
    finally:
        container.remove(force=True)


def _busybox(client: Any, repository: str, tag: str) -> None:
    if not os.path.exists(BUSYBOX):
        message = f"{BUSYBOX} is missing: apt-get install busybox-static (tests/run.sh does)"
        if os.environ.get("CI"):
            raise AssertionError(message)
        import pytest

        pytest.skip(message)
    changes = ["ENV PATH=/bin", 'CMD ["/bin/sh"]']
    client.api.import_image_from_data(_busybox_tar(), repository, tag, changes)


def _busybox_tar() -> bytes:
    import io
    import subprocess
    import tarfile

    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for name, mode in (("bin", 0o755), ("tmp", 0o1777), ("workspace", 0o755)):
            entry = tarfile.TarInfo(name)
            entry.type, entry.mode = tarfile.DIRTYPE, mode
            tar.addfile(entry)
        tar.add(BUSYBOX, "bin/busybox")
        for applet in applets.stdout.split():
            if applet != "busybox":
                link = tarfile.TarInfo(f"bin/{applet}")
                link.type, link.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(link)
    return archive.getvalue()
