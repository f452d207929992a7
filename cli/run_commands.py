"""The write side: `run`, `resume` and `kill`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tether.core import config, encoding, errors, permissions

from . import console, results, runner
from .ids import IdArgument, LastOption, resolve_session

if TYPE_CHECKING:
    from tether.core.workspace import Source

from .options import (
    Allow,
    Ask,
    BaseUrl,
    Budget,
    BudgetUsd,
    Compaction,
    CompactThreshold,
    ContextWindow,
    Cpus,
    Deny,
    Detach,
    Effort,
    HideThinking,
    Image,
    Json,
    MaxOutput,
    MaxTokens,
    MaxTurns,
    McpConfig,
    McpTimeout,
    Memory,
    Model,
    Network,
    Pids,
    Prompt,
    Quiet,
    SessionId,
    System,
    SystemFile,
    Thinking,
    Timeout,
    Workspace,
)  # fmt: skip


def run(
    prompt: Prompt = None,
    model: Model = None,
    system: System = None,
    system_file: SystemFile = None,
    max_turns: MaxTurns = None,
    max_tokens: MaxTokens = None,
    thinking: Thinking = None,
    effort: Effort = None,
    budget: Budget = None,
    budget_usd: BudgetUsd = None,
    timeout: Timeout = None,
    context_window: ContextWindow = None,
    compaction: Compaction = None,
    compact_threshold: CompactThreshold = None,
    image: Image = None,
    from_dir: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="DIR",
            help="Start /workspace as a copy of DIR (not the git tree here).",
        ),
    ] = None,
    workspace: Workspace = None,
    empty: Annotated[bool, typer.Option("--empty", help="Start with an empty /workspace.")] = False,
    copy_limit: Annotated[
        str | None, typer.Option(metavar="SIZE", help="Most --from copies (not of git trees).")
    ] = None,
    network: Network = None,
    memory: Memory = None,
    cpus: Cpus = None,
    pids: Pids = None,
    max_output: MaxOutput = None,
    base_url: BaseUrl = None,
    session_id: SessionId = None,
    mcp_config: McpConfig = None,
    mcp_timeout: McpTimeout = None,
    allow: Allow = None,
    ask: Ask = None,
    deny: Deny = None,
    json_mode: Json = False,
    quiet: Quiet = False,
    detach: Detach = False,
    hide_thinking: HideThinking = False,
) -> None:
    """Start a session and run the agent until it ends its turn.

    Example: tether run "make the failing tests pass" --max-turns 30
    """
    with results.result_on_error(json_mode):
        mode = _mode(json_mode, quiet, detach, hide_thinking)
        text = read_prompt(prompt)
        if system_file is not None:
            system = _read_text(system_file)
        flags = {
            "model": model, "system": system, "max_turns": max_turns, "max_tokens": max_tokens,
            "thinking": thinking, "effort": effort, "context_window": context_window,
            "compaction": compaction, "compact_threshold": compact_threshold,
            "budget_usd": budget_usd,
            "token_budget": budget, "timeout_s": timeout, "image": image, "network": network,
            "workspace": workspace, "memory": memory, "copy_limit": copy_limit,
            "cpus": cpus, "pids_limit": pids, "max_output": max_output, "base_url": base_url,
            "mcp_config": mcp_config or None, "mcp_timeout_s": mcp_timeout,
            "permissions": permissions.layer(allow or (), ask or (), deny or ()) or None,
        }  # fmt: skip
        settings = config.resolve(flags).settings
        source = _workspace_source(settings, from_dir, workspace, empty)
        code = runner.start(text, settings, source, session_id, mode)
    raise typer.Exit(code)


def resume(
    session: IdArgument = None,
    prompt: Prompt = None,
    last: LastOption = False,
    model: Model = None,
    image: Image = None,
    max_turns: MaxTurns = None,
    max_tokens: MaxTokens = None,
    budget: Budget = None,
    budget_usd: BudgetUsd = None,
    timeout: Timeout = None,
    base_url: BaseUrl = None,
    json_mode: Json = False,
    quiet: Quiet = False,
    detach: Detach = False,
    hide_thinking: HideThinking = False,
) -> None:
    """Wake a harness on a session: continue a stopped run, or add PROMPT first.

    The options change the session's settings from now on (recorded in its log;
    TETHER_IMAGE counts as --image); any left out keep the session's own.

    Example: tether resume 1m86k "now update the changelog"
    """
    if last and session is not None and prompt is None:
        session, prompt = None, session  # `resume --last PROMPT`
    with results.result_on_error(json_mode):
        mode = _mode(json_mode, quiet, detach, hide_thinking)
        log = resolve_session(session, last)
        text = None if prompt is None else read_prompt(prompt)
        wanted = runner.wanted_settings({
            "model": model, "image": image, "max_turns": max_turns, "max_tokens": max_tokens,
            "token_budget": budget, "budget_usd": budget_usd, "timeout_s": timeout,
            "base_url": base_url,
        })  # fmt: skip
        code = runner.resume(log, text, wanted, mode)
    raise typer.Exit(code)


def wake_detached(
    session: Annotated[str, typer.Argument()],
    prompt_on_stdin: Annotated[bool, typer.Option("--prompt-on-stdin")] = False,
) -> None:
    """Run a harness on a session with no terminal (what `--detach` starts)."""

    def read_prompt() -> str | None:
        return encoding.decoded(sys.stdin.buffer.read(), "the prompt") if prompt_on_stdin else None

    raise typer.Exit(runner.wake_detached(resolve_session(session, False), read_prompt))


def kill(
    session: IdArgument = None,
    last: LastOption = False,
    grace: Annotated[float, typer.Option(min=0, help="Seconds to wait before SIGKILL.")] = 10.0,
) -> None:
    """Stop a session's harness (SIGTERM, then SIGKILL) and remove its containers.

    The log stays; a killed session can be resumed. Example: tether kill 1m86k
    """
    from tether.core.kill import kill as kill_session

    log = resolve_session(session, last)
    action = kill_session(log, grace_s=grace)
    console.out.print(f"{log.id}: {action}", markup=False)


def _workspace_source(
    settings: config.Settings, from_dir: str | None, bind_flag: str | None, empty: bool
) -> Source:
    """Where /workspace comes from. A --workspace from the environment or the config file
    gives way to --from or --empty on the command line."""
    from tether.core import workspace

    bind = bind_flag or (None if from_dir or empty else settings.workspace)
    limit = config.parse_size(settings.copy_limit)
    return workspace.choose(
        from_dir=from_dir, bind=bind, empty=empty, cwd=os.getcwd(), copy_limit=limit
    )


def read_prompt(prompt: str | None) -> str:
    """PROMPT itself; stdin only for '-' or a pipe with no PROMPT; never empty, always UTF-8."""
    if prompt == "-" or (prompt is None and not sys.stdin.isatty()):
        prompt = encoding.decoded(sys.stdin.buffer.read(), "the prompt on stdin")
    if prompt is None or not prompt.strip():
        raise errors.UsageError("the prompt is empty: give PROMPT, or '-' to read it from stdin")
    return prompt


def _mode(json_mode: bool, quiet: bool, detach: bool, hide_thinking: bool) -> runner.Mode:
    if detach and json_mode:
        raise errors.UsageError("--detach prints only the session id; use tail --json to follow")
    return runner.Mode(json=json_mode, quiet=quiet, detach=detach, hide_thinking=hide_thinking)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise errors.UsageError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise errors.UsageError(f"cannot read {path}: it is not UTF-8 text") from None


COMMANDS = {"run": run, "resume": resume, "kill": kill, "_wake": wake_detached}
