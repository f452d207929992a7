"""Finding and removing sandboxes by their labels: for `tether kill`, `tether rm`,
and a sweep of containers whose harness is gone (crashed, killed, power lost)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ..store import SessionLog, SessionStore
from .engine import LABEL_HOME, LABEL_SESSION, connect, engine_errors

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class SandboxContainer:
    """A tether container as the engine reports it."""

    id: str
    name: str
    session_id: str
    status: str  # running, exited, created, ...
    home: str | None  # the sessions dir of the tether that made it


def session_containers(session_id: str | None = None) -> list[SandboxContainer]:
    """tether's containers (running or not), of one session or of all."""
    with engine_errors():
        raw = connect().api.containers(all=True, filters={"label": _label_filter(session_id)})
    return [_container(item) for item in raw]


def remove_session_resources(session_id: str, volume: bool) -> int:
    """Remove the session's containers, and its volume too if `volume`; returns the count."""
    import docker.errors

    api = connect().api
    removed = 0
    with engine_errors():
        for item in api.containers(all=True, filters={"label": _label_filter(session_id)}):
            removed += remove_container(api, item["Id"])
        if volume:
            for found in api.volumes(filters={"label": _label_filter(session_id)})["Volumes"] or []:
                try:
                    api.remove_volume(found["Name"], force=True)
                    removed += 1
                except docker.errors.NotFound:
                    pass
    return removed


def sweep(store: SessionStore | None = None) -> list[str]:
    """Remove this data dir's containers whose session has no live harness; their ids.

    A container made under another TETHER_HOME (another user, a test) is never
    touched: its session cannot be judged from here.
    """
    store = store or SessionStore()
    home = str(store.root)
    api = connect().api
    swept = []
    with engine_errors():
        for item in api.containers(all=True, filters={"label": f"{LABEL_HOME}={home}"}):
            session_id = item["Labels"].get(LABEL_SESSION, "")
            if not _has_live_harness(store, session_id) and remove_container(api, item["Id"]):
                swept.append(item["Id"])
    return swept


def _has_live_harness(store: SessionStore, session_id: str) -> bool:
    directory = store.root / session_id
    return bool(session_id) and directory.is_dir() and SessionLog(directory).is_locked()


def remove_container(api: Any, container_id: str) -> int:
    """Force-remove one container; 1 if removed, 0 if it was already gone or refused."""
    import docker.errors

    try:
        api.remove_container(container_id, force=True)
    except docker.errors.NotFound:
        return 0
    except docker.errors.APIError as exc:
        log.warning("could not remove container %s: %s", container_id[:12], exc)
        return 0
    return 1


def _label_filter(session_id: str | None) -> str:
    return f"{LABEL_SESSION}={session_id}" if session_id else LABEL_SESSION


def _container(item: dict[str, Any]) -> SandboxContainer:
    labels = item.get("Labels") or {}
    names = item.get("Names") or [""]
    return SandboxContainer(
        id=item["Id"],
        name=names[0].lstrip("/"),
        session_id=labels.get(LABEL_SESSION, ""),
        status=item.get("State", ""),
        home=labels.get(LABEL_HOME),
    )


__all__ = ["SandboxContainer", "remove_session_resources", "session_containers", "sweep"]
