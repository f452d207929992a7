"""Settings for a run: defaults, then the TOML config file, then `TETHER_*`
environment variables, then command-line flags, each overriding the one before.

`resolve` also says where each value came from, for `tether config`.
"""

from __future__ import annotations

import difflib
import logging
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from . import catalog, errors, paths, permissions
from .config_values import CHECKS, KIND_WORDS, mcp_sources, parse, permission_rules
from .config_values import parse_size as parse_size  # where callers have always found it
from .encoding import utf8
from .model import DEFAULT_MODEL  # core.model imports the SDK only when a client is made

log = logging.getLogger(__name__)

DEFAULT_IMAGE = "python:3.12-bookworm"


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything a session is created with. None means "no limit" for limits."""

    model: str = DEFAULT_MODEL
    """Model id sent to the Messages API."""
    system: str | None = None
    """System prompt (text)."""
    max_turns: int | None = None
    """Most model requests in one run or resume."""
    max_tokens: int = 8192
    """Most output tokens in one model response."""
    thinking: str | None = None
    """Extended thinking: `adaptive` (the model decides when and how much) or `off`;
    unset leaves it to the model's default."""
    effort: str | None = None
    """How much effort the model puts into a response: low, medium, high, xhigh or max."""
    context_window: int | None = None
    """Tokens the session's context may hold; unset: the model's (200k). More than 200k
    asks for the 1M-token window, which some models allow."""
    compaction: bool = True
    """Compact the context (replace it by a summary) before it outgrows the window."""
    compact_threshold: float = 0.8
    """Compact once the next request would pass this share of the window."""
    token_budget: int | None = None
    """Most tokens (input, output and cache) over the whole session."""
    budget_usd: float | None = None
    """Most USD the whole session may cost, as estimated from the price table."""
    timeout_s: float | None = None
    """Wall-clock limit of one run or resume, in seconds."""
    image: str = DEFAULT_IMAGE
    """Sandbox image."""
    workspace: str | None = None
    """Host directory mounted live at /workspace; unset means a Docker volume per session."""
    copy_limit: str = "1g"
    """Most bytes `--from DIR` copies from a directory that is not a git work tree."""
    network: bool = False
    """Give the sandbox a network."""
    memory: str = "2g"
    """Sandbox memory limit (Docker syntax: 512m, 2g)."""
    cpus: float = 2.0
    """Sandbox CPU limit."""
    pids_limit: int = 512
    """Most processes in the sandbox."""
    max_output: str = "64m"
    """Most output one tool call keeps (Docker size syntax: 500k, 64m, 1g); the rest is dropped."""
    base_url: str | None = None
    """Messages API endpoint; ANTHROPIC_BASE_URL also sets it."""
    mcp_config: tuple[str, ...] = ()
    """MCP server configs in Claude Code's .mcp.json shape: JSON files, or the config
    file's own `mcp_config` table (written FILE#mcp_config)."""
    mcp_timeout_s: float = 120.0
    """Longest wait for an MCP server to list its tools or answer one call (and to start,
    with 30 s at least)."""
    permissions: tuple[str, ...] = ()
    """Permission rules as DECISION:PATTERN, the first match winning (flags' first)."""
    prices: Mapping[str, catalog.Prices] = field(default_factory=dict)
    """USD per million tokens by model, over the built-in table (the file's `[prices.MODEL]`
    tables: input, output, and optionally cache_write and cache_read)."""


@dataclass(frozen=True)
class Resolved:
    settings: Settings
    sources: dict[str, str] = field(default_factory=dict)  # field name -> default/file/env/flag


_TYPES: dict[str, type] = {
    "model": str,
    "system": str,
    "max_turns": int,
    "max_tokens": int,
    "thinking": str,
    "effort": str,
    "context_window": int,
    "compaction": bool,
    "compact_threshold": float,
    "token_budget": int,
    "budget_usd": float,
    "timeout_s": float,
    "image": str,
    "workspace": str,
    "copy_limit": str,
    "network": bool,
    "memory": str,
    "cpus": float,
    "pids_limit": int,
    "max_output": str,
    "base_url": str,
    "mcp_timeout_s": float,
}
_POSITIVE = {
    "max_turns", "max_tokens", "token_budget", "timeout_s", "cpus", "pids_limit", "mcp_timeout_s",
    "context_window", "compact_threshold", "budget_usd",
}  # fmt: skip
_LISTS = ("mcp_config", "permissions", "prices")  # each read by its own function
# The name a person writes (the flag's, in the file and as TETHER_NAME) for each field
# whose attribute name differs; the attribute names are still accepted, as before.
KEYS = {
    "token_budget": "budget", "timeout_s": "timeout", "pids_limit": "pids",
    "mcp_timeout_s": "mcp_timeout",
}  # fmt: skip
KEY_NAMES = [KEYS.get(name, name) for name in _TYPES] + list(_LISTS)
_FIELDS = {KEYS.get(name, name): name for name in _TYPES} | {name: name for name in _TYPES}
# Variables tether reads that are not settings of one value, so never "did you mean"
# material.
_OTHER_VARIABLES = {
    "TETHER_HOME", "TETHER_CONFIG", "TETHER_RETRY_BASE_S", "TETHER_MCP_CONFIG",
    *(f"TETHER_{d.upper()}" for d in permissions.DECISIONS),
}  # fmt: skip


def key(name: str) -> str:
    """The config key (and flag name) of the field `name`: `budget` for token_budget."""
    return KEYS.get(name, name)


