"""`tether doctor`'s checks of the machine: config, Docker engine, image, API key,
data dir. Each returns a `Check` with a remedy when something is wrong, and
none of them raises: a broken machine is the input this module exists for.

The Docker SDK is imported only here, inside the functions that talk to the
engine, so that importing this module stays cheap.
"""

from __future__ import annotations

import os
import shlex
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import config, errors, mcp_config, paths
from .mcp_client import MCPClients, MCPTool
from .mcp_config import HttpServer

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
ENGINE_TIMEOUT_S = 15.0  # an engine over ssh (a handshake, then dial-stdio) can take seconds
MCP_TIMEOUT_S = 30.0  # doctor waits no longer than this for a server to list its tools
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"  # the SDK's default on Linux and macOS


@dataclass(frozen=True)
class Check:
    """One line of the report. `status` is ok, warn (works, could be better),
    fail (something will not work) or skip (could not be checked)."""

    name: str
    status: str
    detail: str
    remedy: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_config() -> tuple[Check, config.Settings | None]:
    """The config file and TETHER_* variables parse; returns the settings too."""
    path = paths.config_file()
    try:
        settings = config.resolve().settings
    except errors.ConfigError as exc:
        remedy = f"fix or remove {path}, or the TETHER_* variable it names"
        return Check("config", FAIL, str(exc), remedy), None
    where = str(path) if path.exists() else f"no file at {path}; defaults apply"
    return Check("config", OK, where), settings


def connect_engine() -> tuple[Check, Any]:
    """Whether the Docker engine answers, with its version; returns the client too."""
    import docker

    host = os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
    try:
        client = docker.from_env(timeout=ENGINE_TIMEOUT_S)
        version = client.version()
    except Exception as exc:  # any failure here means the same thing: no usable engine
        from .sandbox.engine import root_cause

        problem = f"no answer at {host}: {root_cause(exc)}"
        return Check("docker engine", FAIL, problem, _engine_remedy(exc)), None
    detail = f"{engine_name(version)} (API {version.get('ApiVersion', '?')})"
    return Check("docker engine", OK, f"{detail} over {transport(host)} at {host}"), client


def engine_name(version: dict[str, Any]) -> str:
    """`Docker 27.3.1` or `Podman 4.3.1`: what answers behind the Docker API."""
    platform = str((version.get("Platform") or {}).get("Name", ""))
    components = [str(c.get("Name", "")) for c in version.get("Components") or []]
    kind = "Podman" if any("podman" in n.lower() for n in [platform, *components]) else "Docker"
    return f"{kind} {version.get('Version', '?')}"


def transport(host: str) -> str:
    """How the engine is reached, from DOCKER_HOST's scheme."""
    scheme = host.split("://", 1)[0] if "://" in host else "unix"
    if scheme == "tcp" and os.environ.get("DOCKER_TLS_VERIFY"):
        return "tcp with TLS"
    return _TRANSPORTS.get(scheme, scheme)


_TRANSPORTS = {"unix": "a unix socket", "npipe": "a named pipe", "ssh": "ssh", "tcp": "tcp",
               "http": "tcp", "https": "tcp with TLS"}  # fmt: skip


def _engine_remedy(exc: Exception) -> str:
    if "permission denied" in str(exc).lower():
        return "add yourself to the docker group (sudo usermod -aG docker $USER), then log in again"
    if os.environ.get("DOCKER_HOST"):
        return "start the engine DOCKER_HOST names, or unset DOCKER_HOST to use the local one"
    return "start Docker (sudo systemctl start docker, or open Docker Desktop), or set DOCKER_HOST"


def check_image(client: Any, image: str | None) -> Check:
    """The sandbox image is present locally, or its registry knows it (nothing is pulled)."""
    if image is None:
        return Check("image", SKIP, "not checked: the config could not be read")
    if client is None:
        return Check("image", SKIP, f"{image} not checked: the engine does not answer")
    import docker

    try:
        found = client.images.get(image)
    except docker.errors.ImageNotFound:
        return _check_registry(client, image)
    except Exception as exc:
        return Check("image", FAIL, f"{image}: {_short(exc)}", "check the engine (see above)")
    size_mb = (found.attrs.get("Size") or 0) / 1e6
    return Check("image", OK, f"{image} is present locally ({found.short_id}, {size_mb:.0f} MB)")


