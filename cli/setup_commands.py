"""Setting tether up: `config` shows the effective settings, `doctor` checks the machine."""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import asdict, fields
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from tether.core import config, mcp_config, paths, permissions
from tether.core.doctor import FAIL, OK, SKIP, WARN, Check, machine_checks

from . import completion, console

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object, for programs.")]


def config_command(json_out: JsonOption = False) -> None:
    """Show the effective settings and where each comes from: default, file, env or flag.

    Settings come from defaults, then the config file, then TETHER_* variables
    (TETHER_IMAGE, TETHER_MAX_TURNS, ...), then a command's flags.

    Example:  tether config --json | jq -r .settings.image.value
    """
    path = paths.config_file()
    resolved = config.resolve()  # a bad file raises ConfigError: one line naming file and key
    rows = [_setting_row(name, value, resolved.sources[name]) for name, value in _items(resolved)]
    servers = mcp_config.load(resolved.settings.mcp_config, expand=False, missing_ok=True)
    if json_out:
        settings = {name: {"value": v, "source": kind, "from": at} for name, v, kind, at in rows}
        _write_json({
            "config_file": str(path), "config_file_exists": path.exists(), "settings": settings,
            "mcp_servers": {name: _server_json(s) for name, s in servers.items()},
            "permission_rules": [*resolved.settings.permissions, *permissions.DEFAULT_RULES],
        })  # fmt: skip
        return
    console.out.print(Text(f"config file: {path}" + ("" if path.exists() else " (not present)")))
    console.out.print(_settings_table(rows))
    console.out.print(_servers_table(resolved.settings.mcp_config, servers))
    console.out.print(_rules_text(resolved.settings.permissions))


def _server_json(server: mcp_config.ServerConfig) -> dict[str, Any]:
    return {**mcp_config.describe(server), "from": server.source}


def _servers_table(sources: tuple[str, ...], servers: dict[str, mcp_config.ServerConfig]) -> Table:
    """The MCP servers: what starts them (values of variables and headers never shown)."""
    missing = [s for s in sources if not Path(s.removesuffix(mcp_config.INLINE)).exists()]
    title = "MCP servers" + "".join(f" ({s} is not present)" for s in missing)
    table = Table(title=title, title_justify="left", box=None, pad_edge=False, header_style="bold")
    for column in ("name", "transport", "starts", "passes", "from"):
        table.add_column(column)
    for name, server in servers.items():
        shown = mcp_config.describe(server)
        starts = shown.get("url") or shlex.join([shown["command"], *shown["args"]])
        passes = ", ".join(shown.get("env") or shown.get("headers") or []) or "-"
        table.add_row(name, shown["type"], starts, passes, server.source)
    if not servers:
        table.add_row(Text("none", style="dim"), "", "", "", "")
    return table


def _rules_text(rules: tuple[str, ...]) -> Text:
    text = Text("permission rules (the first that matches a tool decides):", style="bold")
    for rule in rules:
        text.append(f"\n  {rule}", style="")
    for rule in permissions.DEFAULT_RULES:
        text.append(f"\n  {rule}", style="dim")
        text.append("  (default)", style="dim")
    return text


def _items(resolved: config.Resolved) -> list[tuple[str, Any]]:
    return [(f.name, getattr(resolved.settings, f.name)) for f in fields(resolved.settings)]


def _setting_row(name: str, value: Any, source: str) -> tuple[str, Any, str, str | None]:
    """(key, value, kind, origin): the key as the file and flags spell it; origin is the
    file's path or the variable's name."""
    kind, _, origin = source.partition(" ")
    if kind == "env":
        origin = config.env_variable(name) or "ANTHROPIC_BASE_URL"
    return config.key(name), value, kind, origin or None


def _settings_table(rows: list[tuple[str, Any, str, str | None]]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("key", "value", "source"):
        table.add_column(column)
    for name, value, kind, origin in rows:
        shown = Text("unset", style="dim") if value is None else Text(_toml(value))
        source = Text(kind, style="dim" if kind == "default" else "")
        table.add_row(name, shown, source + Text(f" {origin}" if origin else ""))
    return table


def _toml(value: Any) -> str:
    """A value the way the config file spells it."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return json.dumps(list(value))
    return json.dumps(value) if isinstance(value, str) else str(value)


def doctor(json_out: JsonOption = False) -> None:
    """Check that tether can run here: Docker engine, image, API key, data dir, completions.

    Every problem comes with a remedy. Exits 1 if anything is broken; warnings don't count.

    Example:  tether doctor --json | jq -r '.checks[] | select(.status == "fail") | .remedy'
    """
    checks = [*machine_checks(), completions_check()]
    broken = any(c.status == FAIL for c in checks)
    if json_out:
        _write_json({"ok": not broken, "checks": [asdict(c) for c in checks]})
    else:
        console.out.print(_doctor_table(checks))
        problems = sum(c.status == FAIL for c in checks)
        console.out.print(f"{problems} problem(s) found" if problems else "all good")
    if broken:
        raise typer.Exit(1)


def completions_check() -> Check:
    """Completions are installed for the user's shell (or, with no known shell, for any)."""
    found = completion.installed()
    shell = os.path.basename(os.environ.get("SHELL", ""))
    if shell in found or (shell not in completion.SHELLS and found):
        where = ", ".join(f"{name} ({path})" for name, path in found.items())
        return Check("completions", OK, f"installed for {where}")
    shell = shell if shell in completion.SHELLS else "bash"
    return Check(
        "completions", WARN, f"not installed for {shell}", completion.install_command(shell)
    )


_MARKS = {OK: ("✓", "green"), WARN: ("!", "yellow"), FAIL: ("✗", "red"), SKIP: ("-", "dim")}


def _doctor_table(checks: list[Check]) -> Table:
    table = Table.grid(padding=(0, 1))
    for _ in range(3):
        table.add_column()
    for check in checks:
        mark, style = _MARKS[check.status]
        detail = Text(check.detail)
        if check.remedy:
            detail.append(f"\n→ {check.remedy}", style="yellow")
        table.add_row(Text(mark, style=style), Text(check.name, style="bold"), detail)
    return table


def _write_json(obj: dict[str, Any]) -> None:
    console.out.file.write(json.dumps(obj) + "\n")
    console.out.file.flush()


COMMANDS = {"config": config_command, "doctor": doctor}
