"""The file tools (read, write, edit, glob, grep), done with POSIX shell and
coreutils through the persistent shell, as the sandbox user: the image needs
no Python, and the kernel, not tether, decides what the user may touch."""

from __future__ import annotations

import posixpath
import re
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from .protocol import ToolResult
from .shell import RawRun, quote
from .tools import OUTPUT_LIMIT, WORKSPACE

Runner = Callable[[bytes, int, float], RawRun]  # (script, output limit, timeout in s)

FILE_TIMEOUT_S = 30.0
EDIT_LIMIT = 4 * 1024 * 1024  # an edit moves the whole file both ways
GLOB_LIMIT = 1000
GREP_LINE_LIMIT = 500

# The scripts' own exit codes for what the model should hear in words.
_MISSING, _IS_DIR, _UNREADABLE, _NOT_DIR, _FIFO, _SPECIAL = 90, 91, 92, 93, 94, 95
_CHECK_FILE = (
    b'[ -e "$f" ] || exit 90; [ -d "$f" ] && exit 91; [ -p "$f" ] && exit 94; '
    b'[ -f "$f" ] || exit 95; [ -r "$f" ] || exit 92; '
)


def resolve(path: str) -> str:
    """An absolute, normalised path; relative ones are taken from the workspace."""
    return posixpath.normpath(posixpath.join(WORKSPACE, path))


def _error(text: str) -> ToolResult:
    return ToolResult(content=text, is_error=True)


def _explain(raw: RawRun, path: str, action: str) -> str:
    words = {
        _MISSING: f"{path}: no such file or directory",
        _IS_DIR: f"{path} is a directory (use glob or bash ls to list it)",
        _UNREADABLE: f"{path}: permission denied",
        _NOT_DIR: f"{path} is not a directory",
        _FIFO: f"{path} is a named pipe (FIFO): reading it waits for a writer; use bash "
        f"(e.g. `timeout 5 cat {path}`)",
        _SPECIAL: f"{path} is not a regular file (a device or a socket); use bash to inspect it",
    }
    if raw.status in words:
        return words[raw.status]
    lines = raw.output.decode("utf-8", "replace").strip().splitlines()
    detail = lines[-1] if lines else f"exit status {raw.status}"
    # "sh: 1: cannot create /etc/x: Permission denied" -> "Permission denied"
    return f"cannot {action} {path}: {detail.rsplit(': ', 1)[-1]}"


def _fetch(run: Runner, path: str, limit: int, view_range: Any = None) -> RawRun:
    # Cut inside the sandbox too, so a huge file is never copied whole.
    script = b"f=" + quote(path) + b"; " + _CHECK_FILE
    if view_range:
        first, last = view_range
        end = "$" if last == -1 else str(last)
        script += f"sed -n '{first},{end}p' -- \"$f\" | head -c {limit + 1}".encode()
    else:
        script += f'head -c {limit + 1} -- "$f"'.encode()
    return run(script, limit, FILE_TIMEOUT_S)


def read(run: Runner, input: Mapping[str, Any]) -> ToolResult:
    path = resolve(input["file_path"])
    view_range = input.get("view_range")
    raw = _fetch(run, path, OUTPUT_LIMIT, view_range)
    if raw.status != 0 or raw.timed_out:
        return _error(_explain(raw, path, "read"))
    if b"\0" in raw.output:
        return _error(f"{path} is a binary file; inspect it with bash (e.g. `od -c | head`)")
    truncated = len(raw.output) > OUTPUT_LIMIT
    if truncated and not view_range:
        return _error(
            f"{path} is over {OUTPUT_LIMIT // 1024} KiB; read it in parts with view_range "
            "(e.g. [1, 400]) or search it with grep"
        )
    first = view_range[0] if view_range else 1
    if not raw.output and first > 1:
        return _past_the_end(run, path, first)
    text = number_lines(raw.output[:OUTPUT_LIMIT].decode("utf-8", "replace"), first)
    if truncated:
        text += "\n[... output cut at 100 KiB; ask for a smaller view_range]"
    return ToolResult(content=text or f"({path} is empty)", truncated=truncated)