def _check_registry(client: Any, image: str) -> Check:
    """Ask the engine to ask the registry about `image`: one small request, no layers."""
    try:
        client.images.get_registry_data(image)
    except Exception as exc:
        from .sandbox.images import advice, local_images

        problem, remedy = _registry_problem(exc, image)
        remedy = f"{remedy}; or {advice(local_images(client.api))}"
        return Check("image", FAIL, f"{image} is not present locally, and {problem}", remedy)
    return Check("image", OK, f"{image} is not present locally; will be pulled on first use")


def _registry_problem(exc: Exception, image: str) -> tuple[str, str]:
    text = str(getattr(exc, "explanation", None) or exc)
    status = getattr(exc, "status_code", None)
    if status in (401, 403, 404) or any(
        word in text.lower() for word in ("not found", "denied", "unauthorized", "manifest unknown")
    ):
        return (
            f"its registry does not have it ({_short(text)})",
            "check the name (`tether config` shows where `image` comes from), "
            "or `docker login` to its registry",
        )
    if "timeout" in type(exc).__name__.lower() or "timed out" in text.lower():
        text = f"no answer within {ENGINE_TIMEOUT_S:.0f} s"
    return (
        f"its registry could not be reached ({_short(text)})",
        f"connect to the network and run `docker pull {image}`, `docker load` it, "
        "or set `image` to one that is present",
    )


def check_api_key() -> Check:
    """Whether ANTHROPIC_API_KEY is set. Never says anything about its value."""
    if os.environ.get("ANTHROPIC_API_KEY", "").strip():
        return Check("api key", OK, "ANTHROPIC_API_KEY is set")
    return Check(
        "api key",
        FAIL,
        "ANTHROPIC_API_KEY is not set",
        "export ANTHROPIC_API_KEY=... (a key from console.anthropic.com)",
    )


def check_data_dir() -> Check:
    """The data dir (or, before the first session, its nearest existing parent) takes a file."""
    try:
        directory = paths.data_dir()
    except errors.HomeMissing as exc:
        return Check("data dir", FAIL, str(exc), "point TETHER_HOME at a directory, or unset it")
    existing = _nearest_existing(directory)
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".tether-doctor-"):
            pass
    except OSError as exc:
        remedy = "make it writable (chmod u+w), or set TETHER_HOME to a writable directory"
        return Check("data dir", FAIL, f"{existing} is not writable ({exc.strerror})", remedy)
    if existing == directory:
        return Check("data dir", OK, f"{directory} is writable")
    return Check("data dir", OK, f"{directory} will be created on first use")


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _short(error: object, limit: int = 160) -> str:
    """One line of an error message, cut to a length a terminal row can hold."""
    lines = str(error).strip().splitlines() or [type(error).__name__]
    line = lines[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"


def machine_checks() -> list[Check]:
    """Every check of this module, in the order a person fixes them."""
    config_check, settings = check_config()
    engine_check, client = connect_engine()
    try:
        image_check = check_image(client, settings.image if settings else None)
    finally:
        if client is not None:
            client.close()
    checks = [config_check, engine_check, image_check, check_api_key(), check_data_dir()]
    return checks + (check_mcp_servers(settings) if settings else [])


def check_mcp_servers(settings: config.Settings) -> list[Check]:
    """Each configured MCP server started, its tools listed, and stopped again."""
    try:
        servers = mcp_config.load(settings.mcp_config, missing_ok=True)
    except errors.ConfigError as exc:
        remedy = "fix the file it names, or export the variable it says is not set"
        return [Check("mcp config", FAIL, str(exc), remedy)]
    if not servers:
        return []
    timeout_s = min(settings.mcp_timeout_s, MCP_TIMEOUT_S)
    with tempfile.TemporaryDirectory(prefix="tether-doctor-") as stderr_dir:  # their last words
        clients = MCPClients(servers, timeout_s=timeout_s, stderr_dir=Path(stderr_dir))
        with clients:
            found = clients.list_all(list(servers))
    return [_mcp_check(servers[name], listed) for name, listed in found.items()]


def _mcp_check(server: mcp_config.ServerConfig, listed: tuple[MCPTool, ...] | Exception) -> Check:
    name = f"mcp {server.name}"
    if isinstance(listed, Exception):
        remedy = f"check mcpServers.{server.name} in {server.source}"
        if isinstance(server, HttpServer):
            remedy += f", and that a server answers at {server.url}"
        else:
            remedy += f", or run it by hand: {shlex.join([server.command, *server.args])}"
        return Check(name, FAIL, _short(listed, 300), remedy)
    names = ", ".join(tool.name for tool in listed)
    return Check(name, OK, f"{len(listed)} tools: {names}" if listed else "no tools")
