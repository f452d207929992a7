"""One MCP server's connection, on the official `mcp` SDK: the task that holds the
SDK's client open on the event loop, its start, each request bounded by a timeout,
and its stop. A server that fails a request is stopped; the error says why, with
the last line of its stderr.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Coroutine, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, TypeVar

from . import errors, paths
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


class Connection:
    """One server: the task that holds the SDK's client open, and how to stop it."""

    def __init__(
        self,
        server: ServerConfig,
        timeout_s: float,
        start_timeout_s: float,
        stderr_dir: Path | None,
    ) -> None:
        self.server = server
        self.timeout_s = timeout_s  # for each request
        self.start_timeout_s = start_timeout_s
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
            self.client = await asyncio.wait_for(asyncio.shield(ready), self.start_timeout_s)
        except TimeoutError:
            await self.close()
            raise self._failure(
                f"did not start within {self.start_timeout_s:g} s", timeout=True
            ) from None
        except Exception as exc:
            await self.close()
            raise self._failure(f"did not start: {_reason(exc)}") from exc

    async def list_tools(self) -> tuple[MCPTool, ...]:
        """Every page of the server's tools."""
        return await self.guarded(all_tools(self.client), "list its tools")

    async def call(self, tool: str, arguments: dict[str, Any]) -> MCPResult:
        """One call; a protocol error (an unknown tool, bad arguments) is an error result,
        since the server is fine and the model can read it."""
        from mcp import MCPError

        try:
            result = await self.guarded(
                self.client.call_tool(tool, arguments), f"answer a call of {tool}"
            )
        except errors.MCPServerError as exc:
            if not isinstance(exc.__cause__, MCPError) or not self.alive():
                raise
            return MCPResult(content=({"type": "text", "text": str(exc)},), is_error=True)
        return result_of(result)

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
        """Stop the server and wait for it to go: a server that never answered is cancelled
        at once (nothing would make it reach the stop), and either way the SDK's cleanup
        (EOF, SIGTERM, SIGKILL) runs to its end, so no server outlives its client."""
        self._stop.set()
        task, self._task = self._task, None
        started, self.client = self.client is not None, None
        if task is None or task.done():
            return
        if started:
            await asyncio.wait({task}, timeout=CLOSE_TIMEOUT_S)
        if not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=CLOSE_TIMEOUT_S)

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
        paths.ensure_private_dir(self.stderr_path.parent)
        fd = os.open(self.stderr_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return open(fd, "w", encoding="utf-8", errors="replace")  # noqa: SIM115

    def _failure(self, problem: str, timeout: bool = False) -> errors.MCPServerError:
        message = f"MCP server {self.server.name!r} {problem}"
        last = _last_line(self.stderr_path)
        if last:
            message += f" (its stderr ends: {last})"
        return errors.MCPTimeout(message) if timeout else errors.MCPServerError(message)


async def all_tools(client: Any) -> tuple[MCPTool, ...]:
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


def result_of(result: Any) -> MCPResult:
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
