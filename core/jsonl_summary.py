"""`ls` on the JSONL store, fast: each session's summary from the head and tail of its
log (a block or two each), so listing thousands of sessions costs a few syscalls apiece.

Lines are picked by their type name in quotes (`"user.message"`) before anything
is decoded: a quote inside a JSON string is always escaped, so those bytes occur
only as a whole string; each candidate is then decoded and its `type` checked.
Most lines are not decoded at all: the envelope tether writes (v1 or v2) is read
with a regular expression.
"""

from __future__ import annotations

import json
import logging
import os
import re
from typing import Any

from . import errors
from .events import ModelRequestEnd, SessionCreated, StatusIdle, StatusTerminated, UserMessage
from .flock import lock_held
from .jsonl_log import LOCK_NAME, LOG_NAME
from .summary import BROKEN, PROMPT_CHARS, SessionSummary, prompt_start

log = logging.getLogger(__name__)

_BLOCK = 16 * 1024
_HEAD_LIMIT = 256 * 1024
# Past this much tail without a status event, the last status must be
# `status_running`: only a running harness writes the other events.
_TAIL_LIMIT = 1024 * 1024
_USER_MARK = b'"user.message"'
_STATUS_MARK = b'"session.status_'
_END_MARK = b'"span.model_request_end"'
_DECODER = json.JSONDecoder()
_STATUS_OF = {StatusIdle.TYPE: "idle", StatusTerminated.TYPE: "terminated"}  # else crashed


def summarize(session_id: str, directory: str) -> SessionSummary:
    """The session's summary, reading only the head and tail of its log.

    A session whose log is missing, empty or unreadable gets status BROKEN and
    a warning that says how to remove it, so one bad session hides no other.
    """
    try:
        return _summarize(session_id, directory)
    except FileNotFoundError:
        problem = f"session {session_id} has no log ({LOG_NAME} is missing)"
    except OSError as exc:
        problem = f"cannot read session {session_id}: {exc.strerror or exc}"
    except errors.LogCorrupt as exc:
        problem = str(exc)
    log.warning("%s; tether rm %s removes it", problem, session_id)
    return SessionSummary(id=session_id, status=BROKEN, turns=None)


