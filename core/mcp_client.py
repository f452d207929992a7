"""Connections to MCP servers, through the official `mcp` SDK.

The SDK is asynchronous and the harness is not, so the connections live on one
event loop in a background thread, started with the first server. The harness
calls `list_tools` and `call`, which wait until the loop answers. A server
starts on the first call that needs it; one that dies, hangs past the timeout
or breaks the protocol is stopped, the call gets an `MCPServerError` (which
the caller turns into an error result), and the next call starts it afresh.

`mcp` takes half a second to import, so it is imported only when a server starts
(in mcp_connection.py): commands and runs that use no MCP server never pay for it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from . import errors
from .mcp_config import ServerConfig
from .mcp_connection import CLOSE_TIMEOUT_S, Connection, MCPResult, MCPTool

__all__ = ["MCPClients", "MCPResult", "MCPTool"]

log = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0  # a server may always take this long to start (npx may download it)
_T = TypeVar("_T")


class MCPClients:
    """The configured servers, each started when first needed; use as a context manager."""

    def __init__(
        self,
        servers: Mapping[str, ServerConfig],
        *,
        timeout_s: float = 120.0,
        stderr_dir: Path | None = None,
        start_timeout_s: float | None = None,
    ) -> None:
        self.servers = dict(servers)
        self.timeout_s = timeout_s  # for each request: listing tools, or a call
        self.start_timeout_s = start_timeout_s or max(timeout_s, START_TIMEOUT_S)
        self.stderr_dir = stderr_dir  # each stdio server's stderr goes to NAME.log here
        self._thread: _LoopThread | None = None
        self._connections: dict[str, Connection] = {}  # touched only on the loop
        self._listing: dict[str, asyncio.Future[tuple[MCPTool, ...]]] = {}  # by `prefetch`

    def __enter__(self) -> MCPClients:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def list_tools(self, name: str) -> tuple[MCPTool, ...]:
        """The server's tools, every page of them; starts the server if it is not running."""
        return self._run(self._list_tools(name))

    def list_all(self, names: Sequence[str]) -> dict[str, tuple[MCPTool, ...] | Exception]:
        """`list_tools` for several servers at once; a failure is returned, not raised.
        Servers `prefetch` started listing are waited for, not asked again."""
        return self._run(self._list_all(names))

    def prefetch(self, names: Sequence[str]) -> None:
        """Start the servers and their listing now, without waiting: the SDK's import and
        the servers' start then overlap whatever the caller does next."""
        if names:
            self._submit(self._prefetch(list(names)))

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
        # The loop enforces the timeouts; this outer one only guards against a stuck loop.
        bound = self.start_timeout_s + self.timeout_s + CLOSE_TIMEOUT_S
        return self._loop().run(coroutine, bound)

    def _submit(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop().loop)

    def _loop(self) -> _LoopThread:
        if self._thread is None:
            _quiet_sdk_logs()
            self._thread = _LoopThread()
        return self._thread

    async def _connection(self, name: str) -> Connection:
        connection = self._connections.get(name)
        if connection is not None and connection.alive():
            return connection
        if name not in self.servers:
            raise errors.MCPServerError(f"MCP server {name!r} is not configured")
        connection = Connection(
            self.servers[name], self.timeout_s, self.start_timeout_s, self.stderr_dir
        )
        self._connections[name] = connection
        await connection.open()
        return connection

    async def _list_tools(self, name: str) -> tuple[MCPTool, ...]:
        connection = await self._connection(name)
        return await connection.list_tools()

    async def _prefetch(self, names: list[str]) -> None:
        for name in names:
            self._listing.setdefault(name, asyncio.ensure_future(self._list_tools(name)))

    async def _list_all(self, names: Sequence[str]) -> dict[str, Any]:
        listings = [
            self._listing.pop(n) if n in self._listing else self._list_tools(n) for n in names
        ]
        found = await asyncio.gather(*listings, return_exceptions=True)
        for result in found:
            if isinstance(result, BaseException) and not isinstance(result, Exception):
                raise result  # a cancellation, not a server's failure
        return dict(zip(names, found, strict=True))

    async def _call(self, name: str, tool: str, arguments: dict[str, Any]) -> MCPResult:
        connection = await self._connection(name)
        return await connection.call(tool, arguments)

    async def _close_all(self) -> None:
        for listing in self._listing.values():
            listing.cancel()
        connections, self._connections = self._connections, {}
        await asyncio.gather(*(c.close() for c in connections.values()), return_exceptions=True)


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


def _quiet_sdk_logs() -> None:
    """The SDK and its HTTP client log protocol noise (with tracebacks) that a person
    should not see: it goes where tether's own debug detail goes (shown with -v)."""
    ours = logging.getLogger("tether")
    for name in ("mcp", "httpx2", "httpcore2", "asyncio"):
        logger = logging.getLogger(name)
        logger.handlers[:] = ours.handlers
        logger.setLevel(logging.DEBUG if ours.level == logging.DEBUG else logging.CRITICAL + 1)
        logger.propagate = False
