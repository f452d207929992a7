"""What git lists in a work tree, and its `.git` as a standalone repository without
credentials: the files a workspace copy holds. Runs git on the host; no Docker."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator

from . import errors

_USERINFO = re.compile(rb"(\w[\w+.-]*://)[^/@\s\"]+@")
_SECTION = re.compile(rb"\s*\[\s*([^\]\s\"]+)")
_KEY = re.compile(rb"\s*([A-Za-z][\w-]*)")
_DROPPED_KEYS = {b"extraheader"}  # http.<url>.extraheader: how CI checkouts keep their token


def git_listed(top: str, prefix: str) -> Iterator[tuple[str, str]]:
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
                yield from ((f"{prefix}{relative}/.git/{r}", p) for r, p in files_under(dot_git))
            elif os.path.exists(dot_git):  # a submodule: `.git` names ../.git/modules/NAME
                yield f"{prefix}{relative}/.git", dot_git
            if os.path.exists(dot_git):
                yield from git_listed(path, f"{prefix}{relative}/")
            continue
        yield prefix + relative, path


def git_dir_entries(top: str) -> Iterator[tuple[str, str]]:
    """(path inside .git, host path) of a standalone copy of `top`'s git directory.

    A linked worktree's `.git` is a file naming its own git dir, which shares the
    main repository's: the copy is the shared part with the worktree's own over it.
    """
    dot_git = os.path.join(top, ".git")
    if os.path.isdir(dot_git):
        yield from files_under(dot_git, skip=())
        return
    own = _gitdir_of(dot_git)
    common_file = os.path.join(own, "commondir")
    if os.path.isfile(common_file):
        with open(common_file) as f:
            common = os.path.normpath(os.path.join(own, f.read().strip()))
        yield from files_under(common, skip=("worktrees",))
    yield from files_under(own, skip=("commondir", "gitdir"))


def _gitdir_of(dot_git_file: str) -> str:
    try:
        with open(dot_git_file) as f:
            line = f.readline().strip()
    except OSError as exc:
        raise errors.UsageError(f"cannot read {dot_git_file}: {exc.strerror}") from None
    if not line.startswith("gitdir:"):
        raise errors.UsageError(f"{dot_git_file} is neither a git directory nor a gitdir link")
    return os.path.normpath(os.path.join(os.path.dirname(dot_git_file), line[7:].strip()))


def files_under(top: str, skip: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
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
