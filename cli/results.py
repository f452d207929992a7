"""How a run ends on the command line: the `result` JSON line (also for a run that
failed before it could start) and, for a person, the error and the closing line."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from tether.core import errors
from tether.core import events as ev
from tether.core.exit_codes import for_error

from . import console, tools

if TYPE_CHECKING:
    from tether.core.harness import Outcome


@contextmanager
def result_on_error(json_mode: bool) -> Iterator[None]:
    """With --json, an error before or around the run still ends stdout with a result line."""
    try:
        yield
    except (errors.TetherError, errors.Interrupted) as exc:
        if json_mode:
            write_error_result(int(for_error(exc)), str(exc))
        raise


def write_error_result(exit_code: int, message: str) -> None:
    """The `result` line of a run that failed before it could start."""
    _write_result({
        "type": "result", "session_id": None, "stop_reason": "error", "turns": 0,
        "usage": asdict(ev.Usage()), "duration_ms": 0, "exit_code": exit_code,
        "error": message,
    })  # fmt: skip


def report(session_id: str, outcome: Outcome, seconds: float, json_mode: bool, quiet: bool) -> None:
    """The closing line: a `result` JSON object, or a short summary for a person."""
    if json_mode:
        result = {
            "type": "result",
            "session_id": session_id,
            "stop_reason": outcome.stop_reason,
            "turns": outcome.turns,
            "usage": asdict(outcome.usage),
            "duration_ms": int(seconds * 1000),
            "exit_code": int(outcome.exit_code),
            **{k: v for k, v in outcome.cost.to_dict().items() if not k.endswith("tokens")},
        }
        if outcome.error is not None or outcome.notice:
            result["error"] = str(outcome.error or outcome.notice)
        if outcome.pending:
            result["pending"] = tools.pending_json(outcome.pending)
        _write_result(result)
        if quiet:
            return
    if outcome.pending and not json_mode:
        tools.show_pending(session_id, outcome.pending)
    if outcome.error is not None or outcome.notice:
        console.fail(str(outcome.error or outcome.notice))
    if not quiet:
        from .lines import closing_line

        console.err.print(closing_line(session_id, outcome, seconds))


def _write_result(result: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(result, separators=(",", ":")) + "\n")
    sys.stdout.flush()
