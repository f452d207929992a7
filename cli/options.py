"""The options `run` and `resume` share, each with its default shown in `--help`.

An option left out is None, so that the config file and `TETHER_*` variables
can fill it in; the default `--help` shows is the built-in one they override.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tether.core.config import Settings

_DEFAULTS = Settings()
_NO_LIMIT = "no limit"


def _help(text: str, default: str) -> str:
    """`text` with its default, as click shows one (given here so it has no parentheses)."""
    return f"{text}  [default: {default}]"


Prompt = Annotated[
    str | None,
    typer.Argument(
        metavar="[PROMPT]",
        help="What the agent should do. '-' (or a pipe with no PROMPT) reads stdin.",
        show_default=False,
    ),
]
Model = Annotated[
    str | None, typer.Option("--model", "-m", help=_help("Model id.", _DEFAULTS.model))
]
System = Annotated[str | None, typer.Option(help=_help("System prompt.", "none"))]
SystemFile = Annotated[
    Path | None,
    typer.Option(help="Read the system prompt from a file.", dir_okay=False, show_default=False),
]
MaxTurns = Annotated[
    int | None, typer.Option(help=_help("Stop after this many model requests.", _NO_LIMIT))
]
MaxTokens = Annotated[
    int | None,
    typer.Option(help=_help("Most tokens in one response.", str(_DEFAULTS.max_tokens))),
]
Budget = Annotated[
    int | None,
    typer.Option(
        "--budget", help=_help("Stop once the session has used this many tokens.", _NO_LIMIT)
    ),
]
Timeout = Annotated[
    float | None, typer.Option(help=_help("Stop after this many seconds.", _NO_LIMIT))
]
BudgetUsd = Annotated[
    float | None,
    typer.Option(
        "--budget-usd",
        help=_help("Stop once the session has cost this many USD (estimated).", _NO_LIMIT),
    ),
]
ContextWindow = Annotated[
    int | None,
    typer.Option(help=_help("Tokens the context may hold.", "the model's (200,000)")),
]
Compaction = Annotated[
    bool | None,
    typer.Option(help=_help("Compact the context (summarize it) before it outgrows the window.",
                            "on")),
]  # fmt: skip
CompactThreshold = Annotated[
    float | None,
    typer.Option(
        metavar="SHARE",
        help=_help("Compact at this share of the window.", str(_DEFAULTS.compact_threshold)),
    ),
]
Image = Annotated[str | None, typer.Option(help=_help("Sandbox image.", _DEFAULTS.image))]
Workspace = Annotated[
    str | None,
    typer.Option(
        help=_help("Host directory to mount at /workspace.", "a Docker volume per session")
    ),
]
Network = Annotated[bool | None, typer.Option(help=_help("Give the sandbox a network.", "off"))]
Memory = Annotated[
    str | None, typer.Option(help=_help("Sandbox memory limit, e.g. 512m.", _DEFAULTS.memory))
]
Cpus = Annotated[
    float | None, typer.Option(help=_help("Sandbox CPU limit.", f"{_DEFAULTS.cpus:g}"))
]
Pids = Annotated[
    int | None,
    typer.Option(help=_help("Most processes in the sandbox.", str(_DEFAULTS.pids_limit))),
]
MaxOutput = Annotated[
    str | None,
    typer.Option(help=_help("Most output one tool call keeps, e.g. 64m.", _DEFAULTS.max_output)),
]
BaseUrl = Annotated[
    str | None,
    typer.Option(help=_help("Messages API endpoint.", "ANTHROPIC_BASE_URL, else the API")),
]
SessionId = Annotated[
    str | None,
    typer.Option(help=_help("Use this id for the new session.", "a new one")),
]
Json = Annotated[
    bool, typer.Option("--json", help="Events as JSON Lines on stdout, then one result line.")
]
Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        "--print",
        help="Print only the model's final answer, on stdout (with --json: no human view).",
    ),
]
Detach = Annotated[
    bool,
    typer.Option(
        "--detach", "-d", help="Run in the background: print the id and return (see tail -f)."
    ),
]
Thinking = Annotated[
    str | None,
    typer.Option(metavar="adaptive|off", help=_help("Extended thinking.", "the model's own")),
]
Effort = Annotated[
    str | None,
    typer.Option(metavar="low|medium|high|xhigh|max", help="How hard the model works."),
]
McpConfig = Annotated[
    list[str] | None,
    typer.Option(
        "--mcp-config", metavar="FILE",
        help="MCP servers, in Claude Code's .mcp.json shape (repeatable).",
    ),
]  # fmt: skip
McpTimeout = Annotated[
    float | None,
    typer.Option(
        help=_help("Seconds an MCP server may take to answer (and to start, 30 at least).",
                   f"{_DEFAULTS.mcp_timeout_s:g}"),
    ),
]  # fmt: skip
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
