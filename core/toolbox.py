"""Every tool the model can call, behind one face: the sandbox's built-in tools
(through `Hands`) and the MCP servers' tools (through `MCPClients`).

The harness asks the toolbox for the tool definitions a request carries, for the
event that records a call (with what the permission policy says of it), for
running a call, and for an error result; it never learns where a tool runs.

An MCP server's tool list is taken from the log when the session has one
(`mcp.tools_listed`), so a resume starts no server until a call needs it; a
server not listed yet is started, listed and recorded before the first request
that carries the definitions.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from . import errors, paths
from . import events as ev
from .approvals import Call
from .hands import Hands
from .mcp_client import MCPClients, MCPTool
from .mcp_tools import Bounded, Route, result_blocks, routes
from .model import ToolUseBlock
from .permissions import ALLOW, Policy
from .request import cached_tools
from .sandbox.tools import TOOL_SPECS

MCP_DIR = "mcp"  # beside the log: each server's stderr, and outputs too long for the model
CONNECTION_FAILED = "mcp_connection_failed_error"
UNAVAILABLE = "The run goes on without its tools; the next run or resume tries again."


class Toolbox:
    """The tools of one wake of a session."""

    def __init__(
        self,
        settings: ev.SessionCreated,
        hands: Hands,
        mcp: MCPClients,
        record: Callable[[ev.Event], None],
        session_dir: Path,
    ) -> None:
        self.hands = hands
        self.mcp = mcp
        self.record = record
        self.dir = session_dir / MCP_DIR
        self.policy = Policy.from_strings(settings.permissions)
        self._builtin = [spec.to_api() for spec in TOOL_SPECS if spec.name in settings.tools]
        self._builtin_names = {tool["name"] for tool in self._builtin}
        self._listed: dict[str, tuple[Mapping[str, Any], ...]] = {}
        self._routes: dict[str, Route] = {}
        self._definitions: tuple[Mapping[str, Any], ...] | None = None

    def load(self, events: Iterable[ev.Event]) -> None:
        """Take the tool lists the log holds (the latest of each server)."""
        for event in events:
            if isinstance(event, ev.MCPToolsListed):
                self._listed[event.mcp_server_name] = event.tools

    def definitions(self) -> tuple[Mapping[str, Any], ...]:
        """The tools every request carries: made once a wake, so the prompt cache holds."""
        if self._definitions is None:
            self._list_missing()
            listed = [
                (name, self._listed[name]) for name in self.mcp.servers if name in self._listed
            ]
            self._routes = routes(listed)
            mcp_tools = [route.definition() for route in self._routes.values()]
            self._definitions = tuple(cached_tools([*self._builtin, *mcp_tools]))
        return self._definitions

    def use_event(self, block: ToolUseBlock) -> ev.AgentToolUse | ev.AgentMCPToolUse:
        """The event that records a call the model made, with the policy's answer."""
        permission = self.policy.decide(block.name).decision
        route = self._routes.get(block.name)
        if route is None and block.name not in self._builtin_names:
            permission = ALLOW  # no such tool: it cannot do anything, so nobody is asked
        if route is None:
            return ev.AgentToolUse(
                tool_use_id=block.id, name=block.name, input=dict(block.input),
                evaluated_permission=permission,
            )  # fmt: skip
        return ev.AgentMCPToolUse(
            tool_use_id=block.id, name=route.tool, mcp_server_name=route.server,
            input=dict(block.input), api_name=block.name, evaluated_permission=permission,
        )  # fmt: skip

    def run(self, call: Call) -> ev.Event:
        """Run one call: its result event (a failure is an error result, never a raise)."""
        if call.server is None:
            return self.hands.run(call.tool_use_id, call.name, call.input)
        started = time.monotonic()
        try:
            result = self.mcp.call(call.server, call.tool, call.input)
        except errors.MCPServerError as exc:
            return self.error_result(call, str(exc), _ms_since(started))
        bounded = result_blocks(result.content, result.structured)
        self._keep(call.tool_use_id, bounded)
        return ev.AgentMCPToolResult(
            mcp_tool_use_id=call.tool_use_id, content=bounded.blocks, is_error=result.is_error,
            duration_ms=_ms_since(started), truncated=bounded.truncated,
        )  # fmt: skip

    def error_result(self, call: Call, message: str, duration_ms: int = 0) -> ev.Event:
        """An error result of the right kind for `call` (a denial, an interruption, ...)."""
        if call.server is None:
            return ev.AgentToolResult(
                tool_use_id=call.tool_use_id, content=message, is_error=True,
                duration_ms=duration_ms,
            )  # fmt: skip
        return ev.AgentMCPToolResult(
            mcp_tool_use_id=call.tool_use_id, content=({"type": "text", "text": message},),
            is_error=True, duration_ms=duration_ms,
        )  # fmt: skip

    def release(self, reason: str | None) -> None:
        """Remove the sandbox container and stop the MCP servers."""
        try:
            self.hands.release(reason)
        finally:
            self.mcp.close()

    def _list_missing(self) -> None:
        missing = [name for name in self.mcp.servers if name not in self._listed]
        if not missing:
            return
        started = time.monotonic()
        for name, found in self.mcp.list_all(missing).items():
            if isinstance(found, Exception):
                self.record(_unavailable(name, found))
                continue
            self._listed[name] = tuple(_listed(tool) for tool in found)
            self.record(
                ev.MCPToolsListed(
                    mcp_server_name=name, tools=self._listed[name], duration_ms=_ms_since(started)
                )
            )

    def _keep(self, use_id: str, bounded: Bounded) -> None:
        """The whole of an output cut for the model, beside the log, for a person."""
        if bounded.full_text is None:
            return
        paths.ensure_private_dir(self.dir)
        fd = os.open(self.dir / f"{use_id}.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "w", encoding="utf-8") as f:
            f.write(bounded.full_text)


def stderr_dir(session_dir: Path) -> Path:
    """Where the servers of a session write their stderr."""
    return session_dir / MCP_DIR


def _listed(tool: MCPTool) -> dict[str, Any]:
    return {"name": tool.name, "description": tool.description, "input_schema": tool.input_schema}


def _unavailable(name: str, problem: Exception) -> ev.SessionError:
    return ev.SessionError(
        error_type=CONNECTION_FAILED, message=f"{problem}. {UNAVAILABLE}", retry_status="retrying",
        mcp_server_name=name,
    )  # fmt: skip


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
