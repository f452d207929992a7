"""MCP servers as the user configured them, in Claude Code's `.mcp.json` shape:

    {"mcpServers": {"NAME": {"command": "...", "args": [...], "env": {...}},
                    "NAME": {"type": "http", "url": "...", "headers": {...}}}}

read from JSON files, or from the config file's own `mcp_config` table (a source
written `FILE#mcp_config`). Strings may say `${VAR}` or `${VAR:-default}`, expanded
from the environment when a run starts, so secrets can stay out of the files.

Nothing here starts a server: this module only reads, checks and describes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import errors

INLINE = "#mcp_config"  # a source naming the config file's own table, not a JSON file
API_KEY_VARIABLE = "ANTHROPIC_API_KEY"
MINIMAL_PATH = ("/usr/local/bin", "/usr/bin", "/bin")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_STDIO_KEYS = frozenset({"type", "command", "args", "env", "cwd"})
_HTTP_KEYS = frozenset({"type", "url", "headers"})


@dataclass(frozen=True, kw_only=True)
class StdioServer:
    """A server tether starts as a child process and talks to over its stdin and stdout."""

    name: str
    command: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    """Only these variables (and a minimal PATH and HOME) reach the server."""
    cwd: str | None = None
    source: str = ""


@dataclass(frozen=True, kw_only=True)
class HttpServer:
    """A server reached over MCP's streamable HTTP transport."""

    name: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    source: str = ""


ServerConfig = StdioServer | HttpServer


def load(
    sources: Sequence[str],
    environ: Mapping[str, str] | None = None,
    *,
    expand: bool = True,
    missing_ok: bool = False,
) -> dict[str, ServerConfig]:
    """The servers the sources define; a later source's server replaces a same-named one.

    `expand=False` keeps `${VAR}` as written (for showing the config). A source
    whose file is gone is skipped when `missing_ok`, and an error otherwise.
    """
    environ = os.environ if environ is None else environ
    servers: dict[str, ServerConfig] = {}
    for source in sources:
        data = _read_source(source, missing_ok)
        if data is not None:
            servers.update(parse(data, source, environ, expand=expand))
    return servers


def parse(
    data: Any, source: str, environ: Mapping[str, str], *, expand: bool = True
) -> dict[str, ServerConfig]:
    """Check one document of the `.mcp.json` shape; errors name the source and the key."""
    if not isinstance(data, Mapping):
        raise errors.ConfigError(f"{source}: must be an object with an 'mcpServers' object")
    unknown = set(data) - {"mcpServers"}
    if unknown:
        raise errors.ConfigError(f"{source}: unknown key {sorted(unknown)[0]!r} (want mcpServers)")
    entries = data.get("mcpServers", {})
    if not isinstance(entries, Mapping):
        raise errors.ConfigError(f"{source}: mcpServers must be an object")
    expander = _Expander(environ) if expand else None
    return {name: _server(name, entry, source, expander) for name, entry in entries.items()}


def describe(server: ServerConfig) -> dict[str, Any]:
    """The server for a person or a program to read: the values of its variables and
    headers are left out, since they are where secrets live."""
    if isinstance(server, HttpServer):
        return {"type": "http", "url": server.url, "headers": sorted(server.headers)}
    return {
        "type": "stdio",
        "command": server.command,
        "args": list(server.args),
        "env": sorted(server.env),
    }


def launch_command(
    server: StdioServer, environ: Mapping[str, str], inherited: Sequence[str]
) -> tuple[str, list[str], dict[str, str]]:
    """(command, args, env) that start `server` with only the environment it names.

    The MCP SDK adds the variables named in `inherited` (its defaults) to whatever
    env it is given, so the server is started through `env -u NAME ...`, which
    drops them again by name: no value ever appears on a command line.
    """
    program = _resolve_program(server, environ)
    env = {"PATH": _minimal_path(program), "HOME": environ.get("HOME", "/")}
    env.update(server.env)
    env.pop(API_KEY_VARIABLE, None)
    dropped = [name for name in inherited if name not in env]
    unset = [arg for name in dropped for arg in ("-u", name)]
    return shutil.which("env") or "/usr/bin/env", [*unset, "--", program, *server.args], env


