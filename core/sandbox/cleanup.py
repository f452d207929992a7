"""Finding and removing this data dir's sandboxes by their labels: for `tether kill`,
`tether rm`, and a sweep of containers whose harness is proven gone (crashed,
killed, power lost). Another data dir's containers and volumes are never touched,
even with the same session id or the same path; nor is a container whose maker
cannot be proven dead (another machine on the same engine, another PID namespace)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from . import engine, owner
from .engine import LABEL_HOME, LABEL_OWNER, LABEL_SESSION, connect, engine_errors

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class SandboxContainer:
    """A tether container as the engine reports it."""

    id: str
    name: str
    session_id: str
    status: str  # running, exited, created, ...
    home: str | None  # the id of the data dir that made it (or its path, before home ids)


def session_containers(session_id: str | None = None) -> list[SandboxContainer]:
    """This data dir's containers (running or not), of one session or of all."""
    api = connect().api
    with engine_errors():
        raw = _find(api.containers, session_id, all=True)
    return [_container(item) for item in raw]


def remove_session_resources(session_id: str, volume: bool) -> int:
    """Remove the session's containers in this data dir, and its volume too if `volume`;
    returns the count."""
    import docker.errors

    api = connect().api
    removed = 0
    with engine_errors():
        for item in _find(api.containers, session_id, all=True):
            removed += remove_container(api, item["Id"])
        if volume:
            for found in _find(lambda **kw: api.volumes(**kw)["Volumes"] or [], session_id):
                try:
                    api.remove_volume(found["Name"], force=True)
                    removed += 1
                except docker.errors.NotFound:
                    pass
    return removed


def sweep() -> list[str]:
    """Remove this data dir's containers whose maker is proven dead; their ids."""
    api = connect().api
    swept = []
    with engine_errors():
        for item in api.containers(all=True, filters={"label": engine.home_filter()}):
            maker = (item.get("Labels") or {}).get(LABEL_OWNER, "")
            if maker and owner.proven_dead(maker) and remove_container(api, item["Id"]):
                swept.append(item["Id"])
    return swept


def orphans(session_ids: set[str]) -> tuple[list[str], list[str]]:
    """(volume names, container ids) of this data dir that no session in `session_ids`
    owns, and containers whose maker is proven dead: what `prune` removes."""
    api = connect().api
    with engine_errors():
        volumes = _find(lambda **kw: api.volumes(**kw)["Volumes"] or [], None)
        containers = _find(api.containers, None, all=True)
    lost = [v["Name"] for v in volumes if _session_of(v) not in session_ids]
    dead = [c["Id"] for c in containers if _session_of(c) not in session_ids or _dead(c)]
    return lost, dead


def remove_resources(volumes: list[str], containers: list[str]) -> None:
    """Force-remove these containers, then these volumes; ones already gone are fine."""
    import docker.errors

    api = connect().api
    with engine_errors():
        for container_id in containers:
            remove_container(api, container_id)
        for name in volumes:
            try:
                api.remove_volume(name, force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                log.warning("could not remove volume %s: %s", name, exc)


def _session_of(item: dict[str, Any]) -> str:
    return str((item.get("Labels") or {}).get(LABEL_SESSION, ""))


def _dead(item: dict[str, Any]) -> bool:
    maker = (item.get("Labels") or {}).get(LABEL_OWNER, "")
    return bool(maker) and owner.proven_dead(maker)


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


def _find(listing: Any, session_id: str | None, **options: Any) -> list[dict[str, Any]]:
    """What `listing` (containers or volumes) finds of the session, or of this data dir."""
    filters = engine.session_filters(session_id) if session_id else _home_filters()
    found: dict[str, dict[str, Any]] = {}
    for labels in filters:
        for item in listing(filters={"label": labels}, **options):
            found[item.get("Id") or item["Name"]] = item
    return list(found.values())


def _home_filters() -> list[list[str]]:
    from .. import paths

    return [engine.home_filter(), [f"{LABEL_HOME}={paths.sessions_dir()}"]]


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


__all__ = [
    "SandboxContainer", "orphans", "remove_resources", "remove_session_resources",
    "session_containers", "sweep",
]  # fmt: skip
