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
