"""The Docker engine connection, its errors in tether's words, and the labels that
tie containers and volumes to sessions. `docker` is imported only when called."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .. import errors, paths

log = logging.getLogger(__name__)

LABEL_SESSION = "tether.session"
LABEL_ROLE = "tether.role"
# The data dir's random id (see home_id). It used to hold the sessions dir's path,
# which two data dirs can share (a relative TETHER_HOME, one HOME for two CI jobs).
LABEL_HOME = "tether.home"
LABEL_OWNER = "tether.owner"  # the process that made a container (see owner.py)
API_TIMEOUT_S = 60
_HOME_ID_LENGTH = 12


def home_id() -> str:
    """This data dir's random id, made on first use and kept in it (not its path, which
    another data dir can share, and which changes when the dir moves)."""
    path = paths.home_id_file()
    found = _read_home_id(path)
    if found is None:
        _make_home_id(path)
        found = _read_home_id(path)
    if found is None:
        raise errors.StorageError(f"{path} does not hold a data dir id; remove it")
    return found


def _make_home_id(path: Path) -> None:
    temporary = path.with_name(f".home-id.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        paths.ensure_private_dir(path.parent)
        temporary.write_text(secrets.token_hex(_HOME_ID_LENGTH // 2) + "\n")
        with contextlib.suppress(FileExistsError):  # never replace an id another tether made
            os.link(temporary, path)
    except OSError as exc:
        problem = f"cannot keep the data dir's id in {path}: {exc.strerror}"
        raise errors.StorageError(problem) from None
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()


def _read_home_id(path: Path) -> str | None:
    try:
        text = path.read_text().strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    except OSError as exc:
        raise errors.StorageError(f"cannot read {path}: {exc.strerror}") from None
    return text if len(text) == _HOME_ID_LENGTH and text.isalnum() else None


def volume_name(session_id: str, kind: str = "workspace") -> str:
    """The name of the session's workspace volume in this data dir, or of its volume of
    another `kind` (its checkpoint store)."""
    name = f"tether-{home_id()}-{session_id}"
    return name if kind == "workspace" else f"{name}-{kind}"


def labels(session_id: str, role: str = "sandbox") -> dict[str, str]:
    """The labels of everything made for the session: a volume, or (with an owner) a container."""
    return {LABEL_SESSION: session_id, LABEL_ROLE: role, LABEL_HOME: home_id()}


def container_labels(session_id: str, role: str = "sandbox") -> dict[str, str]:
    from . import owner

    return {**labels(session_id, role), LABEL_OWNER: owner.current()}


def home_filter() -> list[str]:
    """The label filter for this data dir's containers and volumes."""
    return [f"{LABEL_HOME}={home_id()}"]


def session_filters(session_id: str) -> list[list[str]]:
    """Label filters (each a list that must all match) for the session's containers and
    volumes in this data dir: by its id, and as labelled before 0.2 (by its path)."""
    session = f"{LABEL_SESSION}={session_id}"
    found = [[session, f"{LABEL_HOME}={paths.sessions_dir()}"]]
    if _read_home_id(paths.home_id_file()) is not None:
        found.insert(0, [session, *home_filter()])
    return found


def legacy_volume_name(session_id: str) -> str:
    """The volume name before home ids, when it named the session alone."""
    return f"tether-{session_id}"


def existing_volume(api: Any, session_id: str) -> str | None:
    """The session's workspace volume if it has one: its own in this data dir, or the
    one named before home ids if that one's label names this data dir's path."""
    import docker.errors

    own, legacy = volume_name(session_id), legacy_volume_name(session_id)
    for name in (own, legacy):
        try:
            found = api.inspect_volume(name)
        except docker.errors.NotFound:
            continue
        label = (found.get("Labels") or {}).get(LABEL_HOME)
        if name == own or label == str(paths.sessions_dir()):
            return name
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
