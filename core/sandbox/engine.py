"""The Docker engine connection, its errors in tether's words, and the labels that
tie containers and volumes to sessions. `docker` is imported only when called."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

from .. import errors, paths

log = logging.getLogger(__name__)

LABEL_SESSION = "tether.session"
LABEL_ROLE = "tether.role"
LABEL_HOME = "tether.home"  # the sessions dir that owns it, so a sweep never touches others'
API_TIMEOUT_S = 60


def volume_name(session_id: str) -> str:
    return f"tether-{session_id}"


def labels(session_id: str, role: str = "sandbox") -> dict[str, str]:
    found = {LABEL_SESSION: session_id, LABEL_ROLE: role}
    home = sessions_home()
    if home:
        found[LABEL_HOME] = home
    return found


def label_filter(session_id: str) -> str:
    return f"{LABEL_SESSION}={session_id}"


def home_filter() -> list[str]:
    """The label filter for this data dir's sandboxes (empty if it has none)."""
    home = sessions_home()
    return [f"{LABEL_HOME}={home}"] if home else []


def sessions_home() -> str | None:
    try:
        return str(paths.sessions_dir())
    except errors.TetherError:
        return None


def connect() -> Any:
    """A docker SDK client for DOCKER_HOST (or the default socket); EngineUnavailable if none."""
    import docker

    try:
        client = docker.from_env(timeout=API_TIMEOUT_S)
        client.ping()
    except Exception as exc:  # the SDK raises several unrelated types for "no engine"
        raise unavailable(exc) from None
    return client


def unavailable(exc: BaseException) -> errors.EngineUnavailable:
    where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    return errors.EngineUnavailable(
        f"cannot reach the Docker engine at {where} ({root_cause(exc)}): is dockerd running?"
    )


def root_cause(exc: BaseException) -> str:
    """The innermost reason of an SDK error, e.g. 'No such file or directory', not the
    nested tuple of wrappers that requests and urllib3 print."""
    for _ in range(8):
        inner = next((a for a in exc.args if isinstance(a, BaseException)), None)
        inner = inner or exc.__cause__ or exc.__context__
        if inner is None:
            break
        exc = inner
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).splitlines()[0][:200]


@contextlib.contextmanager
def engine_errors() -> Iterator[None]:
    """Turn a connection failure anywhere in the block into EngineUnavailable."""
    import requests

    try:
        yield
    except (requests.exceptions.ConnectionError, ConnectionError) as exc:
        raise unavailable(exc) from None