def source_for(value: str, base: Path) -> str:
    """A JSON file named in a flag or a config file, as an absolute path."""
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def project_root(start: Path | None = None) -> Path:
    """The root of the git work tree around `start` (the current directory), or `start`."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / ".git").exists():
            return directory
    return here


# -- reading ------------------------------------------------------------------------


def _read_source(source: str, missing_ok: bool) -> Any:
    inline = source.endswith(INLINE)
    path = Path(source.removesuffix(INLINE))
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if missing_ok:
            return None
        raise errors.ConfigError(f"{path}: no such MCP config file") from None
    except OSError as exc:
        raise errors.ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    if inline:
        return _inline_table(path, raw)
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.ConfigError(f"{path}: not valid JSON ({exc})") from None


def _inline_table(path: Path, raw: bytes) -> Any:
    try:
        return tomllib.loads(raw.decode()).get("mcp_config", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise errors.ConfigError(f"{path}: not valid TOML ({exc})") from None


def _server(name: str, entry: Any, source: str, expander: _Expander | None) -> ServerConfig:
    where = f"{source}: mcpServers.{name}"
    if not name.strip():
        raise errors.ConfigError(f"{source}: a server in mcpServers has an empty name")
    if not isinstance(entry, Mapping):
        raise errors.ConfigError(f"{where} must be an object")
    kind = entry.get("type", "http" if "url" in entry and "command" not in entry else "stdio")
    if kind in ("http", "streamable-http", "streamable_http"):
        return _http(name, entry, where, source, expander)
    if kind == "stdio":
        return _stdio(name, entry, where, source, expander)
    if kind == "sse":
        message = "the legacy SSE transport is not supported; use streamable HTTP (type http)"
        raise errors.ConfigError(f"{where}.type: {message}")
    raise errors.ConfigError(f"{where}.type must be 'stdio' or 'http', not {kind!r}")


def _stdio(
    name: str, entry: Mapping[str, Any], where: str, source: str, expander: _Expander | None
) -> StdioServer:
    _no_unknown_keys(entry, _STDIO_KEYS, where)
    expand = expander.at(where) if expander else _as_is
    command = expand("command", _string(entry.get("command"), f"{where}.command"))
    args = tuple(expand("args", a) for a in _strings(entry.get("args", []), f"{where}.args"))
    env = _string_map(entry.get("env", {}), f"{where}.env")
    cwd = entry.get("cwd")
    if cwd is not None:
        cwd = expand("cwd", _string(cwd, f"{where}.cwd"))
    elif not source.endswith(INLINE):
        cwd = str(Path(source).parent)  # a project's .mcp.json runs its servers in the project
    return StdioServer(
        name=name, command=command, args=args, cwd=cwd, source=source,
        env={key: expand(f"env.{key}", value) for key, value in env.items()},
    )  # fmt: skip


def _http(
    name: str, entry: Mapping[str, Any], where: str, source: str, expander: _Expander | None
) -> HttpServer:
    _no_unknown_keys(entry, _HTTP_KEYS, where)
    expand = expander.at(where) if expander else _as_is
    url = expand("url", _string(entry.get("url"), f"{where}.url"))
    if expander and not url.startswith(("http://", "https://")):
        raise errors.ConfigError(f"{where}.url must be an http:// or https:// URL, not {url!r}")
    headers = _string_map(entry.get("headers", {}), f"{where}.headers")
    return HttpServer(
        name=name, url=url, source=source,
        headers={key: expand(f"headers.{key}", value) for key, value in headers.items()},
    )  # fmt: skip


def _no_unknown_keys(entry: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(set(entry) - known)
    if unknown:
        raise errors.ConfigError(f"{where}: unknown key {unknown[0]!r}")


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise errors.ConfigError(f"{where} must be a non-empty string")
    return value


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise errors.ConfigError(f"{where} must be a list of strings")
    return value


def _string_map(value: Any, where: str) -> Mapping[str, str]:
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise errors.ConfigError(f"{where} must be an object of strings")
    return value


def _as_is(key: str, value: str) -> str:
    return value


class _Expander:
    """`${VAR}` and `${VAR:-default}` from the environment; the API key never passes."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.api_key = environ.get(API_KEY_VARIABLE, "").strip()

    def at(self, where: str) -> Any:
        return lambda key, value: self.expand(value, f"{where}.{key}")

    def expand(self, value: str, where: str) -> str:
        def variable(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in self.environ:
                return self.environ[name]
            if default is not None:
                return default
            raise errors.ConfigError(f"{where}: ${{{name}}} is not set in the environment")

        if where.endswith(f".env.{API_KEY_VARIABLE}"):
            raise errors.ConfigError(f"{where}: tether never gives its API key to an MCP server")
        expanded = _VARIABLE.sub(variable, value)
        if self.api_key and self.api_key in expanded:
            raise errors.ConfigError(f"{where}: tether never gives its API key to an MCP server")
        return expanded


def _resolve_program(server: StdioServer, environ: Mapping[str, str]) -> str:
    """The command as an absolute path, found on the user's PATH (the server gets less)."""
    command = server.command
    if os.sep in command:
        base = server.cwd or os.getcwd()
        return os.path.abspath(os.path.join(base, command))  # symlinks kept: a venv's python
    found = shutil.which(command, path=environ.get("PATH"))
    if found is None:
        raise errors.ConfigError(
            f"{server.source}: mcpServers.{server.name}.command: {command!r} is not on PATH"
        )
    return found


def _minimal_path(program: str) -> str:
    """The program's own directory (its interpreter often lives beside it), then the system's."""
    directories = [str(Path(program).parent)]
    directories += [d for d in MINIMAL_PATH if d not in directories]
    return os.pathsep.join(directories)
