"""What the agent changed: between the workspace as it started and as it is now,
or between two checkpoints, read from the session's store without a harness.

The comparison is git's, between trees of the store, so renames, binary files
and mode changes read as `git diff` shows them. Files new since the start that
the workspace's .gitignore ignores (build output, caches) are left out, as git
would leave them out; the agent's own `.git` is never part of it.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from . import errors
from . import events as ev
from .checkpoints import History
from .store import SessionLog

LIVE = ""  # the workspace as it is now, rather than a checkpoint
BLOBS_MARK = b"\0--tether-blobs--\0"
_STATUS = {"A": "added", "M": "modified", "D": "deleted", "R": "renamed", "T": "type changed"}


@dataclass(frozen=True, kw_only=True)
class Point:
    """A checkpoint: its id and the seq of the event that recorded it."""

    seq: int
    checkpoint: str
    tool_use_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class Range:
    """Two states of the workspace to compare; `new` LIVE for now."""

    old: str
    new: str = LIVE


@dataclass(frozen=True, kw_only=True)
class FileChange:
    """One file of a diff, for --json: its status and line counts (None when binary)."""

    path: str
    status: str
    old_path: str | None = None
    added: int | None = None
    deleted: int | None = None
    binary: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class RawChange:
    """One file's change as `apply` takes it: modes and blob ids on both sides."""

    path: str
    status: str  # A, M, D or T
    old_mode: str
    new_mode: str
    old_blob: str
    new_blob: str


def points(events: Sequence[ev.Event]) -> list[Point]:
    """Every checkpoint in a log, oldest first (the first one is the start)."""
    found = []
    for event in events:
        if isinstance(event, ev.WorkspacePrepared | ev.WorkspaceCheckpoint) and event.checkpoint:
            use = event.tool_use_id if isinstance(event, ev.WorkspaceCheckpoint) else None
            found.append(Point(seq=event.seq, checkpoint=event.checkpoint, tool_use_id=use))
    return found


@dataclass(frozen=True, kw_only=True)
class CheckpointInfo:
    """One line of `show --checkpoints`: when, after which call, what changed, or why not."""

    seq: int
    ts: str
    checkpoint: str  # "" when it failed
    tool_use_id: str | None = None  # None for the start
    tool: str | None = None
    input: Mapping[str, Any] | None = None
    changed: int = 0
    files: tuple[str, ...] = ()
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["input"] = dict(self.input) if self.input is not None else None
        return body


def checkpoint_list(events: Sequence[ev.Event]) -> list[CheckpointInfo]:
    """Every checkpoint of a log, failed ones too, with the call each one followed."""
    uses = {e.tool_use_id: e for e in events if isinstance(e, ev.AgentToolUse)}
    found = []
    for event in events:
        if isinstance(event, ev.WorkspacePrepared):
            found.append(CheckpointInfo(seq=event.seq, ts=event.ts, checkpoint=event.checkpoint,
                                        changed=event.files, error=event.error))  # fmt: skip
        elif isinstance(event, ev.WorkspaceCheckpoint):
            use = uses.get(event.tool_use_id)
            found.append(CheckpointInfo(
                seq=event.seq, ts=event.ts, checkpoint=event.checkpoint,
                tool_use_id=event.tool_use_id, tool=use.name if use else None,
                input=use.input if use else None, changed=event.changed, files=event.files,
                error=event.error,
            ))  # fmt: skip
    return found


def at_or_before(found: Sequence[Point], seq: int) -> Point | None:
    """The last checkpoint recorded at or before `seq`."""
    return next((p for p in reversed(found) if p.seq <= seq), None)


def diff_range(events: Sequence[ev.Event], at: str | None) -> Range | None:
    """What `--at` asks for: SEQ (what the call checkpointed at SEQ changed), A..B (the
    files at A against those at B; A may be `start`), or nothing (the start against now).
    None when the workspace has no first checkpoint yet (it was never used)."""
    found = points(events)
    if not found:
        return None
    if at is None:
        return Range(old=found[0].checkpoint)
    if ".." in at:
        first, _, last = at.partition("..")
        old = found[0] if first in ("", "start") else _point(found, first)
        return Range(old=old.checkpoint, new=_point(found, last).checkpoint if last else LIVE)
    point = _point(found, at)
    before = [p for p in found if p.seq < point.seq]
    return Range(old=(before[-1] if before else point).checkpoint, new=point.checkpoint)


def _point(found: Sequence[Point], text: str) -> Point:
    if not text.isdigit():
        raise errors.UsageError(f"--at {text!r}: give SEQ, A..B or start..B (event numbers)")
    # Before the first checkpoint no call had run yet: the files were those of the start.
    return at_or_before(found, int(text)) or found[0]


