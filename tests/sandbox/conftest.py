"""Sandbox fixtures: one container per test module where the tests allow it, and
nothing left behind (containers and volumes are removed by label)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sandboxes import TEST_IMAGE, new_session_id, sandbox_on

from tether.core.sandbox import DockerSandbox, Resources, remove_session_resources


@pytest.fixture(scope="module")
def sandbox(docker_client: object) -> Iterator[DockerSandbox]:
    """A provisioned sandbox shared by a module's tests."""
    with sandbox_on(TEST_IMAGE) as box:
        yield box


@pytest.fixture
def make_sandbox(docker_client: object) -> Iterator[Callable[..., tuple[DockerSandbox, Resources]]]:
    """Provision sandboxes of one's own (resources as keywords); all removed after."""
    made: list[tuple[DockerSandbox, Resources]] = []

    def make(**overrides: object) -> tuple[DockerSandbox, Resources]:
        fields: dict[str, object] = {"session_id": new_session_id(), "image": TEST_IMAGE}
        fields.update(overrides)
        resources = Resources(**fields)  # type: ignore[arg-type]
        box = DockerSandbox()
        made.append((box, resources))
        box.provision(resources)
        return box, resources

    yield make
    for box, resources in made:
        box.release()
        remove_session_resources(resources.session_id, volume=True)