def _past_the_end(run: Runner, path: str, first: int) -> ToolResult:
    counted = run(b"sed -n '$=' -- " + quote(path), 64, FILE_TIMEOUT_S)
    lines = int(counted.output.strip() or 0) if counted.output.strip().isdigit() else 0
    size = "is empty" if lines == 0 else f"has {lines} line{'s' if lines != 1 else ''}"
    return _error(f"{path} {size}; view_range starts at line {first}, past its end")


def number_lines(text: str, first: int) -> str:
    """`cat -n` style: right-aligned line numbers, a tab, the line."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return "\n".join(f"{n:6}\t{line}" for n, line in enumerate(lines, first))


def _write_bytes(run: Runner, path: str, data: bytes) -> RawRun:
    """Replace the file whole or not at all: write a temporary file beside it, give it
    the old file's mode, rename it over the old one. Through a symlink, the file it
    names is replaced and the link stays. Where the directory is not writable but the
    file is, there is no room for a temporary file: it is rewritten in place."""
    temporary = f".tether-{secrets.token_hex(4)}.tmp".encode()
    script = b"f=" + quote(path) + b'; [ -d "$f" ] && exit 91; '
    script += b'if [ -L "$f" ]; then f=$(readlink -f -- "$f") || exit 1; fi; '
    script += b'd=${f%/*}; d=${d:-/}; mkdir -p -- "$d" || exit 1; '
    script += b"c=" + quote(data) + b"; "
    script += (
        b'if [ -e "$f" ] && [ -w "$f" ] && ! [ -w "$d" ]; then printf %s "$c" >"$f"; exit; fi; '
    )
    script += b't="$d/' + temporary + b'"; '
    script += b'printf %s "$c" >"$t" || { rm -f -- "$t"; exit 1; }; '
    script += b'[ -e "$f" ] && { chmod "$(stat -c %a -- "$f")" -- "$t" 2>/dev/null; }; '
    script += b'mv -f -- "$t" "$f" || { rm -f -- "$t"; exit 1; }'
    return run(script, 4096, FILE_TIMEOUT_S)


def write(run: Runner, input: Mapping[str, Any]) -> ToolResult:
    path = resolve(input["file_path"])
    data = input["content"].encode("utf-8", "surrogateescape")
    if b"\0" in data:
        return _error("write takes text; content must not contain NUL characters")
    raw = _write_bytes(run, path, data)
    if raw.status != 0 or raw.timed_out:
        return _error(_explain(raw, path, "write"))
    return ToolResult(content=f"wrote {len(data)} bytes to {path}")


def edit(run: Runner, input: Mapping[str, Any]) -> ToolResult:
    path = resolve(input["file_path"])
    raw = _fetch(run, path, EDIT_LIMIT)
    if raw.status != 0 or raw.timed_out:
        return _error(_explain(raw, path, "read"))
    if len(raw.output) > EDIT_LIMIT or b"\0" in raw.output:
        return _error(f"{path} is binary or over 4 MiB; change it with bash instead")
    old = input["old_string"].encode("utf-8", "surrogateescape")
    new = input["new_string"].encode("utf-8", "surrogateescape")
    count = raw.output.count(old)
    if count == 0:
        return _error(f"old_string not found in {path} (it must match exactly, whitespace too)")
    if count > 1 and not input.get("replace_all"):
        return _error(
            f"old_string matches {count} times in {path}; add surrounding lines to make it "
            "unique, or set replace_all"
        )
    written = _write_bytes(run, path, raw.output.replace(old, new))
    if written.status != 0 or written.timed_out:
        return _error(_explain(written, path, "write"))
    times = "1 occurrence" if count == 1 else f"{count} occurrences"
    return ToolResult(content=f"replaced {times} in {path}")


def glob_to_regex(pattern: str) -> str:
    """A POSIX ERE for paths below the search root matching a glob with `**` and `{a,b}`."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        else:
            token, i = _glob_token(pattern, i)
            out.append(token)
    return "".join(out)


# Paths are matched as bytes (LC_ALL=C): `?` is one UTF-8 character, or one stray byte.
_ONE_CHARACTER = "([^/\udc80-\udcff]|[\udcc0-\udcff][\udc80-\udcbf]*|[\udc80-\udcbf])"


