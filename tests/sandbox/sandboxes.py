"""Helpers for the sandbox tests: session ids, and the test images."""

from __future__ import annotations

import os
import uuid

TEST_IMAGE = os.environ.get("TETHER_TEST_IMAGE", "tether-test:bookworm")


def new_session_id() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


NO_BASH_IMAGE = "tether-test:nobash"


def no_bash_image(client: object) -> str:
    """The test image without bash (only dash as /bin/sh), built once from TEST_IMAGE."""
    import docker

    assert isinstance(client, docker.DockerClient)
    try:
        client.images.get(NO_BASH_IMAGE)
        return NO_BASH_IMAGE
    except docker.errors.ImageNotFound:
        pass
    command = ["rm", "-f", "/usr/bin/bash", "/bin/bash", "/usr/bin/rbash"]
    container = client.containers.run(
        TEST_IMAGE, command, user="root", network_mode="none", detach=True
    )
    try:
        container.wait(timeout=60)
        repository, tag = NO_BASH_IMAGE.split(":")
        container.commit(repository, tag, changes=['CMD ["/bin/sh"]'])
    finally:
        container.remove(force=True)
    return NO_BASH_IMAGE


BUSYBOX_IMAGE = "tether-test:busybox"
BUSYBOX = "/bin/busybox"  # Debian's busybox-static; tests/run.sh installs it


def busybox_image(client: object) -> str:
    """An image of busybox alone (its ash as /bin/sh, its applets as the tools), as
    Alpine's userland is; built once from the host's static busybox, offline."""
    import docker

    assert isinstance(client, docker.DockerClient)
    try:
        client.images.get(BUSYBOX_IMAGE)
        return BUSYBOX_IMAGE
    except docker.errors.ImageNotFound:
        pass
    if not os.path.exists(BUSYBOX):
        message = f"{BUSYBOX} is missing: apt-get install busybox-static (tests/run.sh does)"
        if os.environ.get("CI"):
            raise AssertionError(message)
        import pytest

        pytest.skip(message)
    repository, tag = BUSYBOX_IMAGE.split(":")
    changes = ["ENV PATH=/bin", 'CMD ["/bin/sh"]']
    client.api.import_image_from_data(_busybox_tar(), repository, tag, changes)
    return BUSYBOX_IMAGE


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