class Changes:
    """A session's store seen from the host: diffs and the blobs `apply` needs."""

    def __init__(self, session: SessionLog) -> None:
        events = session.read()
        if not events or not isinstance(events[0], ev.SessionCreated):
            raise errors.LogCorrupt(f"session {session.id} does not start with session.created")
        self.session_id = session.id
        self.settings: ev.SessionCreated = events[0]
        self.events = events
        self.history = History.of(events, self.settings.parent_seq)

    def check_store(self) -> None:
        """Refuse clearly when the session has no store to compare in."""
        prepared = self.history.prepared
        if prepared is not None and not self.history.baseline:
            raise errors.SandboxError(
                f"session {self.session_id} has no checkpoints ({prepared.error}); "
                "tether needs git in the sandbox image to compare files"
            )

    def diff(self, span: Range, paths: Sequence[str], options: Sequence[str]) -> bytes:
        """`git diff OPTIONS` between the two states, limited to `paths`."""
        return self._run(span, paths, f'git diff --no-ext-diff {" ".join(options)} "$@"')

    def files(self, span: Range, paths: Sequence[str]) -> list[FileChange]:
        """The changed files with their status and line counts."""
        script = 'git diff -z --raw -M "$@" && printf "\\0--\\0" && git diff -z --numstat -M "$@"'
        raw, _, numstat = self._run(span, paths, script).partition(b"\0--\0")
        counts = _numstat(numstat)
        return [_file(entry, counts) for entry in _raw_entries(raw, renames=True)]

    def raw(self, span: Range, paths: Sequence[str]) -> tuple[list[RawChange], dict[str, bytes]]:
        """The changes without renames, and the content of every blob on either side."""
        script = (
            'git diff -z --raw --no-renames --no-abbrev "$@" && printf "%b" "$BLOBS_MARK" && '
            'git diff --raw --no-renames --no-abbrev "$@" | cut -d" " -f3,4 | tr " " "\\n" | '
            "grep -v '^0*$' | sort -u | git cat-file --batch"
        )
        out = self._run(span, paths, "BLOBS_MARK='\\0--tether-blobs--\\0'\n" + script)
        raw, _, blobs = out.partition(BLOBS_MARK)
        changes = [
            RawChange(path=e[5], status=e[4][0], old_mode=e[0], new_mode=e[1], old_blob=e[2],
                      new_blob=e[3])
            for e in _raw_entries(raw, renames=False)
        ]  # fmt: skip
        return changes, _blobs(blobs)

    def _run(self, span: Range, paths: Sequence[str], command: str) -> bytes:
        from .sandbox import engine
        from .sandbox.oneoff import run_script
        from .sandbox.store import Mounts, volume_exists

        api = engine.connect().api
        if not volume_exists(api, engine.volume_name(self.session_id, "store")):
            raise errors.SandboxError(
                f"session {self.session_id}'s checkpoint store is gone (removed from the engine)"
            )
        mounts = Mounts.of(api, self.session_id, self.settings.workspace)
        done = run_script(api, self.settings.image, mounts, _sides(span, paths) + command)
        return done.check("compare the workspace")


def _sides(span: Range, paths: Sequence[str]) -> str:
    """Sets `$@` to `OLD NEW -- PATHS` for git diff. The new side is made first, with the
    new files the workspace ignores left out (and, for now, the workspace's tree)."""
    new = span.new or "$(store_live)"
    specs = " ".join(shlex.quote(p) for p in paths)
    return (
        f"new={new} || return\n"
        f'project=$(store_project "$new" {span.old}) || return\n'
        f'set -- {span.old}:files "$project" -- {specs}\n'
    )


def _raw_entries(data: bytes, renames: bool) -> list[list[str]]:
    """`git diff --raw -z` records: [old mode, new mode, old blob, new blob, status, path
    (, new path)]; modes without the leading colon."""
    fields = data.split(b"\0")
    entries, index = [], 0
    while index < len(fields) and fields[index].startswith(b":"):
        head = fields[index][1:].decode().split()
        paths = 2 if head[4][0] in "RC" else 1
        names = [os.fsdecode(f) for f in fields[index + 1 : index + 1 + paths]]
        entries.append(head + names)
        index += 1 + paths
    return entries if renames else [e for e in entries if e[4][0] in "AMDT"]


def _numstat(data: bytes) -> dict[str, tuple[int | None, int | None]]:
    """path (the new one for a rename) -> (added, deleted), None for binary files."""
    counts: dict[str, tuple[int | None, int | None]] = {}
    fields = data.split(b"\0")
    index = 0
    while index < len(fields) and fields[index]:
        added, deleted, path = fields[index].decode("utf-8", "surrogateescape").split("\t", 2)
        if not path:  # a rename: the old and new paths follow
            path, index = fields[index + 2].decode("utf-8", "surrogateescape"), index + 2
        counts[path] = (None, None) if added == "-" else (int(added), int(deleted))
        index += 1
    return counts


def _file(entry: list[str], counts: dict[str, tuple[int | None, int | None]]) -> FileChange:
    status, path = entry[4][0], entry[-1]
    added, deleted = counts.get(path, (0, 0))
    return FileChange(
        path=path,
        status=_STATUS.get(status, status),
        old_path=entry[5] if status == "R" else None,
        added=added,
        deleted=deleted,
        binary=added is None,
    )


def _blobs(data: bytes) -> dict[str, bytes]:
    """Parse `git cat-file --batch` output: `<id> blob <size>\\n<content>\\n` records."""
    found, index = {}, 0
    while index < len(data):
        newline = data.index(b"\n", index)
        head = data[index:newline].split()
        size = int(head[2]) if len(head) == 3 else 0
        found[head[0].decode()] = data[newline + 1 : newline + 1 + size]
        index = newline + 1 + size + 1
    return found
