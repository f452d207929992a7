"""The sandbox seam: what the harness may ask of the hands, and nothing more."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, kw_only=True)
class Resources:
    """What a session's sandbox gets: image, workspace, network and limits."""

    session_id: str
    image: str
    workspace: str | None = None  # host dir to bind at /workspace; None = a volume per session
    network: bool = False
    memory: str = "2g"
    cpus: float = 2.0
    pids_limit: int = 512
    max_output: int = 64 * 1024 * 1024  # bytes of one call's output kept; the rest is dropped


@dataclass(frozen=True, kw_only=True)
class Provisioned:
    """A container that is up, with its shell ready."""

    container_id: str
    image: str
    duration_ms: int


@dataclass(frozen=True, kw_only=True)
class ToolResult:
    """What a tool call gave back, ready to become an `agent.tool_result`."""

    content: str
    is_error: bool = False
    truncated: bool = False
    duration_ms: int = 0


class Sandbox(Protocol):
    """Where tools run. Cattle: a lost container is replaced by calling provision() again."""

    def check(self, resources: Resources) -> None:
        """Raise the SandboxError that provision(resources) would meet (no engine, no
        image, limits the engine refuses), without starting anything. Thread-safe."""
        ...

    def provision(self, resources: Resources) -> Provisioned:
        """Start a fresh container on the session's workspace (replacing any previous one).

        Raises EngineUnavailable if the engine does not answer, ImageNotFound if
        the image is neither present nor pullable.
        """
        ...

    def execute(
        self,
        name: str,
        input: Mapping[str, Any],
        on_output: Callable[[bytes], None] | None = None,
    ) -> ToolResult:
        """Run one tool call. Bad input and failed commands are error results, not raises.

        `on_output` gets a bash command's output as it arrives, in chunks (all of
        it, even past what the result keeps), for a live view.

        Raises SandboxLost if the container died or vanished (before or during the
        call), EngineUnavailable if the engine does not answer.
        """
        ...

    def release(self) -> None:
        """Remove the container, killing whatever runs in it. Idempotent; the workspace stays."""
        ...
