"""A copy of a host directory as a tar stream, for the engine's archive API.

For a git work tree it holds what git lists (tracked files and untracked ones
that are not ignored, submodules included) and `.git`, made standalone when it
is a linked worktree's; otherwise the whole tree. Everything belongs to the
sandbox user. Credentials git keeps in `.git/config` (CI's extraheader, a
token in a remote URL, credential helpers) are left out: the container never
sees a secret.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import stat
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from . import errors
from .gitfiles import git_dir_entries, git_listed, is_config, sanitized_config
from .workspace import GIT, SANDBOX_UID, Source

CHUNK = 256 * 1024
COPY_NICENESS = 10
SKIPPED_SHOWN = 20
_BLOCK = 512


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
        yield from git_listed(self.root, "")

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
        mode = stat.S_IMODE(info.st_mode) | (0o700 if kind == tarfile.DIRTYPE else 0o600)
        if kind != tarfile.REGTYPE:
            size = 0
        elif size < 0:
            size = info.st_size
        mtime = int(info.st_mtime)
        plain = ustar_header(name, mode, self.owner, size, mtime, kind, link)
        if plain is not None:
            return plain
        entry = tarfile.TarInfo(name)
        entry.type, entry.linkname, entry.mode, entry.mtime = kind, link, mode, mtime
        entry.uid = entry.gid = self.owner
        entry.size = size
        return entry.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")

    def _emit(self, data: bytes) -> Iterator[bytes]:
        self._buffer += data
        if len(self._buffer) >= CHUNK:
            chunk, self._buffer = bytes(self._buffer), bytearray()
            yield chunk


# The fixed end of a plain header: magic and version, no user or group names, no device
# numbers, no prefix (tarfile's PAX format leaves them so).
_HEADER_END = b"ustar\x0000" + b"\0" * (32 + 32 + 8 + 8 + 155)


def ustar_header(
    name: str, mode: int, owner: int, size: int, mtime: int, kind: bytes, link: str = ""
) -> bytes | None:
    """The header tarfile's PAX format writes for an entry that needs no extended record
    (an ASCII name and link of at most 100 bytes, numbers that fit their fields), byte for
    byte, made directly: tarfile's general path is half the copy's time. None otherwise."""
    if kind == tarfile.DIRTYPE and not name.endswith("/"):
        name += "/"
    if not (name.isascii() and link.isascii()) or len(name) > 100 or len(link) > 100:
        return None
    if not (0 <= size < 8**11 and 0 <= mtime < 8**11 and 0 <= owner < 8**7):
        return None
    numbers = b"%07o\0%07o\0%07o\0%011o\0%011o\0" % (mode & 0o7777, owner, owner, size, mtime)
    fields = (name.encode().ljust(100, b"\0"), numbers, b" " * 8, kind,
              link.encode().ljust(100, b"\0"), _HEADER_END)  # fmt: skip
    head = b"".join(fields).ljust(_BLOCK, b"\0")
    return head[:148] + b"%06o\0" % sum(head) + head[155:]


def copy_in_a_child(source: Source) -> tuple[Iterator[bytes], Callable[[], CopyStats]]:
    """The copy's tar stream, made by a child process (so that reading thousands of files
    takes no turns from the harness, which sends the first model request meanwhile), and
    a function that gives its stats once the stream has ended."""
    child = subprocess.Popen(
        [sys.executable, "-m", __name__, source.kind, str(source.path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    with contextlib.suppress(OSError):  # it yields the CPU to the harness's first request
        os.setpriority(os.PRIO_PROCESS, child.pid, COPY_NICENESS)
    assert child.stdout is not None and child.stderr is not None

    def chunks() -> Iterator[bytes]:
        try:
            yield from iter(lambda: child.stdout.read(CHUNK), b"")  # type: ignore[union-attr]
        finally:
            if child.poll() is None:
                child.kill()  # the copy was cut short: the child need not go on
            child.wait()

    def stats() -> CopyStats:
        said = child.stderr.read().decode(errors="replace")  # type: ignore[union-attr]
        if child.returncode != 0:
            raise errors.SandboxError(
                said.strip().splitlines()[-1]
                if said.strip()
                else f"the copy stopped (exit status {child.returncode})"
            )
        return CopyStats(**json.loads(said))

    return chunks(), stats


def main(argv: list[str]) -> int:
    """`python -m tether.core.hostcopy KIND PATH`: the tar on stdout, its stats on stderr."""
    copy = HostCopy(Source(kind=argv[0], path=argv[1]))
    try:
        for chunk in copy.chunks():
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
    except errors.TetherError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    except BrokenPipeError:
        return 1
    sys.stderr.write(json.dumps(dataclasses.asdict(copy.stats)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
