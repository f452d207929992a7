"""How one setting's value is checked and converted: the check for each setting, the
types' strict parsers, sizes written as Docker writes them, and the list settings (MCP
config files, permission rules). `config` applies them to every value it reads and
names, in each error, where the value came from."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from . import errors, mcp_config, permissions


def existing_dir(value: str, where: str) -> str:
    """`value` as an absolute path, if it names a directory; ConfigError naming `where`."""
    path = Path(value).expanduser()
    if not path.exists():
        raise errors.ConfigError(f"{where} {value}: the directory does not exist")
    if not path.is_dir():
        raise errors.ConfigError(f"{where} {value}: is a file, not a directory")
    return str(path.resolve())


def one_of(*allowed: str) -> Any:
    def check(value: str, where: str) -> str:
        if value not in allowed:
            words = ", ".join(allowed[:-1]) + f" or {allowed[-1]}"
            raise errors.ConfigError(f"{where} must be {words}, not {value!r}")
        return value

    return check


def a_share(value: float, where: str) -> float:
    if value > 1:
        raise errors.ConfigError(f"{where} must be a share of the window, at most 1, not {value}")
    return value


def a_window(value: int, where: str) -> int:
    if value < 1024:
        raise errors.ConfigError(f"{where} must be at least 1024 tokens, not {value}")
    return value


def a_url(value: str, where: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise errors.ConfigError(f"{where} must be an http:// or https:// URL, not {value!r}")
    return value


def a_size(value: str, where: str) -> str:
    try:
        parse_size(value)
    except ValueError:
        raise errors.ConfigError(
            f"{where} must be a size such as 64m, 500k or 1g, not {value!r}"
        ) from None
    return value


_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?\s*", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(text: str) -> int:
    """Bytes in a size written as Docker does (binary units): 100000, 500k, 64m, 1.5g."""
    match = _SIZE.fullmatch(text)
    if match is None:
        raise ValueError(f"not a size: {text!r}")
    size = int(float(match[1]) * _UNITS[match[2].lower()])
    if size <= 0:
        raise ValueError(f"not a positive size: {text!r}")
    return size


_MIN_MEMORY = 6 * 1024**2  # the engine refuses less


def a_memory(value: str, where: str) -> str:
    try:
        size = parse_size(value)
    except ValueError:
        raise errors.ConfigError(f"{where} must be a size like 512m or 2g, not {value!r}") from None
    if size < _MIN_MEMORY:
        raise errors.ConfigError(f"{where} must be at least 6m (Docker's minimum), not {value!r}")
    return value


THINKING = ("adaptive", "off")
EFFORTS = ("low", "medium", "high", "xhigh", "max")  # the SDK's OutputConfigParam.effort
CHECKS = {
    "workspace": existing_dir,
    "base_url": a_url,
    "max_output": a_size,
    "copy_limit": a_size,
    "memory": a_memory,
    "thinking": one_of(*THINKING),
    "effort": one_of(*EFFORTS),
    "compact_threshold": a_share,
    "context_window": a_window,
}


def parse(kind: type, value: Any, from_text: bool) -> Any:
    """`value` as `kind`: text from the environment is parsed, nothing else is coerced."""
    if from_text and isinstance(value, str) and kind is not str:
        return parse_text(kind, value.strip())
    if isinstance(value, bool) != (kind is bool) or not isinstance(value, _NATIVE[kind]):
        raise TypeError(value)
    return kind(value)


def parse_text(kind: type, text: str) -> Any:
    if kind is bool:
        if text.lower() not in _BOOLEANS:
            raise ValueError(text)
        return _BOOLEANS[text.lower()]
    return kind(text)


_NATIVE: dict[type, tuple[type, ...]] = {
    str: (str,), int: (int,), float: (int, float), bool: (bool,)
}  # fmt: skip
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
KIND_WORDS = {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}


def mcp_sources(value: Any, source: str, where: str) -> tuple[str, ...]:
    """MCP config files, as absolute paths. In the config file, a relative path is the
    project's (the git work tree you stand in) and may be missing there; a table is the
    servers themselves."""
    kind, _, file = source.partition(" ")
    if kind == "file" and isinstance(value, dict):
        return (file + mcp_config.INLINE,)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise errors.ConfigError(f"{where} must be a path, a list of paths or a table")
    base = mcp_config.project_root() if kind == "file" else Path.cwd()
    found = tuple(mcp_config.source_for(v, base) for v in value)
    for given, path in zip(value, found, strict=True):
        if kind != "file" and not Path(path).is_file():
            raise errors.ConfigError(f"{where} {given}: no such file")
    return found


def permission_rules(value: Any, source: str) -> tuple[str, ...]:
    """Permission rules: the file's [permissions] table, or rule strings made from flags."""
    kind, _, file = source.partition(" ")
    if kind != "file":
        return tuple(str(permissions.parse_rule(rule)) for rule in value)
    where = f"{file}: permissions"
    if not isinstance(value, dict) or set(value) - set(permissions.DECISIONS):
        raise errors.ConfigError(f"{where} must be a table of allow, ask and deny lists")
    for decision, patterns in value.items():
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise errors.ConfigError(f"{where}.{decision} must be a list of tool names or globs")
    return permissions.layer(**value, where=where + ".{}")
