"""A session's workspace volume from the outside: filling it with a host copy,
copying files in and out (`tether cp`), and making a fork's volumes.

Files move through the engine's archive API on a container that is created but
never started: no process runs, so nothing needs the sandbox to be up, and a
remote engine (DOCKER_HOST) works the same.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from .. import errors
from ..workspace import SANDBOX_UID
from . import engine
from .engine import engine_errors
from .oneoff import run_script
from .store import HELPER, ROLE, Mounts, helper_config, own, volume_exists
from .tools import WORKSPACE

log = logging.getLogger(__name__)


def create_volume(api: Any, image: str, session_id: str, fresh: bool) -> None:
    """Make the session's workspace volume; `fresh` first removes what a cut copy left."""
    import docker.errors

    name = engine.existing_volume(api, session_id) or engine.volume_name(session_id)
    if fresh:
        _remove_session_containers(api, session_id)
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_volume(name, force=True)
    if not volume_exists(api, name):
        api.create_volume(name, labels=engine.labels(session_id))
        if _is_podman(api):
            _first_mount_as_sandbox_user(api, image, session_id, name)


def _is_podman(api: Any) -> bool:
    version = api.version()
    names = [(version.get("Platform") or {}).get("Name", "")]
    names += [c.get("Name", "") for c in version.get("Components") or []]
    return any("podman" in str(name).lower() for name in names)


def _first_mount_as_sandbox_user(api: Any, image: str, session_id: str, name: str) -> None:
    """Podman gives a new volume's root to the user of the first container that starts
    on it; that must be the sandbox user, not the checkpoint helper (root) beside it.
    An engine that starts no container says why when the sandbox starts."""
    import docker.errors
    from docker.types import Mount

    mount = Mount(WORKSPACE, name, type="volume", no_copy=True)
    config = helper_config(api, image, [mount], ())
    config["user"] = f"{SANDBOX_UID}:{SANDBOX_UID}"
    try:
        created = api.create_container(
            **config, command=["true"], labels=engine.labels(session_id, HELPER)
        )
    except docker.errors.APIError as exc:
        log.debug("no first mount as the sandbox user: %s", exc)
        return
    try:
        api.start(created["Id"])
        api.wait(created["Id"], timeout=60)
    except docker.errors.APIError as exc:
        log.debug("no first mount as the sandbox user: %s", exc)
    finally:
        with contextlib.suppress(docker.errors.APIError):
            api.remove_container(created["Id"], force=True)


def copy_in(api: Any, image: str, session_id: str, chunks: Iterable[bytes]) -> None:
    """Extract a tar stream (names under `workspace/`) into the session's volume."""
    mounts = Mounts.of(api, session_id, None)
    with engine_errors(), parked(api, image, mounts) as container:
        api.put_archive(container, "/", _generator(chunks))


@contextlib.contextmanager
def parked(api: Any, image: str, mounts: Mounts, writable: bool = True) -> Iterator[str]:
    """A container on the workspace, created and never started, removed afterwards."""
    import docker.errors

    config = helper_config(api, image, [mounts.workspace(not writable)], ())
    try:
        created = api.create_container(
            **config, command=["true"], labels=engine.labels(mounts.session_id, HELPER)
        )
    except docker.errors.ImageNotFound:
        raise errors.ImageNotFound(
            f"the session's image {image} is not here any more; pull or build it again"
        ) from None
    try:
        yield str(created["Id"])
    finally:
        with contextlib.suppress(docker.errors.APIError):
            api.remove_container(created["Id"], force=True)


def running_sandbox(api: Any, session_id: str) -> str | None:
    """The session's sandbox container if one is running: it also has the shell's files."""
    found = api.containers(filters={"label": own(session_id, "sandbox"), "status": "running"})
    return str(found[0]["Id"]) if found else None


class Box:
    """A container whose files the archive API reads and writes: the running sandbox,
    or a parked container on the workspace (which keeps only /workspace)."""

    def __init__(self, api: Any, container_id: str, running: bool) -> None:
        self.api = api
        self.container_id = container_id
        self.running = running

    def stat(self, path: str) -> dict[str, Any] | None:
        """The engine's stat of `path` (name, size, mode as Go's FileMode), or None."""
        import base64
        import json

        url = self.api._url("/containers/{0}/archive", self.container_id)
        response = self.api.head(url, params={"path": path})
        if response.status_code == 404:
            return None
        self.api._raise_for_status(response)
        header = response.headers.get("X-Docker-Container-Path-Stat", "")
        return dict(json.loads(base64.b64decode(header))) if header else {}

    def read(self, path: str) -> Iterator[bytes]:
        """A tar stream of `path`."""
        stream, _ = self.api.get_archive(self.container_id, path)
        return iter(stream)

    def write(self, directory: str, data: Iterable[bytes]) -> None:
        """Extract a tar stream into `directory`."""
        import docker.errors

        try:
            self.api.put_archive(self.container_id, directory, _generator(data))
        except docker.errors.APIError as exc:
            raise errors.UsageError(f"cannot copy into {directory}: {exc.explanation}") from None

    def missing(self, path: str) -> str:
        """Why `path` is not there, in words."""
        if self.running or path == WORKSPACE or path.startswith(WORKSPACE + "/"):
            return f"{path}: no such file or directory"
        return (
            f"{path}: no such file or directory (the sandbox is not running, so only "
            f"{WORKSPACE} is kept)"
        )


@contextlib.contextmanager
def box(api: Any, image: str, mounts: Mounts, writable: bool) -> Iterator[Box]:
    """The session's running sandbox, else a parked container on its workspace."""
    with engine_errors():
        running = running_sandbox(api, mounts.session_id)
        if running is not None:
            yield Box(api, running, True)
            return
        with parked(api, image, mounts, writable) as container:
            yield Box(api, container, False)


def fork_volumes(api: Any, image: str, parent: str, child: str, checkpoint: str) -> None:
    """Make `child`'s workspace (the files of `checkpoint`) and store (`parent`'s objects)."""
    from .store import ensure_volume

    with engine_errors():
        for kind, role in (("workspace", "sandbox"), (ROLE, ROLE)):
            ensure_volume(api, engine.volume_name(child, kind), child, role)
        mounts = Mounts(
            session_id=child,
            extra=((engine.volume_name(parent, ROLE), "/parent", True),),
        )
        done = run_script(
            api, image, mounts, f"store_fork {checkpoint}",
            caps=("DAC_READ_SEARCH", "CHOWN", "FOWNER", "DAC_OVERRIDE"),
            workspace_read_only=False,
        )  # fmt: skip
    done.check("restore the files of the fork")


def _remove_session_containers(api: Any, session_id: str) -> None:
    from .cleanup import remove_container

    for item in api.containers(all=True, filters={"label": own(session_id)}):
        remove_container(api, item["Id"])


def _only_workspace() -> str:
    return f" (the sandbox is not running, so only {WORKSPACE} is kept)"


def _generator(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """A plain generator: requests streams it with chunked encoding, never whole."""
    yield from chunks