def resolve(flags: dict[str, Any] | None = None, config_path: Path | None = None) -> Resolved:
    """Merge defaults, the config file, the environment and `flags` (None values are unset)."""
    settings, sources = Settings(), {f.name: "default" for f in fields(Settings)}
    path = config_path or paths.config_file()
    layers = [
        (f"file {path}", _read_file(path)),
        ("env", _read_env()),
        ("flag", {k: v for k, v in (flags or {}).items() if v is not None}),
    ]
    for source, values in layers:
        for name, value in values.items():
            converted = _convert(name, value, source)
            if name == "permissions":  # rules add up, a later place's first
                converted = (*converted, *settings.permissions)
            settings = replace(settings, **{name: converted})
            sources[name] = source
    if settings.context_window is None:
        settings = replace(settings, context_window=catalog.context_window(settings.model))
    _check_window(settings, _where("context_window", sources["context_window"]))
    _check_budget(settings, _where("budget_usd", sources["budget_usd"]))
    return Resolved(settings, sources)


def _check_budget(settings: Settings, where: str) -> None:
    """A budget in USD needs the model's price, or it could never be reached."""
    if settings.budget_usd is not None and not catalog.prices_for(settings.model, settings.prices):
        raise errors.ConfigError(
            f'{where}: tether has no price for {settings.model}; add [prices."{settings.model}"] '
            "with input and output (USD per million tokens) to the config file"
        )


def _check_window(settings: Settings, where: str) -> None:
    """A window larger than the model takes is refused before anything is sent."""
    most, window = catalog.max_context_window(settings.model), settings.context_window
    if most is not None and window is not None and window > most:
        raise errors.ConfigError(
            f"{where}: {settings.model} takes at most {most:,} tokens, not {window:,}"
        )


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise errors.ConfigError(f"{path}: not valid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise errors.ConfigError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        raise errors.ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name not in _FIELDS and name not in _LISTS:
            hint = _did_you_mean(name, KEY_NAMES)
            raise errors.ConfigError(f"{path}: unknown key {name!r}{hint}")
        values[_FIELDS.get(name, name)] = value
    return values


def _read_env() -> dict[str, Any]:
    values: dict[str, Any] = {}
    for variable, raw in os.environ.items():
        if not variable.startswith("TETHER_") or raw == "" or variable in _OTHER_VARIABLES:
            continue
        name = _FIELDS.get(variable[len("TETHER_") :].lower()) if variable.isupper() else None
        if name is None:
            _warn_unknown(variable)
        elif name not in values or variable == f"TETHER_{key(name).upper()}":
            values[name] = utf8(raw, variable, errors.ConfigError)  # the new name wins
    if "base_url" not in values and os.environ.get("ANTHROPIC_BASE_URL"):
        values["base_url"] = utf8(os.environ["ANTHROPIC_BASE_URL"], "ANTHROPIC_BASE_URL")
    if os.environ.get("TETHER_MCP_CONFIG"):
        raw = utf8(os.environ["TETHER_MCP_CONFIG"], "TETHER_MCP_CONFIG", errors.ConfigError)
        values["mcp_config"] = raw.split(os.pathsep)
    rules = {d: _split(os.environ.get(f"TETHER_{d.upper()}", "")) for d in permissions.DECISIONS}
    if any(rules.values()):
        values["permissions"] = permissions.layer(**rules, where="TETHER_{}")
    return values


def env_variable(name: str) -> str | None:
    """The TETHER_* variable that sets field `name` now, if one does (new name first)."""
    for variable in (f"TETHER_{key(name).upper()}", f"TETHER_{name.upper()}"):
        if os.environ.get(variable):
            return variable
    return None


def _warn_unknown(variable: str) -> None:
    """A TETHER_ variable that is no setting but looks like one is probably a typo."""
    known = [f"TETHER_{k.upper()}" for k in KEY_NAMES] + sorted(_OTHER_VARIABLES)
    hint = _did_you_mean(variable, known)
    if hint:
        log.warning("%s is not a tether setting%s", variable, hint)


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.7)
    return f"; did you mean {close[0]!r}?" if close else ""


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def check(name: str, value: Any, source: str = "flag") -> Any:
    """Check and convert one setting's value; `source` names it in the error message."""
    return _convert(name, value, source)


def _convert(name: str, value: Any, source: str) -> Any:
    """Check and convert one value; strings from the environment are parsed."""
    if name == "prices":
        return catalog.prices_table(value, f"{source.partition(' ')[2]}: prices")
    where = _where(name, source)
    if name == "mcp_config":
        return mcp_sources(value, source, where)
    if name == "permissions":
        return permission_rules(value, source)
    kind = _TYPES[name]
    try:
        converted = parse(kind, value, from_text=source == "env")
    except (TypeError, ValueError):
        raise errors.ConfigError(f"{where} must be {KIND_WORDS[kind]}, not {value!r}") from None
    if name in _POSITIVE and converted <= 0:
        raise errors.ConfigError(f"{where} must be greater than 0, not {value!r}")
    if kind is str and not converted.strip():
        raise errors.ConfigError(f"{where} must not be empty")
    return CHECKS.get(name, lambda v, w: v)(converted, where)


def _where(name: str, source: str) -> str:
    """How the person wrote the setting: a flag, a variable, or a key of a file."""
    if source == "flag":
        return "--" + key(name).replace("_", "-")
    if source == "env":
        return env_variable(name) or f"TETHER_{key(name).upper()}"
    return f"{source}: {key(name)}"
