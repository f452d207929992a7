"""`tether cp`: files between the host and a session's workspace, as `docker cp`
and `kubectl cp` do it, whether or not a harness or a container runs.

`ID:PATH` names a path in the sandbox; a relative PATH is under /workspace. A
file copied onto a directory goes into it; a directory copied to a new name
becomes that name; `DIR/.` copies what DIR holds. `-` is a tar stream on
stdout or stdin.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from . import errors
from . import events as ev
from .store import SessionLog, SessionStore
from .workspace import SANDBOX_UID, bind_user

WORKSPACE = "/workspace"
_SPEC = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*):(.*)", re.S)


@dataclass(frozen=True, kw_only=True)
class Remote:
    """`ID:PATH` on the command line: the session and an absolute path in its sandbox."""

    session: SessionLog
    path: str
    contents: bool = False  # PATH ended in `/.`: its contents, not itself
    directory: bool = False  # PATH ended in `/`: it must be a directory


def parse(argument: str, store: SessionStore | None = None) -> Remote | None:
    """`ID:PATH` as a Remote; None for a host path (which may hold a colon after a slash)."""
    if argument.startswith(("/", "./", "../")) or argument == "-":
        return None
    found = _SPEC.fullmatch(argument)
    if found is None:
        return None
    session = (store or SessionStore()).open(found[1])
    text = found[2] or "."
    contents = text == "." or text.endswith("/.")
    path = posixpath.normpath(posixpath.join(WORKSPACE, text))
    return Remote(session=session, path=path, contents=contents, directory=text.endswith("/"))


class WorkspaceFiles:
    """A session's files through the engine's archive API."""

    def __init__(self, remote: Remote) -> None:
        from .sandbox import engine
        from .sandbox.store import Mounts

        created = remote.session.read(0, 1)
        if not created or not isinstance(created[0], ev.SessionCreated):
            raise errors.LogCorrupt(f"session {remote.session.id} does not start with a session")
        self.settings = created[0]
        self.remote = remote
        self.api = engine.connect().api
        self.mounts = Mounts.of(self.api, remote.session.id, self.settings.workspace)

    def box(self, writable: bool) -> Any:
        """A context giving a Box on the sandbox or the workspace."""
        from .sandbox.workspace import box

        if self.settings.workspace is None and self.mounts.volume is None:
            raise errors.UsageError(
                f"session {self.remote.session.id} has no workspace yet (it never used a tool)"
            )
        return box(self.api, self.settings.image, self.mounts, writable)

    def owner(self) -> int:
        if self.settings.workspace:
            return int(bind_user(self.settings.workspace).split(":")[0])
        return SANDBOX_UID


def copy_out(remote: Remote, destination: str, stdout: IO[bytes]) -> str:
    """Copy ID:PATH to a host path (or a tar stream on stdout for `-`); what was done."""
    with WorkspaceFiles(remote).box(writable=False) as box:
        found = box.stat(remote.path)
        if found is None:
            raise errors.UsageError(box.missing(remote.path))
        if destination == "-":
            for chunk in box.read(remote.path):
                stdout.write(chunk)
            stdout.flush()
            return ""
        is_dir = stat.S_ISDIR(_mode(found))
        root = _host_target(destination, posixpath.basename(remote.path), is_dir, remote.contents)
        _extract(box.read(remote.path), root)
    return f"copied {remote.session.id}:{remote.path} to {root}"


def copy_in(source: str, remote: Remote, stdin: IO[bytes]) -> str:
    """Copy a host path (or a tar stream from stdin for `-`) to ID:PATH; what was done."""
    files = WorkspaceFiles(remote)
    host = os.path.abspath(source)
    if source != "-" and not os.path.lexists(host):
        raise errors.UsageError(f"{source}: no such file or directory")
    with files.box(writable=True) as box:
        found = box.stat(remote.path)
        if source == "-":
            if found is None or not stat.S_ISDIR(_mode(found)):
                raise errors.UsageError(f"{remote.path}: not a directory to extract into")
            box.write(remote.path, iter(lambda: stdin.read(1 << 20), b""))
            return ""
        directory, name = _sandbox_target(host, remote, found, source.endswith("/."))
        if box.stat(directory) is None:
            raise errors.UsageError(box.missing(directory))
        box.write(directory, _tar_of(host, name, files.owner()))
    return f"copied {source} to {remote.session.id}:{posixpath.join(directory, name)}"


def _sandbox_target(
    host: str, remote: Remote, found: dict[str, Any] | None, contents: bool
) -> tuple[str, str]:
    """(directory to extract into, top name in the tar; "" for a directory's contents)."""
    is_dir = os.path.isdir(host) and not os.path.islink(host)
    if found is not None and stat.S_ISDIR(_mode(found)):
        return remote.path, "" if contents and is_dir else os.path.basename(host)
    if found is not None and is_dir:
        raise errors.UsageError(f"cannot copy a directory onto the file {remote.path}")
    if remote.directory:
        raise errors.UsageError(f"{remote.path}/: no such directory (it must exist)")
    return posixpath.dirname(remote.path), posixpath.basename(remote.path)


def _host_target(destination: str, name: str, is_dir: bool, contents: bool) -> str:
    """Where a copied file or directory lands on the host."""
    target = os.path.abspath(destination)
    if os.path.isdir(target):
        return target if contents and is_dir else os.path.join(target, name)
    if os.path.exists(target) and is_dir:
        raise errors.UsageError(f"cannot copy a directory onto the file {destination}")
    if destination.endswith(os.sep) and not is_dir:
        raise errors.UsageError(f"{destination}: no such directory")
    if not os.path.isdir(os.path.dirname(target)):
        raise errors.UsageError(f"{os.path.dirname(destination) or '.'}: no such directory")
    return target


def _extract(stream: Iterator[bytes], root: str) -> None:
    """Extract a tar stream so its top entry becomes `root`, safely (no links out)."""
    with tempfile.TemporaryFile() as spool:
        for chunk in stream:
            spool.write(chunk)
        spool.seek(0)
        with tarfile.open(fileobj=spool, mode="r|*") as tar:
            for member in tar:
                top, _, rest = member.name.partition("/")
                member.name = rest
                if not member.name:  # the top entry itself
                    if member.isdir():
                        os.makedirs(root, exist_ok=True)
                        continue
                    member.name = os.path.basename(root)
                    tar.extract(member, os.path.dirname(root), filter="data")
                    continue
                tar.extract(member, root, filter="data")


def _tar_of(host: str, name: str, owner: int) -> Iterator[bytes]:
    """A tar of `host` whose top entry is `name` ("": the directory's entries), owned by
    the sandbox user."""

    def owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = owner
        info.uname = info.gname = ""
        return info

    with tempfile.TemporaryFile() as spool:
        with tarfile.open(fileobj=spool, mode="w", format=tarfile.PAX_FORMAT) as tar:
            if name:
                tar.add(host, arcname=name, filter=owned)
            else:
                for entry in sorted(os.listdir(host)):
                    tar.add(os.path.join(host, entry), arcname=entry, filter=owned)
        spool.seek(0)
        yield from iter(lambda: spool.read(1 << 20), b"")


def _mode(found: dict[str, Any]) -> int:
    """The engine reports Go's os.FileMode: a directory has bit 31 set."""
    mode = int(found.get("mode", 0))
    return stat.S_IFDIR if mode & (1 << 31) else stat.S_IFREG
