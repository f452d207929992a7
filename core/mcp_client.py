"""Connections to MCP servers, through the official `mcp` SDK.

The SDK is asynchronous and the harness is not, so the connections live on one
event loop in a background thread, started with the first server. The harness
calls `list_tools` and `call`, which wait until the loop answers. A server
starts on the first call that needs it; one that dies, hangs past the timeout
or breaks the protocol is stopped, the call gets an `MCPServerError` (which
the caller turns into an error result), and the next call starts it afresh.

`mcp` takes half a second to import, so it is imported only here, and only when
a server starts: commands and runs that use no MCP server never pay for it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
from collections.abc import Coroutine, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, TypeVar

from . import errors
from .mcp_config import HttpServer, ServerConfig, StdioServer, launch_command

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 8.0  # the SDK gives a stdio server 2 s after EOF, then 2 s after SIGTERM
MAX_TOOL_PAGES = 100
_T = TypeVar("_T")


@dataclass(frozen=True, kw_only=True)
class MCPTool:
    """A tool as its server lists it."""

    name: str
    description: str
    input_schema: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class MCPResult:
    """What a call returned: MCP content blocks (as JSON objects) and whether it failed."""

    content: tuple[Mapping[str, Any], ...]
    is_error: bool = False
    structured: Mapping[str, Any] | None = None


class MCPClients:
    """The configured servers, each started when first needed; use as a context manager."""

    def __init__(
        self,
        servers: Mapping[str, ServerConfig],
        *,
        timeout_s: float = 120.0,
        stderr_dir: Path | None = None,
    ) -> None:
        self.servers = dict(servers)
        self.timeout_s = timeout_s
        self.stderr_dir = stderr_dir  # each stdio server's stderr goes to NAME.log here
        self._thread: _LoopThread | None = None
        self._connections: dict[str, _Connection] = {}  # touched only on the loop

    def __enter__(self) -> MCPClients:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def list_tools(self, name: str) -> tuple[MCPTool, ...]:
        """The server's tools, every page of them; starts the server if it is not running."""
        return self._run(self._list_tools(name))

    def list_all(self, names: Sequence[str]) -> dict[str, tuple[MCPTool, ...] | Exception]:
        """`list_tools` for several servers at once; a failure is returned, not raised."""
        return self._run(self._list_all(names))

    def call(self, name: str, tool: str, arguments: Mapping[str, Any]) -> MCPResult:
        """Call one tool; raises MCPServerError (MCPTimeout past the timeout)."""
        return self._run(self._call(name, tool, dict(arguments)))

    def running(self) -> list[str]:
        """The servers started and not stopped since."""
        return [name for name, c in self._connections.items() if c.alive()]

    def close(self) -> None:
        """Stop every server that was started, waiting a bounded time for each."""
        if self._thread is None:
            return
        thread, self._thread = self._thread, None
        try:
            thread.run(self._close_all(), CLOSE_TIMEOUT_S + 2)
        except (TimeoutError, errors.MCPServerError):
            log.warning("MCP servers did not stop in time")
        finally:
            thread.stop()

    # -- on the loop -----------------------------------------------------------

    def _run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        if self._thread is None:
            _quiet_sdk_logs()
            self._thread = _LoopThread()
        # The loop enforces the timeouts; this outer one only guards against a stuck loop.
        return self._thread.run(coroutine, self.timeout_s * 2 + CLOSE_TIMEOUT_S)

    async def _connection(self, name: str) -> _Connection:
        connection = self._connections.get(name)
        if connection is not None and connection.alive():
            return connection
        if name not in self.servers:
            raise errors.MCPServerError(f"MCP server {name!r} is not configured")
        connection = _Connection(self.servers[name], self.timeout_s, self.stderr_dir)
        self._connections[name] = connection
        await connection.open()
        return connection

    async def _list_tools(self, name: str) -> tuple[MCPTool, ...]:
        connection = await self._connection(name)
        return await connection.guarded(_all_tools(connection.client), "list its tools")

    async def _list_all(self, names: Sequence[str]) -> dict[str, Any]:
        found = await asyncio.gather(*(self._list_tools(n) for n in names), return_exceptions=True)
        for result in found:
            if isinstance(result, BaseException) and not isinstance(result, Exception):
                raise result  # a cancellation, not a server's failure
        return dict(zip(names, found, strict=True))

    async def _call(self, name: str, tool: str, arguments: dict[str, Any]) -> MCPResult:
        from mcp import MCPError

        connection = await self._connection(name)
        try:
            result = await connection.guarded(
                connection.client.call_tool(tool, arguments), f"answer a call of {tool}"
            )
        except errors.MCPServerError as exc:
            if not isinstance(exc.__cause__, MCPError) or not connection.alive():
                raise
            # The server answered with a protocol error (an unknown tool, bad arguments): it
            # is fine, and the model reads the error.
            return MCPResult(content=({"type": "text", "text": str(exc)},), is_error=True)
        return _result(result)

    async def _close_all(self) -> None:
        connections, self._connections = self._connections, {}
        await asyncio.gather(*(c.close() for c in connections.values()), return_exceptions=True)