def _summarize(session_id: str, directory: str) -> SessionSummary:
    fd = os.open(os.path.join(directory, LOG_NAME), os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        head = os.pread(fd, _BLOCK, 0)
        first, prompt = _read_head(fd, size, head)
        tail = head if size <= _BLOCK else os.pread(fd, _BLOCK, size - _BLOCK)
        last, status, end = _read_tail(session_id, fd, size, tail)
    finally:
        os.close(fd)
    if not size:
        raise errors.LogCorrupt(f"session {session_id}: its log is empty")
    if first is None or first["type"] != SessionCreated.TYPE:
        raise errors.LogCorrupt(f"session {session_id}: the log does not start with a session")
    # Only a log whose last status is `running` (or none yet) can have a live harness,
    # so the other sessions' locks are not worth a look: 5,000 of them cost 40 ms.
    kind = status["type"] if status else ""
    running = kind not in _STATUS_OF and lock_held(os.path.join(directory, LOCK_NAME))
    state = "running" if running else _STATUS_OF.get(kind, "crashed")
    return SessionSummary(
        id=session_id,
        status=state,
        created=first["ts"],
        last_activity=(last or first)["ts"],
        turns=_turns(end, size),
        prompt=prompt_start(_message_text(prompt)),
        parent=first.get("parent"),
        parent_seq=first.get("parent_seq"),
        creation_seq=_number(first.get("creation_seq")),
        stop_reason=_stop_reason(state, status),
    )


def _stop_reason(state: str, status: dict[str, Any] | None) -> str | None:
    """How the session ended: the last idle's reason (tether's own, which v2 keeps in
    the object's `reason` when MA's `type` differs), `terminated`, or None."""
    if state == "terminated":
        return "terminated"
    if state != "idle" or status is None:
        return None
    reason = status.get("stop_reason")
    if isinstance(reason, dict):  # v2: MA's StopReason object
        reason = reason.get("reason", reason.get("type"))
    return reason if isinstance(reason, str) else None


def _read_head(
    fd: int, size: int, data: bytes
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The first event, its line read whole however long (a big system prompt), and
    the first user.message, looked for in the next _HEAD_LIMIT bytes."""
    newline = data.find(b"\n")
    while newline < 0 and len(data) < size:
        data = os.pread(fd, len(data) * 4, 0)
        newline = data.find(b"\n")
    if newline < 0:
        return None, None
    while True:
        prompt = _find(data, _USER_MARK, UserMessage.TYPE, newline + 1, len(data), data.find)
        if prompt is not None or len(data) >= size or len(data) - newline > _HEAD_LIMIT:
            return _peek(data[:newline]), prompt or _cut_prompt(data, newline + 1)
        data = os.pread(fd, len(data) * 4, 0)


_CONTENT_START = re.compile(rb'"content":"((?:[^"\\]|\\.){0,%d})' % (PROMPT_CHARS * 4))


def _cut_prompt(data: bytes, start: int) -> dict[str, Any] | None:
    """The start of a first user.message whose line is too long to read whole."""
    mark = data.find(_USER_MARK, start)
    if mark < 0 or data.find(b"\n", mark) >= 0:
        return None
    found = _CONTENT_START.search(data, mark)
    raw = found[1] if found else b""
    for cut in range(len(raw), max(len(raw) - 6, 0) - 1, -1):  # a split escape or character
        try:
            return {"content": json.loads(b'"' + raw[:cut] + b'"')}
        except ValueError:
            continue
    return None


def _read_tail(
    session_id: str, fd: int, size: int, data: bytes
) -> tuple[dict[str, Any] | None, dict[str, Any] | None, dict[str, Any] | None]:
    """(last event, last status event, last span.model_request_end), from the end."""
    if data and not data.endswith(b"\n"):
        log.warning("session %s: skipping a torn last line", session_id)
    while True:
        # Complete lines only: from just past the first newline (unless at the file's start)
        # to the last newline.
        lo = 0 if len(data) == size else data.find(b"\n") + 1
        hi = data.rfind(b"\n") + 1
        last = _peek(data[data.rfind(b"\n", lo, hi - 1) + 1 or lo : hi]) if hi > lo else None
        status = last if last and last["type"].startswith("session.status_") else None
        status = status or _find(data, _STATUS_MARK, "session.status_", lo, hi, data.rfind)
        end = _find(data, _END_MARK, ModelRequestEnd.TYPE, lo, hi, data.rfind)
        if (status and end) or len(data) == size or len(data) >= _TAIL_LIMIT:
            return last, status, end
        grown = min(size, len(data) * 4)
        data = os.pread(fd, grown, size - grown)


def _find(data: bytes, mark: bytes, type_name: str, lo: int, hi: int, search: Any) -> Any:
    """The first (search=data.find) or last (data.rfind) complete line in data[lo:hi] that
    holds `mark` and decodes to an event whose type starts with `type_name`."""
    position = search(mark, lo, hi)
    while position >= 0:
        start = data.rfind(b"\n", lo, position) + 1 or lo
        stop = data.find(b"\n", position, hi)
        if stop < 0:
            return None  # the line goes on past the data
        obj = _peek(data[start:stop])
        if obj is not None and obj["type"].startswith(type_name):
            return obj
        position = search(mark, stop + 1, hi) if search == data.find else search(mark, lo, start)
    return None


def _turns(end: dict[str, Any] | None, size: int) -> int | None:
    if end is None:
        return 0 if size < _TAIL_LIMIT else None
    turn = end.get("turn")
    return turn if isinstance(turn, int) and not isinstance(turn, bool) else None


def _number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _message_text(message: dict[str, Any] | None) -> str:
    """A user.message's text: its `content`, a string in v1 and text blocks in v2."""
    content = message.get("content") if message else None
    if isinstance(content, list):
        content = "\n".join(b["text"] for b in content if _is_text(b))
    return content if isinstance(content, str) else ""


def _is_text(block: Any) -> bool:
    return isinstance(block, dict) and isinstance(block.get("text"), str)


# The envelope as tether writes it (v2 `processed_at`, v1 `ts`); `ls` reads the time,
# type and turn from it without decoding the JSON (a third of its time for 5,000
# sessions). Lines written any other way, and the prompt (whose text needs
# unescaping), are decoded in full.
_ENVELOPE = re.compile(
    rb'\{"v":(?:2,"seq":\d+,"id":"[^"\\]*","processed_at"|1,"seq":\d+,"id":"[^"\\]*","ts")'
    rb':"([^"\\]*)","type":"([^"\\]*)"'
)
_TURN = re.compile(rb',"turn":(\d+)[,}]')
_PARENT = re.compile(rb',"parent":"([^"\\]+)","parent_seq":(\d+)[,}]')
_CREATION_SEQ = re.compile(rb',"creation_seq":(\d+)[,}]')  # early in a session.created line
_CREATED = SessionCreated.TYPE.encode()
_TIME_KEY = {1: "ts", 2: "processed_at"}  # the envelope's time, by schema version
# Lines whose fields a summary needs beyond the envelope (the prompt, the stop reason).
_DECODED_TYPES = (_USER_MARK[1:-1], StatusIdle.TYPE.encode())


def _peek(line: bytes) -> dict[str, Any] | None:
    """A line read just enough for a summary: its time and type (and turn, if it has one)."""
    envelope = _ENVELOPE.match(line)
    if envelope is None or envelope[2] in _DECODED_TYPES:
        return _decode(line)
    found: dict[str, Any] = {"ts": envelope[1].decode(), "type": envelope[2].decode()}
    if envelope[2] == _END_MARK[1:-1]:
        turn = _TURN.search(line, envelope.end())
        if turn is None:
            return _decode(line)
        found["turn"] = int(turn[1])
    elif envelope[2] == _CREATED:
        parent = _PARENT.search(line, envelope.end())
        if parent is not None:
            found["parent"], found["parent_seq"] = parent[1].decode(), int(parent[2])
        number = _CREATION_SEQ.search(line, envelope.end())
        found["creation_seq"] = int(number[1]) if number else None
    return found


def _decode(line: bytes) -> dict[str, Any] | None:
    """A line decoded in full, checked to be an object with the envelope's key fields;
    its time is under `ts` whatever its version."""
    try:
        obj = _DECODER.decode(line.decode())  # skips json.loads's encoding sniffing
    except ValueError:
        return None
    version = obj.get("v") if isinstance(obj, dict) else None
    time_key = _TIME_KEY.get(version) if type(version) is int else None
    if time_key is None:
        return None
    obj["ts"] = obj.get(time_key)
    if not isinstance(obj["ts"], str) or not isinstance(obj.get("type"), str):
        return None
    return obj