def _glob_token(pattern: str, i: int) -> tuple[str, int]:
    char = pattern[i]
    simple = {"*": "[^/]*", "?": _ONE_CHARACTER, "{": "(", "}": ")", ",": "|"}
    if char == "," and "{" not in pattern[:i]:
        return ",", i + 1
    if char in simple:
        return simple[char], i + 1
    close = pattern.find("]", i + 2)
    if char == "[" and close > 0:
        body = pattern[i + 1 : close].replace("\\", "\\\\")
        return "[" + ("^" + body[1:] if body.startswith("!") else body) + "]", close + 1
    return re.sub(r"([.^$+()|\[\]\\{}])", r"\\\1", char), i + 1


def glob(run: Runner, input: Mapping[str, Any]) -> ToolResult:
    pattern = input["pattern"]
    base = resolve(input.get("path") or WORKSPACE)
    if pattern.startswith("/"):
        base, pattern = "/", pattern.lstrip("/")
    regex = "^\\./" + glob_to_regex(pattern) + "$"
    # NUL-separated and in bytes (LC_ALL=C) all the way: any legal name, newlines too.
    script = b"cd -- " + quote(base) + b" 2>/dev/null || exit 93; export LC_ALL=C; "
    script += b"find . -name .git -prune -o \\( -type f -o -type l \\) -print0 2>/dev/null"
    script += b" | grep -z -E -e " + quote(regex) + b" | sort -z"
    raw = run(script, OUTPUT_LIMIT, FILE_TIMEOUT_S)
    if raw.status == _NOT_DIR or raw.timed_out:
        return _error(_explain(raw, base, "search"))
    names = raw.output[:OUTPUT_LIMIT].split(b"\0")[:-1]  # the last one may be cut
    found = [shell_word(posixpath.join(base.encode(), name[2:])) for name in names]
    if not found:
        return ToolResult(content=f"no files match {input['pattern']!r} in {base}")
    more = len(found) > GLOB_LIMIT or len(raw.output) > OUTPUT_LIMIT
    note = f"\n[showing the first {min(len(found), GLOB_LIMIT)} matches]" if more else ""
    return ToolResult(content="\n".join(found[:GLOB_LIMIT]) + note, truncated=more)


def shell_word(path: bytes) -> str:
    """A path as is when a line shows it exactly; else as bash's $'...' (newlines,
    control characters and bytes that are not UTF-8 escaped), which bash reads back."""
    try:
        text = path.decode()
        if text.isprintable():
            return text
    except UnicodeDecodeError:
        pass
    escapes = {ord("\\"): "\\\\", ord("'"): "\\'", ord("\n"): "\\n", ord("\t"): "\\t"}
    body = "".join(escapes.get(b) or (chr(b) if 32 <= b < 127 else f"\\x{b:02x}") for b in path)
    return f"$'{body}'"


def grep(run: Runner, input: Mapping[str, Any]) -> ToolResult:
    path = resolve(input.get("path") or WORKSPACE)
    pattern = quote(input["pattern"])
    # -P and --exclude-dir where this grep has them (GNU's does, busybox's does not).
    script = b"flag=-E; echo x | grep -qP x 2>/dev/null && flag=-P; "
    script += b"if echo x | grep -q --exclude-dir=.git x 2>/dev/null; then "
    script += b"grep -rnI --exclude-dir=.git $flag -e " + pattern + b" -- " + quote(path)
    script += b"; else find " + quote(path) + b" -name .git -prune -o -type f "
    script += b"-exec grep -nH $flag -e " + pattern + b" -- {} +; fi"
    raw = run(script, OUTPUT_LIMIT, FILE_TIMEOUT_S)
    text = raw.output[:OUTPUT_LIMIT].decode("utf-8", "replace")
    if raw.status == 1 and not text:
        return ToolResult(content=f"no matches for {input['pattern']!r} in {path}")
    if raw.status not in (0, 1) or raw.timed_out:
        return _error(f"grep failed: {text.strip() or f'exit status {raw.status}'}")
    lines = [_cut(line) for line in text.splitlines()]
    truncated = len(raw.output) > OUTPUT_LIMIT
    note = "\n[... more matches; narrow the pattern or the path]" if truncated else ""
    return ToolResult(content="\n".join(lines) + note, truncated=truncated)


def _cut(line: str) -> str:
    if len(line) <= GREP_LINE_LIMIT:
        return line
    return line[:GREP_LINE_LIMIT] + f" [... {len(line) - GREP_LINE_LIMIT} more characters]"
