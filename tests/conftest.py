"""Shared fixtures: every test gets its own TETHER_HOME; Docker tests get an engine
and the offline test image (built by tests/build-image.sh, see tests/run.sh)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e import IN_CI, TEST_IMAGE, remove_home_sandboxes, tether_env
from fakeapi import FakeAPI
from hypothesis import HealthCheck, settings
from registry import pullable_image  # noqa: F401  (a fixture for every test)

# Property tests judge results, not speed: on a loaded machine (CI on 2 cores, four
# workers) one example can take longer than hypothesis's default 200 ms deadline.
settings.register_profile("tether", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("tether")


@pytest.fixture(autouse=True)
def tether_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh data dir per test, no config file, no API key leaking in from outside, and
    a working directory outside any git work tree (so a session's workspace starts empty).

    Afterwards, any container or volume a test's sessions left on the engine goes.
    """
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TETHER_HOME", str(home))
    monkeypatch.setenv("TETHER_CONFIG", str(tmp_path / "no-config.toml"))
    for name in list(os.environ):
        if name.startswith("TETHER_") and name not in ("TETHER_HOME", "TETHER_CONFIG"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    yield home
    if (home / "sessions").is_dir() or (home / "home-id").exists():
        remove_home_sandboxes(home)


def _engine_problem() -> str | None:
    try:
        import docker

        client = docker.from_env(timeout=10)
        client.ping()
        client.images.get(TEST_IMAGE)
    except Exception as exc:  # any failure means: no usable engine or image here
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="session")
def docker_client() -> Iterator[object]:
    """A Docker SDK client for a live engine with the test image. In CI a missing
    engine is a failure, never a skip."""
    problem = _engine_problem()
    if problem:
        message = f"Docker engine or image {TEST_IMAGE} unavailable ({problem}); run tests/run.sh"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    import docker

    client = docker.from_env(timeout=60)
    yield client
    client.close()


@pytest.fixture
def test_image(docker_client: object) -> str:
    return TEST_IMAGE


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    """The fake Messages API, served from this process; script it with `api.add(...)`."""
    with FakeAPI() as server:
        yield server


@pytest.fixture
def env(api: FakeAPI) -> dict[str, str]:
    """The environment of a `tether` subprocess that talks to `api` and uses the test image."""
    return tether_env(api.base_url, TEST_IMAGE)
