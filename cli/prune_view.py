"""What `prune` says before it removes anything."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.console import Console

from tether.core.prune import Plan

from . import fmt
from .views import ago


def describe(screen: Console, chosen: Plan, dry_run: bool) -> None:
    """One line per thing to remove, then the count; or that there is nothing."""
    now = datetime.now(UTC)
    verb = "would remove" if dry_run else "removing"
    lines = [
        f"{verb} session {s.id} ({s.status} · {fmt.outcome_word(s.stop_reason)}, "
        f"last active {ago(s.last_activity, now)})"
        for s in chosen.sessions
    ]
    lines += [f"{verb} volume {name} (its session is gone)" for name in chosen.volumes]
    lines += [f"{verb} container {cid[:12]} (no harness runs it)" for cid in chosen.containers]
    for line in lines:
        screen.print(line, markup=False, highlight=False)
    if chosen.engine_error:
        screen.print(f"not looking for volumes and containers: {chosen.engine_error}", markup=False)
    if not lines:
        screen.print("nothing to prune", markup=False)
        return
    total = [
        fmt.plural(len(chosen.sessions), "session"),
        fmt.plural(len(chosen.volumes), "volume"),
        fmt.plural(len(chosen.containers), "container"),
    ]
    screen.print(("in all: " if dry_run else "") + ", ".join(total), markup=False)


def confirm() -> bool:
    return typer.confirm("Remove them?", default=False)
