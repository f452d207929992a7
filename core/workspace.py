"""Where a session's /workspace comes from, decided on the host when it is created.

By default, inside a git work tree, the workspace starts as a copy of that work
tree (what git lists, and `.git`); outside one it starts empty. `--from DIR`
copies DIR (git-aware when DIR is a git tree, else all of it under a size limit),
`--workspace DIR` mounts DIR itself, live, and `--empty` starts empty. Nothing
here talks to Docker: the copy itself is made when the sandbox is prepared.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from . import errors

GIT, DIR, EMPTY, BIND, FORK = "git", "dir", "empty", "bind", "fork"
COPIES = frozenset({GIT, DIR})
SANDBOX_UID = 1000
OUTSIDE_GIT_NOTE = (
    "not in a git work tree: the agent starts with an empty /workspace "
    "(--from DIR copies a directory, --workspace DIR mounts one)"
)


@dataclass(frozen=True, kw_only=True)
class Source:
    """Where the workspace comes from: `kind` is git, dir, empty or bind; `path` the host dir."""

    kind: str
    path: str | None = None
    note: str | None = None  # what the person should know about it


def choose(
    *, from_dir: str | None, bind: str | None, empty: bool, cwd: str, copy_limit: int
) -> Source:
    """The source the flags ask for, checked now so that a bad one is refused at start."""
    if sum(bool(given) for given in (from_dir, bind, empty)) > 1:
        raise errors.UsageError("give only one of --from, --workspace and --empty")
    if empty:
        return Source(kind=EMPTY)
    if bind:
        path = _existing_dir(bind, "--workspace")
        bind_user(path)
        return Source(kind=BIND, path=path)
    if from_dir:
        return copy_of(_existing_dir(from_dir, "--from"), copy_limit)
    top = git_top(cwd)
    if top is None:
        return Source(kind=EMPTY, note=OUTSIDE_GIT_NOTE)
    return Source(kind=GIT, path=_needs_git(top))


def copy_of(path: str, copy_limit: int) -> Source:
    """A git-aware copy of a git work tree, else of the whole directory under `copy_limit`."""
    top = git_top(path)
    if top is not None and os.path.samefile(top, path):
        return Source(kind=GIT, path=_needs_git(top))
    size = tree_size(path, copy_limit)
    if size > copy_limit:
        raise errors.UsageError(
            f"--from {path}: more than {human_size(copy_limit)} to copy; raise the limit "
            f"(--copy-limit or TETHER_COPY_LIMIT), copy less, or mount it with --workspace"
        )
    return Source(kind=DIR, path=path)


def git_top(start: str) -> str | None:
    """The top of the git work tree holding `start` (where `.git` is), or None.

    Found the way git finds it, by looking up for `.git`, without running git:
    this runs on every `tether run`, before the first model request.
    """
    path = Path(start).resolve()
    for directory in (path, *path.parents):
        if (directory / ".git").exists():
            return str(directory)
    return None


def _needs_git(top: str) -> str:
    if shutil.which("git") is None:
        raise errors.UsageError(
            f"{top} is a git work tree, but git is not installed here, so the files git "
            "would copy cannot be listed: install git, or pass --from, --workspace or --empty"
        )
    return top


def tree_size(path: str, stop_after: int) -> int:
    """Bytes of regular files under `path`, counting no further than just past `stop_after`."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                info = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            total += info.st_size if stat.S_ISREG(info.st_mode) else 0
            if total > stop_after:
                return total
    return total


def bind_user(path: str) -> str:
    """uid:gid the sandbox runs as on a host directory, so that the agent can write it.

    As a user, tether runs the sandbox as that user. As root (CI containers), it
    runs it as the directory's owner, root included: its files stay its owner's.
    """
    info = os.stat(path)
    if os.getuid() != 0:
        if not os.access(path, os.W_OK):
            raise errors.UsageError(
                f"--workspace {path}: not writable by you (uid {os.getuid()}), so not by "
                f"the agent either; chmod u+w it, or let the agent work on a copy (--from)"
            )
        return f"{os.getuid()}:{os.getgid()}"
    if not info.st_mode & stat.S_IWUSR:
        raise errors.UsageError(
            f"--workspace {path}: its owner (uid {info.st_uid}) cannot write it, so the "
            "agent cannot either; chmod u+w it, or let the agent work on a copy (--from)"
        )
    return f"{info.st_uid}:{info.st_gid}"


def human_size(size: float) -> str:
    """1.5 GiB, 12 MiB, 800 KiB, 12 B: the units `1g` and `500m` mean."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{int(size)} B"


def _existing_dir(value: str, flag: str) -> str:
    from .config_values import existing_dir

    if not value.strip():
        raise errors.UsageError(f"{flag} must not be empty")
    return existing_dir(value, flag)
