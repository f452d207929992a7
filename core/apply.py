"""`tether apply`: bring the agent's change into a host directory, all or nothing.

Every changed file is judged on three versions: as the workspace started (the
base), as the agent left it, and as the target holds it now. A target file
still as it started takes the agent's version; one the agent's version already
matches is left alone; one that changed on both sides is merged three-way, as
`git apply --3way` does (`git merge-file`). A conflict anywhere writes nothing
and names every conflicting file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from . import errors
from .changes import RawChange
from .store import SessionLog

LINK, GITLINK = "120000", "160000"


class ApplyConflict(errors.TetherError):
    """Files changed on both sides in ways that do not merge; nothing was written."""


@dataclass(frozen=True, kw_only=True)
class Action:
    """What apply does to one file: write `data` (None: delete), or nothing."""

    path: str
    verb: str  # added, modified, deleted, merged, unchanged
    data: bytes | None = None
    mode: str = "100644"


@dataclass(frozen=True, kw_only=True)
class Conflict:
    path: str
    why: str


def plan(
    target: str, changes: Sequence[RawChange], blobs: Mapping[str, bytes]
) -> tuple[list[Action], list[Conflict]]:
    """What applying `changes` to `target` would do, and what stops it."""
    actions: list[Action] = []
    conflicts: list[Conflict] = []
    for change in changes:
        if GITLINK in (change.old_mode, change.new_mode):
            continue  # a submodule's commit: not files apply can write
        judged = _judge(target, change, blobs)
        if isinstance(judged, Conflict):
            conflicts.append(judged)
        else:
            actions.append(judged)
    return actions, conflicts


def carry_out(target: str, actions: Sequence[Action]) -> None:
    """Write the planned files (each atomically), then delete the deleted ones."""
    for action in actions:
        if action.verb != "unchanged" and action.data is not None:
            _write(os.path.join(target, action.path), action.data, action.mode)
    for action in actions:
        if action.verb == "deleted":
            _delete(target, action.path)


def _judge(target: str, change: RawChange, blobs: Mapping[str, bytes]) -> Action | Conflict:
    base = blobs.get(change.old_blob) if change.status != "A" else None
    ours = blobs.get(change.new_blob) if change.status != "D" else None
    path = change.path
    where = _inside(target, path)
    if where is None:
        return Conflict(path=path, why="its folder on the target is a link that leads elsewhere")
    now, now_mode = _read(where)
    if now_mode == "dir":
        return Conflict(path=path, why="it is a directory on the target")
    if now == ours and (ours is None or now_mode == change.new_mode):
        return Action(path=path, verb="unchanged")
    if now == base and (base is None or now_mode == change.old_mode):
        verb = {"A": "added", "D": "deleted"}.get(change.status, "modified")
        return Action(path=path, verb=verb, data=ours, mode=change.new_mode)
    return _merge(path, change, base, ours, now)


def _merge(
    path: str, change: RawChange, base: bytes | None, ours: bytes | None, now: bytes | None
) -> Action | Conflict:
    if base is None:
        return Conflict(path=path, why="the target has a different file there")
    if ours is None:
        return Conflict(path=path, why="changed on the target, deleted by the agent")
    if now is None:
        return Conflict(path=path, why="deleted on the target, changed by the agent")
    if LINK in (change.old_mode, change.new_mode) or any(b"\0" in d for d in (base, ours, now)):
        return Conflict(path=path, why="binary, and changed on both sides")
    merged = merge_text(now, base, ours)
    if merged is None:
        return Conflict(path=path, why="changed on both sides, and the changes overlap")
    return Action(path=path, verb="merged", data=merged, mode=change.new_mode)


def merge_text(current: bytes, base: bytes, other: bytes) -> bytes | None:
    """A clean three-way merge of text with `git merge-file`, or None on a conflict."""
    if shutil.which("git") is None:
        raise errors.UsageError("a file changed on both sides; merging it needs git installed")
    with tempfile.TemporaryDirectory(prefix="tether-merge-") as scratch:
        names = []
        for name, data in (("current", current), ("base", base), ("other", other)):
            names.append(os.path.join(scratch, name))
            with open(names[-1], "wb") as f:
                f.write(data)
        done = subprocess.run(["git", "merge-file", "-p", "-q", *names], capture_output=True)
    return done.stdout if done.returncode == 0 else None


def _inside(target: str, path: str) -> str | None:
    """`path` under `target`, unless a link on the way leads out of it."""
    full = os.path.join(target, path)
    parent = os.path.realpath(os.path.dirname(full))
    root = os.path.realpath(target)
    return full if parent == root or parent.startswith(root + os.sep) else None


def _read(path: str) -> tuple[bytes | None, str]:
    """The target's version of a file (a link's target for a link) and its kind."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None, "none"
    except NotADirectoryError:
        return None, "none"
    if stat.S_ISLNK(info.st_mode):
        return os.fsencode(os.readlink(path)), LINK
    if stat.S_ISDIR(info.st_mode):
        return None, "dir"
    with open(path, "rb") as f:
        return f.read(), "100755" if info.st_mode & stat.S_IXUSR else "100644"


