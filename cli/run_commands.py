"""The write side: `run`, `resume` and `kill`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tether.core import config, errors, permissions

from . import console, live
from .ids import IdArgument, LastOption, resolve_session

if TYPE_CHECKING:
    from tether.core.workspace import Source

Prompt = Annotated[
    str | None,
    typer.Argument(help="What the agent should do. '-' (or a pipe with no PROMPT) reads stdin."),
]
Model = Annotated[str | None, typer.Option("--model", "-m", help="Model id.")]
MaxTurns = Annotated[int | None, typer.Option(help="Stop after this many model requests.")]
Budget = Annotated[
    int | None, typer.Option("--budget", help="Stop once the session has used this many tokens.")
]
Timeout = Annotated[float | None, typer.Option(help="Stop after this many seconds.")]
BudgetUsd = Annotated[
    float | None,
    typer.Option("--budget-usd", help="Stop once the session has cost this many USD (estimated)."),
]
BaseUrl = Annotated[
    str | None, typer.Option(help="Messages API endpoint (default: ANTHROPIC_BASE_URL).")
]
Json = Annotated[
    bool, typer.Option("--json", help="Events as JSON Lines on stdout, then one result line.")
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No human output.")]
McpConfig = Annotated[
    list[str] | None,
    typer.Option(
        "--mcp-config", metavar="FILE",
        help="MCP servers, in Claude Code's .mcp.json shape (repeatable).",
    ),
]  # fmt: skip
McpTimeout = Annotated[
    float | None,
    typer.Option(help="Seconds an MCP server may take to answer (and to start, 30 at least)."),
]
Allow = Annotated[
    list[str] | None,
    typer.Option("--allow", metavar="TOOL", help="Run calls of TOOL (a name or glob) unasked."),
]
Ask = Annotated[
    list[str] | None,
    typer.Option("--ask", metavar="TOOL", help="Ask before each call of TOOL (name or glob)."),
]
Deny = Annotated[
    list[str] | None,
    typer.Option("--deny", metavar="TOOL", help="Refuse every call of TOOL (name or glob)."),
]
HideThinking = Annotated[
    bool, typer.Option("--hide-thinking", help="Leave the model's thinking out of the view.")
]


def run(
    prompt: Prompt = None,
    model: Model = None,
    system: Annotated[str | None, typer.Option(help="System prompt.")] = None,
    system_file: Annotated[
        Path | None, typer.Option(help="Read the system prompt from a file.", dir_okay=False)
    ] = None,
    max_turns: MaxTurns = None,
    max_tokens: Annotated[int | None, typer.Option(help="Most tokens in one response.")] = None,
    thinking: Annotated[
        str | None,
        typer.Option(metavar="adaptive|off", help="Extended thinking (default: the model's)."),
    ] = None,
    effort: Annotated[
        str | None,
        typer.Option(metavar="low|medium|high|xhigh|max", help="How hard the model works."),
    ] = None,
    budget: Budget = None,
    budget_usd: BudgetUsd = None,
    timeout: Timeout = None,
    context_window: Annotated[
        int | None, typer.Option(help="Tokens the context may hold (default: the model's).")
    ] = None,
    compaction: Annotated[
        bool | None,
        typer.Option(help="Compact the context (summarize it) before it outgrows the window."),
    ] = None,
    compact_threshold: Annotated[
        float | None,
        typer.Option(metavar="SHARE", help="Compact at this share of the window (default 0.8)."),
    ] = None,
    image: Annotated[str | None, typer.Option(help="Sandbox image.")] = None,
    from_dir: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="DIR",
            help="Start /workspace as a copy of DIR (not the git tree here).",
        ),
    ] = None,
    workspace: Annotated[
        str | None,
        typer.Option(
            metavar="DIR", help="Mount DIR itself at /workspace: the agent writes it live."
        ),
    ] = None,
    empty: Annotated[bool, typer.Option("--empty", help="Start with an empty /workspace.")] = False,
    copy_limit: Annotated[
        str | None, typer.Option(metavar="SIZE", help="Most --from copies (not of git trees).")
    ] = None,
    network: Annotated[bool | None, typer.Option(help="Give the sandbox a network.")] = None,
    memory: Annotated[str | None, typer.Option(help="Sandbox memory limit, e.g. 2g.")] = None,
    cpus: Annotated[float | None, typer.Option(help="Sandbox CPU limit.")] = None,
    pids: Annotated[int | None, typer.Option(help="Most processes in the sandbox.")] = None,
    max_output: Annotated[
        str | None, typer.Option(help="Most output one tool call keeps, e.g. 64m.")
    ] = None,
    base_url: BaseUrl = None,
    session_id: Annotated[str | None, typer.Option(help="Use this id for the new session.")] = None,
    mcp_config: McpConfig = None,
    mcp_timeout: McpTimeout = None,
    allow: Allow = None,
    ask: Ask = None,
    deny: Deny = None,
    json_mode: Json = False,
    quiet: Quiet = False,
    hide_thinking: HideThinking = False,
) -> None:
    """Start a session and run the agent in the foreground until it ends its turn.

    Example: tether run "make the failing tests pass" --max-turns 30
    """
    with live.result_on_error(json_mode):
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
        code = live.start(
            text, settings, source, session_id, json_mode=json_mode, quiet=quiet,
            hide_thinking=hide_thinking,
        )  # fmt: skip
    raise typer.Exit(code)


def resume(
    session: IdArgument = None,
    prompt: Prompt = None,
    last: LastOption = False,
    max_turns: MaxTurns = None,
    budget: Budget = None,
    budget_usd: BudgetUsd = None,
    timeout: Timeout = None,
    base_url: BaseUrl = None,
    json_mode: Json = False,
    quiet: Quiet = False,
    hide_thinking: HideThinking = False,
) -> None:
    """Wake a harness on a session: continue a stopped run, or add PROMPT first.

    Example: tether resume 1m86k "now update the changelog"
    """
    if last and session is not None and prompt is None:
        session, prompt = None, session  # `resume --last PROMPT`
    with live.result_on_error(json_mode):
        log = resolve_session(session, last)
        text = None if prompt is None else read_prompt(prompt)
        overrides = {"max_turns": max_turns, "token_budget": budget, "timeout_s": timeout,
                     "budget_usd": budget_usd, "base_url": base_url}  # fmt: skip
        code = live.resume(
            log, text, overrides, json_mode=json_mode, quiet=quiet, hide_thinking=hide_thinking
        )
    raise typer.Exit(code)


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
    console.out.print(f"{log.id}: {action}")


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
        prompt = config.decoded(sys.stdin.buffer.read(), "the prompt on stdin")
    if prompt is None or not prompt.strip():
        raise errors.UsageError("the prompt is empty: give PROMPT, or '-' to read it from stdin")
    return prompt


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise errors.UsageError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise errors.UsageError(f"cannot read {path}: it is not UTF-8 text") from None


COMMANDS = {"run": run, "resume": resume, "kill": kill}
