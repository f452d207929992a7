"""The workspace commands: `diff`, `apply` and `cp`. None needs a harness."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from tether.core import errors
from tether.core.events import SessionCreated

from . import console
from .ids import IdArgument, LastOption, resolve_session

Paths = Annotated[
    list[str] | None,
    typer.Argument(metavar="[PATH]...", help="Only these files or folders (under /workspace).",
                   show_default=False),
]  # fmt: skip
At = Annotated[
    str | None,
    typer.Option(
        "--at",
        metavar="SEQ|A..B",
        help="What the call checkpointed at event SEQ changed, or the files at A against "
        "those at B (A may be 'start').",
    ),
]


def diff(
    session_id: IdArgument = None,
    paths: Paths = None,
    last: LastOption = False,
    stat: Annotated[
        bool, typer.Option("--stat", help="Files and counts of changed lines.")
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="JSON Lines: each file, its status and line counts.")
    ] = False,
    at: At = None,
) -> None:
    """Show what the agent changed in its workspace since it started, as `git diff` does.

    Works while the session runs, and after it stopped or crashed.
    Example: tether diff --last --stat      or      tether diff 1m86k src/app.py
    """
    from tether.core.changes import Changes, diff_range

    session_id, paths = _session_and_paths(session_id, paths, last)
    changes = Changes(resolve_session(session_id, last))
    changes.check_store()
    span = diff_range(changes.events, at)
    wanted = [_workspace_path(p) for p in paths or []]
    if json_out:
        files = changes.files(span, wanted) if span else []
        sys.stdout.write("".join(json.dumps(f.to_dict(), ensure_ascii=False) + "\n" for f in files))
        return
    if span is None:
        return  # the workspace was never used: nothing changed
    terminal = console.out.is_terminal
    options = [f"--color={'always' if terminal and not console.out.no_color else 'never'}"]
    # Into a file or a pipe, binary files come whole, so that `git apply` takes the patch.
    options += [f"--stat={console.out.width}", "--summary"] if stat else ["-M"]
    options += [] if stat or terminal else ["--binary"]
    sys.stdout.buffer.write(changes.diff(span, wanted, options))
    sys.stdout.flush()


def apply(
    session_id: IdArgument = None,
    last: LastOption = False,
    to: Annotated[
        Path | None,
        typer.Option("--to", metavar="DIR", help="Apply to DIR, not to where the copy came from."),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Only say what would happen; write nothing.")
    ] = False,
) -> None:
    """Bring the agent's change into the directory its workspace was copied from.

    Files that changed there since are merged three-way; if any conflict, nothing is
    written and the conflicting files are named. Example: tether apply --last
    """
    from tether.core.apply import ApplyConflict, apply_session

    report = apply_session(
        resolve_session(session_id, last), str(to) if to else None, check_only=check
    )
    for line in report.lines:
        console.out.print(line, markup=False, highlight=False)
    if report.conflicts:
        raise ApplyConflict(report.conflicts)


def cp(
    source: Annotated[str, typer.Argument(metavar="SRC", help="ID:PATH, a host path, or '-'.")],
    destination: Annotated[
        str, typer.Argument(metavar="DEST", help="ID:PATH, a host path, or '-'.")
    ],
) -> None:
    """Copy files between the host and a session's sandbox, as `docker cp` does.

    ID:PATH is in the sandbox, relative to /workspace unless absolute; '-' is a tar
    stream on stdin or stdout. Works whether or not the session runs.
    Example: tether cp 1m86k:report.md .      or      tether cp ./data 1m86k:data
    """
    from tether.core import cp as copying

    remote_source, remote_destination = copying.parse(source), copying.parse(destination)
    if (remote_source is None) == (remote_destination is None):
        raise errors.UsageError("give one ID:PATH and one host path (or '-'), as in docker cp")
    if remote_source is not None:
        done = copying.copy_out(remote_source, destination, sys.stdout.buffer)
    else:
        assert remote_destination is not None
        done = copying.copy_in(source, remote_destination, sys.stdin.buffer)
    if done:
        console.err.print(done, markup=False, highlight=False)


def fork(
    session_id: IdArgument = None,
    last: LastOption = False,
    at: Annotated[
        int | None,
        typer.Option(
            "--at", min=0, metavar="SEQ",
            help="Fork after event SEQ (default: the latest point where nothing is half done).",
        ),
    ] = None,
    new_id: Annotated[
        str | None, typer.Option("--session-id", help="Use this id for the fork.")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the fork's session.created as a JSON line.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the fork's id.")] = False,
) -> None:  # fmt: skip
    """Make a new session from another at event SEQ: its conversation up to there, and
    its files as they were then. The parent is not changed; resume the fork as any session.

    Example: tether fork 1m86k --at 17 && tether resume --last "try the other way"
    """
    from tether.core.fork import fork as make_fork

    child = make_fork(resolve_session(session_id, last), at, new_id)
    created = child.read(0, 1)[0]
    assert isinstance(created, SessionCreated)
    if json_out:
        sys.stdout.write(created.to_json() + "\n")
    elif quiet:
        console.out.print(child.id, markup=False)
    else:
        console.out.print(f"[bold]session {child.id}[/]")
        files = "with its files then" if created.workspace_source == "fork" else "(no files yet)"
        console.err.print(
            f"forked {created.parent} at event {created.parent_seq}, {files}; "
            f"continue it with: tether resume {child.id} [PROMPT]",
            markup=False, highlight=False,
        )  # fmt: skip


def _session_and_paths(
    session_id: str | None, paths: list[str] | None, last: bool
) -> tuple[str | None, list[str]]:
    """With --last, what looks like the ID is the first PATH."""
    if last and session_id is not None:
        return None, [session_id, *(paths or [])]
    return session_id, paths or []


def _workspace_path(path: str) -> str:
    """A PATH as git sees it inside the workspace."""
    stripped = path.removeprefix("/workspace").lstrip("/")
    if path.startswith("/") and not path.startswith("/workspace"):
        raise errors.UsageError(f"{path}: only files under /workspace are compared")
    return stripped or "."


COMMANDS = {"diff": diff, "apply": apply, "cp": cp, "fork": fork}
