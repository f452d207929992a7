"""The bash tool's result in words: the output's start and end, where the rest is
kept, what went past the cap, and how the command ended (status, timeout, out of
memory). The kept output goes into the container, where the model can read it."""

from __future__ import annotations

import tarfile
import tempfile
import time
from typing import IO, Any

from .output import Capture
from .protocol import ToolResult
from .shell import RawRun
from .tools import OUTPUT_LIMIT

HEAD = OUTPUT_LIMIT * 6 // 10  # of an overlong output, the model sees this much first
TAIL = OUTPUT_LIMIT - HEAD  # ... and this much of its end
OUTPUTS_DIR = "/tmp/tether/outputs"


def capture_for(max_output: int, on_output: Any = None) -> Capture:
    """A Capture for one bash call: 100 KiB shown, at most `max_output` kept."""
    return Capture(show=OUTPUT_LIMIT, tail=TAIL, keep=max_output, on_output=on_output)


def result(
    raw: RawRun, capture: Capture, *, kept_at: str | None, timeout_ms: int, memory: str
) -> ToolResult:
    """The tool result for a finished call whose overflow (if any) is at `kept_at`."""
    if capture.truncated:
        omitted = capture.total - HEAD - len(capture.last)
        note = f"\n[... {omitted} bytes omitted; {_where(capture, kept_at)}]\n"
        text = _decode(capture.first[:HEAD]) + note + _decode(capture.last)
    else:
        text = _decode(capture.first)
    text += _ending(raw, timeout_ms, memory)
    failed = raw.timed_out or raw.status != 0
    return ToolResult(
        content=text.strip("\n") or "(no output)", is_error=failed, truncated=capture.truncated
    )


def _where(capture: Capture, kept_at: str | None) -> str:
    if kept_at is None:
        return "the rest could not be kept"
    if not capture.dropped:
        return f"all {capture.total} bytes are in {kept_at}"
    return (
        f"the first {capture.kept} bytes are in {kept_at}; {capture.dropped} bytes past the "
        f"{capture.keep}-byte output cap were dropped"
    )


def _ending(raw: RawRun, timeout_ms: int, memory: str) -> str:
    if raw.timed_out:
        return (
            f"\n[timed out after {timeout_ms / 1000:g} s; the command and everything "
            "it started were killed]"
        )
    if raw.out_of_memory:
        return f"\n[killed: out of memory (limit {memory})]"
    return f"\n[exit status {raw.status}]" if raw.status != 0 else ""


def keep_in_container(
    api: Any, container_id: str, user: str, capture: Capture, number: int
) -> str | None:
    """Copy what the capture kept to OUTPUTS_DIR/NUMBER.txt, owned by `user`; its path."""
    if capture.spool is None:
        return None
    uid, _, gid = user.partition(":")
    path = f"{OUTPUTS_DIR}/{number}.txt"
    with tempfile.TemporaryFile(prefix="tether-tar-") as archive:
        _write_tar(archive, capture.spool, path, int(uid), int(gid or uid))
        archive.seek(0)
        api.put_archive(container_id, "/", archive)
    return path


def _write_tar(archive: IO[bytes], spool: IO[bytes], path: str, uid: int, gid: int) -> None:
    """A tar of `path` (and the directories above it under /tmp) holding the spool."""
    size = spool.tell()
    spool.seek(0)
    with tarfile.open(fileobj=archive, mode="w") as tar:
        parts = path.lstrip("/").split("/")
        for depth in range(2, len(parts)):  # tmp/tether, tmp/tether/outputs
            tar.addfile(_entry("/".join(parts[:depth]), tarfile.DIRTYPE, 0o755, uid, gid))
        entry = _entry("/".join(parts), tarfile.REGTYPE, 0o644, uid, gid)
        entry.size = size
        tar.addfile(entry, spool)


def _entry(name: str, kind: bytes, mode: int, uid: int, gid: int) -> tarfile.TarInfo:
    entry = tarfile.TarInfo(name)
    entry.type, entry.mode, entry.mtime = kind, mode, int(time.time())
    entry.uid, entry.gid = uid, gid
    return entry


def _decode(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", "replace")
