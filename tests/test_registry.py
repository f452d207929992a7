"""The local registry: the engine really pulls an image from it, which then runs."""

from __future__ import annotations

from typing import Any

import pytest
import registry
from registry import ImageRef

pytestmark = [pytest.mark.docker]
pullable_image = registry.pullable_image  # the fixture, in this module's scope


def test_engine_pulls_the_image_and_runs_it(docker_client: Any, pullable_image: ImageRef) -> None:
    import docker

    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(pullable_image)
    image = docker_client.images.pull(pullable_image)
    assert pullable_image in image.tags
    fetched = [path for method, path in pullable_image.registry.requests if method == "GET"]
    assert any("/manifests/" in path for path in fetched)
    assert any("/blobs/" in path for path in fetched)  # the config, at least: a new image ID
    # Fails (ContainerError) unless `true` exits 0; no network, as the sandbox runs.
    docker_client.containers.run(pullable_image, ["true"], network_mode="none", remove=True)
