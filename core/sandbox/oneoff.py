"""Store commands run once, for the commands that have no harness of their own
(diff, apply, fork): in the harness's helper when one runs, else in a helper that
removes itself when the command ends."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .. import errors
from . import engine
from .engine import engine_errors
from .store import (
    HELPER,
    NO_GIT,
    READ_ONLY_CAPS,
    ROLE,
    Mounts,
    StoreUnavailable,
    helper_config,
    own,
    store_script,
)

_STATUS = "__tether_status"


@dataclass(frozen=True, kw_only=True)
class Done:
    """What a one-off store command gave: its status, stdout and stderr."""

    status: int
    out: bytes
    err: bytes

    def check(self, doing: str) -> bytes:
        if self.status == NO_GIT:
            raise StoreUnavailable(f"cannot {doing}: the session's image has no git")
        if self.status != 0:
            lines = (self.out + self.err).decode("utf-8", "replace").strip().splitlines()
            detail = lines[-1] if lines else f"exit status {self.status}"
            raise errors.SandboxError(f"cannot {doing}: {detail}")
        return self.out


def run_script(
    api: Any, image: str, mounts: Mounts, script: str, *, caps: Sequence[str] = READ_ONLY_CAPS,
    workspace_read_only: bool = True,
) -> Done:  # fmt: skip
    """Run a script of store.sh's functions once (`return` ends it): in the harness's
    helper when one runs (and the call needs nothing more), else in a one-off helper
    that removes itself."""
    # store.sh comes inline: one request less than putting it into the container first
    command = (
        f"{store_script()}\n__tether_script() {{\n{script}\n}}; __tether_script\n"
        f'echo "{_STATUS} $?" >&2'
    )
    with engine_errors():
        running = _running_helper(api, mounts.session_id)
        if running and tuple(caps) == READ_ONLY_CAPS and not mounts.extra:
            return _exec(api, running, command)
        return _run_once(api, image, mounts, command, caps, workspace_read_only)


def _running_helper(api: Any, session_id: str) -> str | None:
    found = api.containers(filters={"label": own(session_id, ROLE), "status": "running"})
    return str(found[0]["Id"]) if found else None


def _exec(api: Any, container_id: str, command: str) -> Done:
    exec_id = api.exec_create(container_id, ["/bin/sh", "-c", command], user="0:0")["Id"]
    out, err = bytearray(), bytearray()
    for chunk_out, chunk_err in api.exec_start(exec_id, stream=True, demux=True):
        out += chunk_out or b""
        err += chunk_err or b""
    return _done(bytes(out), bytes(err))


def _run_once(
    api: Any, image: str, mounts: Mounts, command: str, caps: Sequence[str], read_only: bool
) -> Done:
    import docker.errors

    config = helper_config(api, image, mounts.build(read_only), caps, auto_remove=True)
    try:
        created = api.create_container(
            **config, entrypoint=["/bin/sh", "-c"], command=[command],
            labels=engine.labels(mounts.session_id, HELPER),
        )  # fmt: skip
    except docker.errors.ImageNotFound:
        raise errors.ImageNotFound(
            f"the session's image {image} is not here any more; pull or build it again"
        ) from None
    container_id = str(created["Id"])
    try:
        socket = api.attach_socket(container_id, params={"stdout": 1, "stderr": 1, "stream": 1})
        api.start(container_id)
        out, err = _read_frames(socket)
    except BaseException:
        with contextlib.suppress(docker.errors.APIError):
            api.remove_container(container_id, force=True)
        raise
    return _done(out, err)


def _read_frames(socket: Any) -> tuple[bytes, bytes]:
    from docker.utils.socket import frames_iter

    out, err = bytearray(), bytearray()
    try:
        for stream, data in frames_iter(socket, tty=False):
            (out if stream == 1 else err).extend(data)
    finally:
        socket.close()
    return bytes(out), bytes(err)


def _done(out: bytes, err: bytes) -> Done:
    head, _, trailer = err.rstrip(b"\n").rpartition(b"\n")
    if not trailer.startswith(_STATUS.encode() + b" "):
        head, trailer = err, b"- 1"  # the shell died before it could say
    return Done(status=int(trailer.split()[1]), out=out, err=head)
