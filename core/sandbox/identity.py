"""A name for the sandbox user: an /etc/passwd and /etc/group entry for the uid
the container runs as, so `whoami`, `id` and tools that look the user up work.
Written by the engine into the created container before it starts (no process
needs to run as root, and no capability is added)."""

from __future__ import annotations

import io
import logging
import tarfile
import time
from typing import Any

log = logging.getLogger(__name__)

NAME = "sandbox"
HOME = "/tmp/home"


def add_user(api: Any, container_id: str, user: str) -> None:
    """Give uid:gid `user` a name in the container's passwd and group files, unless
    the image already has one for it (then nothing changes)."""
    uid, gid = user.split(":")
    files = {name: _read(api, container_id, f"/etc/{name}") for name in ("passwd", "group")}
    passwd, group = files["passwd"], files["group"]
    if passwd is None or _has_id(passwd, uid):
        return
    passwd += f"{NAME}:x:{uid}:{gid}:tether sandbox:{HOME}:/bin/sh\n".encode()
    changed = {"passwd": passwd}
    if group is not None and not _has_id(group, gid):
        changed["group"] = group + f"{NAME}:x:{gid}:\n".encode()
    api.put_archive(container_id, "/etc", _archive(changed))


def _read(api: Any, container_id: str, path: str) -> bytes | None:
    import docker.errors

    try:
        stream, _ = api.get_archive(container_id, path)
    except docker.errors.NotFound:
        return None
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.extractfile(tar.getmembers()[0])
        data = member.read() if member is not None else b""
    return data if not data or data.endswith(b"\n") else data + b"\n"


def _has_id(table: bytes, number: str) -> bool:
    return any(line.split(b":")[2:3] == [number.encode()] for line in table.splitlines())


def _archive(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            entry = tarfile.TarInfo(name)
            entry.size, entry.mode, entry.mtime = len(data), 0o644, int(time.time())
            tar.addfile(entry, io.BytesIO(data))
    return buffer.getvalue()
