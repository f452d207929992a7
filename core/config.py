"""Settings for a run: defaults, then the TOML config file, then `TETHER_*`
environment variables, then command-line flags, each overriding the one before.

`resolve` also says where each value came from, for `tether config`.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from . import errors, paths
from .model import DEFAULT_MODEL  # core.model imports the SDK only when a client is made

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
    token_budget: int | None = None
    """Most tokens (input, output and cache) over the whole session."""
    timeout_s: float | None = None
    """Wall-clock limit of one run or resume, in seconds."""
    image: str = DEFAULT_IMAGE
    """Sandbox image."""
    workspace: str | None = None
    """Host directory mounted at /workspace; unset means a Docker volume per session."""
    network: bool = False
    """Give the sandbox a network."""
    memory: str = "2g"
    """Sandbox memory limit (Docker syntax: 512m, 2g)."""
    cpus: float = 2.0
    """Sandbox CPU limit."""
    pids_limit: int = 512
    """Most processes in the sandbox."""
    base_url: str | None = None
    """Messages API endpoint; ANTHROPIC_BASE_URL also sets it."""


@dataclass(frozen=True)
class Resolved:
    settings: Settings
    sources: dict[str, str] = field(default_factory=dict)  # field name -> default/file/env/flag


_TYPES: dict[str, type] = {
    "model": str,
    "system": str,
    "max_turns": int,
    "max_tokens": int,
    "token_budget": int,
    "timeout_s": float,
    "image": str,
    "workspace": str,
    "network": bool,
    "memory": str,
    "cpus": float,
    "pids_limit": int,
    "base_url": str,
}
_POSITIVE = {"max_turns", "max_tokens", "token_budget", "timeout_s", "cpus", "pids_limit"}


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
            settings = replace(settings, **{name: _convert(name, value, source)})
            sources[name] = source
    return Resolved(settings, sources)


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise errors.ConfigError(f"{path}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise errors.ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    for key in data:
        if key not in _TYPES:
            raise errors.ConfigError(f"{path}: unknown key {key!r}")
    return data


def _read_env() -> dict[str, Any]:
    values = {}
    for name in _TYPES:
        variable = f"TETHER_{name.upper()}"
        raw = os.environ.get(variable)
        if raw is not None and raw != "":
            values[name] = utf8(raw, variable, errors.ConfigError)
    if "base_url" not in values and os.environ.get("ANTHROPIC_BASE_URL"):
        values["base_url"] = utf8(os.environ["ANTHROPIC_BASE_URL"], "ANTHROPIC_BASE_URL")
    return values


def decoded(data: bytes, what: str, error: type[errors.TetherError] = errors.UsageError) -> str:
    """`data` decoded as UTF-8; `error` naming `what` and the first bad byte otherwise."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        near = data[max(0, exc.start - 20) : exc.start + 20].decode("utf-8", "backslashreplace")
        raise error(
            f"{what} is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}: "
            f"'{near}'); convert it first, e.g. with: iconv -f latin1 -t utf-8"
        ) from None


def utf8(text: str, what: str, error: type[errors.TetherError] = errors.UsageError) -> str:
    """`text` if it is valid UTF-8. Python hands undecodable bytes of argv and the
    environment over as lone surrogates, which no log line or request can carry."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")  # the bytes as they were given
    except UnicodeEncodeError:
        raise error(f"{what} is not valid UTF-8 (it holds a lone surrogate)") from None
    return decoded(raw, what, error)


def check(name: str, value: Any, source: str = "flag") -> Any:
    """Check and convert one setting's value; `source` names it in the error message."""
    return _convert(name, value, source)


def _convert(name: str, value: Any, source: str) -> Any:
    """Check and convert one value; strings from the environment are parsed."""
    kind = _TYPES[name]
    where = _where(name, source)
    try:
        converted = _parse(kind, value)
    except (TypeError, ValueError):
        raise errors.ConfigError(f"{where} must be {_KIND_WORDS[kind]}, not {value!r}") from None
    if name in _POSITIVE and converted <= 0:
        raise errors.ConfigError(f"{where} must be greater than 0, not {value!r}")
    if kind is str and not converted.strip():
        raise errors.ConfigError(f"{where} must not be empty")
    return _CHECKS.get(name, lambda v, w: v)(converted, where)


def _where(name: str, source: str) -> str:
    """How the person wrote the setting: a flag, a variable, or a key of a file."""
    if source == "flag":
        return _FLAGS.get(name, "--" + name.replace("_", "-"))
    return f"TETHER_{name.upper()}" if source == "env" else f"{source}: {name}"


def _existing_dir(value: str, where: str) -> str:
    path = Path(value).expanduser()
    if not path.exists():
        raise errors.ConfigError(f"{where} {value}: the directory does not exist")
    if not path.is_dir():
        raise errors.ConfigError(f"{where} {value}: is a file, not a directory")
    return str(path.resolve())


def _url(value: str, where: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise errors.ConfigError(f"{where} must be an http:// or https:// URL, not {value!r}")
    return value


_FLAGS = {"token_budget": "--budget", "timeout_s": "--timeout", "pids_limit": "--pids"}
_CHECKS = {"workspace": _existing_dir, "base_url": _url}


def _parse(kind: type, value: Any) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes", "on"):
            return True
        if str(value).lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(value)
    if isinstance(value, bool) or (kind is str and not isinstance(value, str)):
        raise TypeError(value)
    return kind(value)


_KIND_WORDS = {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}
