"""A copy of a host directory as a tar stream, for the engine's archive API.

For a git work tree it holds what git lists (tracked files and untracked ones
that are not ignored, submodules included) and `.git`, made standalone when it
is a linked worktree's; otherwise the whole tree. Everything belongs to the
sandbox user. Credentials git keeps in `.git/config` (CI's extraheader, a
token in a remote URL, credential helpers) are left out: the container never
sees a secret.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field

from . import errors
from .workspace import GIT, SANDBOX_UID, Source

CHUNK = 256 * 1024
SKIPPED_SHOWN = 20
_BLOCK = 512
_USERINFO = re.compile(rb"(\w[\w+.-]*://)[^/@\s\"]+@")
_SECTION = re.compile(rb"\s*\[\s*([^\]\s\"]+)")
_KEY = re.compile(rb"\s*([A-Za-z][\w-]*)")
_DROPPED_KEYS = {b"extraheader"}  # http.<url>.extraheader: how CI checkouts keep their token


@dataclass
class CopyStats:
    """What a copy held: files, bytes, and the paths it could not read."""

    files: int = 0
    bytes: int = 0
    skipped: list[str] = field(default_factory=list)


class HostCopy:
    """The files of `source` (a git or dir source) as tar chunks under `workspace/`."""

    def __init__(self, source: Source, owner: int = SANDBOX_UID) -> None:
        assert source.path is not None
        self.root = source.path
        self.git = source.kind == GIT
        self.owner = owner
        self.stats = CopyStats()
        self._dirs: set[str] = set()
        self._buffer = bytearray()

    def chunks(self) -> Iterator[bytes]:
        """The tar stream, in chunks of about CHUNK bytes; stats are final once it ends."""
        yield from self._add_dir("workspace", self.root)
        entries = self._git_entries() if self.git else self._walk(self.root, "")
        for relative, path in entries:
            yield from self._add("workspace/" + relative, path)
        if self.git:
            for relative, path in git_dir_entries(self.root):
                yield from self._add("workspace/.git/" + relative, path, is_config(relative))
        self._buffer += b"\0" * (2 * _BLOCK)
        yield bytes(self._buffer)

    # -- what to copy ----------------------------------------------------------

    def _git_entries(self) -> Iterator[tuple[str, str]]:
        yield from _git_listed(self.root, "")

    def _walk(self, top: str, prefix: str) -> Iterator[tuple[str, str]]:
        for root, dirs, files in os.walk(top):
            dirs.sort()
            relative = os.path.relpath(root, top)
            base = prefix if relative == "." else f"{prefix}{relative}/"
            for name in sorted(files) + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
                yield base + name, os.path.join(root, name)

    # -- the tar stream --------------------------------------------------------

    def _add(self, name: str, path: str, config: bool = False) -> Iterator[bytes]:
        try:
            info = os.lstat(path)
        except OSError:
            return  # listed by git but deleted in the work tree: the copy has it deleted too
        yield from self._add_parents(name, path)
        if stat.S_ISDIR(info.st_mode):
            yield from self._add_dir(name, path)
        elif stat.S_ISLNK(info.st_mode):
            yield from self._emit(self._header(name, info, tarfile.SYMTYPE, os.readlink(path)))
            self._count(name, 0)
        elif stat.S_ISREG(info.st_mode):
            yield from self._add_file(name, path, info, config or name.endswith("/.git/config"))

    def _add_parents(self, name: str, path: str) -> Iterator[bytes]:
        parent, host = os.path.dirname(name), os.path.dirname(path)
        if parent and parent not in self._dirs:
            yield from self._add_parents(parent, host)
            yield from self._add_dir(parent, host)

    def _add_dir(self, name: str, path: str) -> Iterator[bytes]:
        if name in self._dirs:
            return
        self._dirs.add(name)
        try:
            info = os.stat(path)
        except OSError:
            info = os.stat(self.root)
        yield from self._emit(self._header(name, info, tarfile.DIRTYPE))

    def _add_file(
        self, name: str, path: str, info: os.stat_result, config: bool
    ) -> Iterator[bytes]:
        try:
            with open(path, "rb") as f:
                if config:
                    data = sanitized_config(f.read())
                    yield from self._emit(self._header(name, info, tarfile.REGTYPE, size=len(data)))
                    yield from self._emit(data + b"\0" * (-len(data) % _BLOCK))
                else:
                    yield from self._emit(self._header(name, info, tarfile.REGTYPE))
                    yield from self._copy_data(f, info.st_size)
        except OSError as exc:
            if len(self.stats.skipped) < SKIPPED_SHOWN:
                self.stats.skipped.append(f"{name.removeprefix('workspace/')}: {exc.strerror}")
            return
        self._count(name, info.st_size)

    def _count(self, name: str, size: int) -> None:
        if not name.startswith("workspace/.git/"):  # the project's files; .git comes along
            self.stats.files += 1
            self.stats.bytes += size

    def _copy_data(self, f: object, size: int) -> Iterator[bytes]:
        """Exactly `size` bytes (a file that shrank meanwhile is padded), then the padding."""
        left = size
        while left > 0:
            data = f.read(min(left, CHUNK))  # type: ignore[attr-defined]
            if not data:
                data = b"\0" * left
            left -= len(data)
            yield from self._emit(data)
        yield from self._emit(b"\0" * (-size % _BLOCK))

    def _header(
        self, name: str, info: os.stat_result, kind: bytes, link: str = "", size: int = -1
    ) -> bytes:
        entry = tarfile.TarInfo(name)
        entry.type, entry.linkname = kind, link
        entry.mode = stat.S_IMODE(info.st_mode) | (0o700 if kind == tarfile.DIRTYPE else 0o600)
        entry.mtime = int(info.st_mtime)
        entry.uid = entry.gid = self.owner
        if kind == tarfile.REGTYPE:
            entry.size = info.st_size if size < 0 else size
        return entry.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")

    def _emit(self, data: bytes) -> Iterator[bytes]:
        self._buffer += data
        if len(self._buffer) >= CHUNK:
            chunk, self._buffer = bytes(self._buffer), bytearray()
            yield chunk


def _git_listed(top: str, prefix: str) -> Iterator[tuple[str, str]]:
    """(relative path, host path) of what git lists under `top`, into submodules too."""
    listed = _git(top, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    seen: set[bytes] = set()
    for raw in listed.split(b"\0"):
        if not raw or raw in seen:
            continue  # an unmerged path is listed once per stage
        seen.add(raw)
        relative = os.fsdecode(raw)
        path = os.path.join(top, relative)
        if os.path.isdir(path) and not os.path.islink(path):
            dot_git = os.path.join(path, ".git")
            if os.path.isdir(dot_git):  # a submodule of old, with its git dir inside
                yield from ((f"{prefix}{relative}/.git/{r}", p) for r, p in _files_under(dot_git))
            elif os.path.exists(dot_git):  # a submodule: `.git` names ../.git/modules/NAME
                yield f"{prefix}{relative}/.git", dot_git
            if os.path.exists(dot_git):
                yield from _git_listed(path, f"{prefix}{relative}/")
            continue
        yield prefix + relative, path


def git_dir_entries(top: str) -> Iterator[tuple[str, str]]:
    """(path inside .git, host path) of a standalone copy of `top`'s git directory.

    A linked worktree's `.git` is a file naming its own git dir, which shares the
    main repository's: the copy is the shared part with the worktree's own over it.
    """
    dot_git = os.path.join(top, ".git")
    if os.path.isdir(dot_git):
        yield from _files_under(dot_git, skip=())
        return
    own = _gitdir_of(dot_git)
    common_file = os.path.join(own, "commondir")
    if os.path.isfile(common_file):
        with open(common_file) as f:
            common = os.path.normpath(os.path.join(own, f.read().strip()))
        yield from _files_under(common, skip=("worktrees",))
    yield from _files_under(own, skip=("commondir", "gitdir"))


def _gitdir_of(dot_git_file: str) -> str:
    try:
        with open(dot_git_file) as f:
            line = f.readline().strip()
    except OSError as exc:
        raise errors.UsageError(f"cannot read {dot_git_file}: {exc.strerror}") from None
    if not line.startswith("gitdir:"):
        raise errors.UsageError(f"{dot_git_file} is neither a git directory nor a gitdir link")
    return os.path.normpath(os.path.join(os.path.dirname(dot_git_file), line[7:].strip()))


def _files_under(top: str, skip: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    for root, dirs, files in os.walk(top):
        if root == top:
            dirs[:] = [d for d in dirs if d not in skip]
            files = [f for f in files if f not in skip]
        relative = os.path.relpath(root, top)
        base = "" if relative == "." else relative + "/"
        for name in files:
            yield base + name, os.path.join(root, name)


def is_config(relative: str) -> bool:
    """Whether a path inside .git is a repository's config (its own, or a submodule's)."""
    return relative == "config" or (
        relative.startswith("modules/") and relative.endswith("/config")
    )


def sanitized_config(config: bytes) -> bytes:
    """A `.git/config` without credentials: no credential sections, no extraheader (CI
    tokens), no passwords in URLs, and no settings that point outside the repository."""
    kept, in_credential = [], False
    for line in config.splitlines(keepends=True):
        section = _SECTION.match(line)
        if section:
            in_credential = section[1].lower().startswith(b"credential")
        key = _KEY.match(line)
        if in_credential or (not section and key and key[1].lower() in _DROPPED_KEYS):
            continue
        kept.append(_USERINFO.sub(rb"\1", line))
    return b"".join(kept)


def _git(top: str, *args: str) -> bytes:
    try:
        done = subprocess.run(
            ["git", "-C", top, *args], capture_output=True, check=True, timeout=300
        )
    except subprocess.CalledProcessError as exc:
        detail = exc.stderr.decode(errors="replace").strip().splitlines()
        raise errors.SandboxError(
            f"git could not list the files of {top}: {detail[-1] if detail else exc}"
        ) from None
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise errors.SandboxError(f"git could not list the files of {top}: {exc}") from None
    return done.stdout