class _Connection:
    """One server: the task that holds the SDK's client open, and how to stop it."""

    def __init__(self, server: ServerConfig, timeout_s: float, stderr_dir: Path | None) -> None:
        self.server = server
        self.timeout_s = timeout_s
        self.stderr_path = stderr_dir / f"{server.name}.log" if stderr_dir else None
        self.client: Any = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def alive(self) -> bool:
        return self._task is not None and not self._task.done() and self.client is not None

    async def open(self) -> None:
        ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._hold(ready))
        try:
            self.client = await asyncio.wait_for(asyncio.shield(ready), self.timeout_s)
        except TimeoutError:
            await self.close()
            raise self._failure(
                f"did not start within {self.timeout_s:g} s", timeout=True
            ) from None
        except Exception as exc:
            await self.close()
            raise self._failure(f"did not start: {_reason(exc)}") from exc

    async def guarded(self, work: Coroutine[Any, Any, _T], what: str) -> _T:
        """`work`, bounded by the timeout; a server that fails it is stopped."""
        from mcp import MCPError
        from mcp_types import CONNECTION_CLOSED

        try:
            return await asyncio.wait_for(work, self.timeout_s)
        except TimeoutError:
            await self.close()
            message = f"did not {what} within {self.timeout_s:g} s, and was stopped"
            raise self._failure(message, timeout=True) from None
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED or not self.alive():
                await self.close()
                raise self._failure(f"exited before it could {what}") from exc
            raise errors.MCPServerError(f"MCP error: {exc}") from exc
        except Exception as exc:
            await self.close()
            raise self._failure(f"failed to {what}: {_reason(exc)}") from exc

    async def close(self) -> None:
        self._stop.set()
        task, self._task = self._task, None
        self.client = None
        if task is None or task.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), CLOSE_TIMEOUT_S)
        except TimeoutError:
            task.cancel()

    async def _hold(self, ready: asyncio.Future[Any]) -> None:
        try:
            async with AsyncExitStack() as stack:
                client = await stack.enter_async_context(await self._client(stack))
                ready.set_result(client)
                await self._stop.wait()
        except BaseException as exc:  # noqa: B036 - handed to whoever waits on `ready`
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else RuntimeError(exc))
            elif not isinstance(exc, asyncio.CancelledError):
                log.debug("MCP server %s went away: %r", self.server.name, exc)

    async def _client(self, stack: AsyncExitStack) -> Any:
        from mcp import Client

        if isinstance(self.server, HttpServer):
            from mcp.client.streamable_http import streamable_http_client
            from mcp.shared._httpx_utils import create_mcp_http_client

            http = create_mcp_http_client(headers=dict(self.server.headers))
            await stack.enter_async_context(http)
            transport = streamable_http_client(self.server.url, http_client=http)
        else:
            transport = self._stdio_transport(self.server, stack)
        return Client(transport, read_timeout_seconds=self.timeout_s)

    def _stdio_transport(self, server: StdioServer, stack: AsyncExitStack) -> Any:
        from mcp.client.stdio import DEFAULT_INHERITED_ENV_VARS, StdioServerParameters, stdio_client

        command, args, env = launch_command(server, os.environ, DEFAULT_INHERITED_ENV_VARS)
        params = StdioServerParameters(command=command, args=args, env=env, cwd=server.cwd)
        return stdio_client(params, errlog=stack.enter_context(self._stderr()))

    def _stderr(self) -> TextIO:
        if self.stderr_path is None:
            return open(os.devnull, "w")  # noqa: SIM115 - closed by the exit stack
        fd = os.open(self.stderr_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return open(fd, "w", encoding="utf-8", errors="replace")  # noqa: SIM115

    def _failure(self, problem: str, timeout: bool = False) -> errors.MCPServerError:
        message = f"MCP server {self.server.name!r} {problem}"
        last = _last_line(self.stderr_path)
        if last:
            message += f" (its stderr ends: {last})"
        return errors.MCPTimeout(message) if timeout else errors.MCPServerError(message)


class _LoopThread:
    """An asyncio event loop running in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="mcp", daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, _T], timeout_s: float) -> _T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            concurrent.futures.wait([future], timeout_s)
        except BaseException:
            future.cancel()  # an interrupt in the harness: the loop drops the work
            raise
        if not future.done():
            future.cancel()
            raise errors.MCPTimeout("the MCP client did not answer; its event loop is stuck")
        return future.result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(2)


async def _all_tools(client: Any) -> tuple[MCPTool, ...]:
    tools: list[MCPTool] = []
    cursor = None
    for _ in range(MAX_TOOL_PAGES):
        page = await client.list_tools(cursor=cursor)
        tools += [_tool(t) for t in page.tools]
        cursor = page.next_cursor
        if cursor is None:
            break
    return tuple(tools)


def _tool(tool: Any) -> MCPTool:
    schema = tool.input_schema if isinstance(tool.input_schema, dict) else {}
    description = tool.description or tool.title or ""
    return MCPTool(name=tool.name, description=description, input_schema=schema)


def _result(result: Any) -> MCPResult:
    content = tuple(
        block.model_dump(mode="json", by_alias=True, exclude_none=True) for block in result.content
    )
    structured = result.structured_content if isinstance(result.structured_content, dict) else None
    return MCPResult(content=content, is_error=bool(result.is_error), structured=structured)


def _reason(exc: BaseException) -> str:
    """One line for an exception, looking inside the task groups that wrap them."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if str(exc) == "Connection closed":
        return "it exited, or closed the connection, before it answered"
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _last_line(path: Path | None) -> str:
    if path is None:
        return ""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 2048))
            lines = [line for line in f.read().decode(errors="replace").splitlines() if line]
    except OSError:
        return ""
    return lines[-1].strip()[:300] if lines else ""


def _quiet_sdk_logs() -> None:
    """The SDK and its HTTP client log protocol noise (with tracebacks) that a person
    should not see: it goes where tether's own debug detail goes (shown with -v)."""
    ours = logging.getLogger("tether")
    for name in ("mcp", "httpx2", "httpcore2", "asyncio"):
        logger = logging.getLogger(name)
        logger.handlers[:] = ours.handlers
        logger.setLevel(logging.DEBUG if ours.level == logging.DEBUG else logging.CRITICAL + 1)
        logger.propagate = False