def _write(path: str, data: bytes, mode: str) -> None:
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    if os.path.isdir(path) and not os.path.islink(path):
        raise ApplyConflict(f"{path} is a directory")
    temporary = os.path.join(directory, f".tether-apply-{os.getpid()}-{os.path.basename(path)}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary)
    if mode == LINK:
        os.symlink(os.fsdecode(data), temporary)
    else:
        with open(temporary, "wb") as f:
            f.write(data)
        os.chmod(temporary, _file_mode(path, mode))
    os.replace(temporary, path)


def _file_mode(path: str, mode: str) -> int:
    """Keep the file's permissions; only the executable bits follow the agent's mode."""
    try:
        current = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        current = 0o666 & ~umask
    executable = (current & 0o444) >> 2
    return current | executable if mode == "100755" else current & ~0o111


def _delete(target: str, path: str) -> None:
    full = os.path.join(target, path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(full)
    folder = os.path.dirname(full)
    while os.path.realpath(folder) != os.path.realpath(target):
        try:
            os.rmdir(folder)  # only while empty, as git removes a deleted file's folders
        except OSError:
            break
        folder = os.path.dirname(folder)


@dataclass(frozen=True, kw_only=True)
class Report:
    """What `apply` says: a line per file, then a summary; `conflicts` when it stopped."""

    lines: tuple[str, ...]
    conflicts: str = ""


_LETTERS = {"added": "A", "modified": "M", "deleted": "D", "merged": "M"}


def apply_session(session: SessionLog, to: str | None, check_only: bool) -> Report:
    """Apply the session's change (its start to now) to `to`, or where it was copied from."""
    from .changes import Changes, diff_range

    changes = Changes(session)
    settings = changes.settings
    if to is None and settings.workspace:
        return Report(lines=(f"nothing to apply: the agent worked on {settings.workspace} itself",))
    target = _target(session.id, to or settings.workspace_from)
    changes.check_store()
    span = diff_range(changes.events, None)
    if span is None:
        return Report(lines=("nothing to apply: the agent never used its workspace",))
    raw, blobs = changes.raw(span, [])
    actions, conflicts = plan(target, raw, blobs)
    return _report(target, actions, conflicts, check_only)


def _target(session_id: str, path: str | None) -> str:
    if path is None:
        raise errors.UsageError(
            f"session {session_id} did not start as a copy of a directory; give --to DIR"
        )
    if not os.path.isdir(path):
        raise errors.UsageError(f"{path}: no such directory to apply to (give --to DIR)")
    return os.path.realpath(path)


def _report(
    target: str, actions: list[Action], conflicts: list[Conflict], check_only: bool
) -> Report:
    changed = [a for a in actions if a.verb != "unchanged"]
    lines = [
        f"{_LETTERS[a.verb]} {a.path}"
        + (" (merged with the target's changes)" if a.verb == "merged" else "")
        for a in changed
    ]
    if conflicts:
        lines += [f"C {c.path}: {c.why}" for c in conflicts]
        names = ", ".join(c.path for c in conflicts[:5]) + (", ..." if len(conflicts) > 5 else "")
        count = f"{len(conflicts)} file{'s' if len(conflicts) > 1 else ''}"
        return Report(
            lines=tuple(lines),
            conflicts=f"{count} conflict ({names}); nothing was written to {target}",
        )
    if not changed:
        return Report(lines=(f"nothing to apply: {target} already has the agent's change",))
    if not check_only:
        carry_out(target, changed)
    verb = "would apply cleanly to" if check_only else "applied to"
    lines.append(f"{len(changed)} file{'s' if len(changed) > 1 else ''} {verb} {target}")
    return Report(lines=tuple(lines))
