"""The sandbox's shell side: one persistent shell at a time in a running container,
through which the bash tool and the file tools' scripts run. A shell that dies is
replaced in the same container, and whatever the old one left running is ended."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from . import bash
from .output import Capture, OutputCallback
from .protocol import Resources, ToolResult
from .shell import PersistentShell, RawRun, ShellClosed, ShellTimeout
from .tools import DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS

log = logging.getLogger(__name__)


class Terminal:
    """Tool calls on a persistent shell in container `container_id`, as `user`.

    `check_container` raises SandboxLost when the container itself is gone; a
    shell that stops answering in a live container is only replaced.
    """

    def __init__(
        self,
        api: Any,
        container_id: str,
        user: str,
        resources: Resources,
        check_container: Callable[[], None],
    ) -> None:
        self.api, self.container_id, self.user = api, container_id, user
        self.resources = resources
        self.check_container = check_container
        self.shell: PersistentShell | None = None
        self.kept = 0  # outputs kept in the container so far, for their file names

    def open(self) -> None:
        """Start a shell; ShellClosed or ShellTimeout if it does not come up."""
        shell = PersistentShell(self.api, self.container_id, self.user)
        self.shell = shell
        shell.start()

    def bash(self, input: Mapping[str, Any], on_output: OutputCallback | None) -> ToolResult:
        if input.get("restart"):
            self.restart()
            if not input.get("command"):
                return ToolResult(content="started a fresh shell in /workspace")
        timeout_ms = min(input.get("timeout_ms", DEFAULT_TIMEOUT_MS), MAX_TIMEOUT_MS)
        capture = bash.capture_for(self.resources.max_output, on_output)
        try:
            raw = self._shell().run(
                input["command"], capture, timeout_s=timeout_ms / 1000, save_state=True
            )
            kept_at = self._keep(capture) if capture.truncated else None
            return bash.result(
                raw, capture, kept_at=kept_at, timeout_ms=timeout_ms, memory=self.resources.memory
            )
        finally:
            capture.close()

    def run_script(self, script: bytes, limit: int, timeout_s: float) -> RawRun:
        """A file tool's script, with the image's PATH; its first `limit` + 1 bytes of output."""
        capture = Capture(show=limit + 1)
        raw = self._shell().run(script, capture, timeout_s=timeout_s, save_state=False)
        return RawRun(status=raw.status, timed_out=raw.timed_out, output=bytes(capture.first))

    def restart(self) -> None:
        """A fresh shell, after ending the old one and everything it left running."""
        old, self.shell = self.shell, None
        if old is not None:
            old.close()
            old.kill_all()
        self.open()

    def after_closed(self) -> ToolResult:
        """The shell stopped answering: SandboxLost if the container is gone, else a
        fresh shell and an error result saying so."""
        import docker.errors

        from .. import errors

        self.check_container()
        try:
            self.restart()
        except (ShellClosed, ShellTimeout, docker.errors.APIError) as exc:
            # A container on its way down can still look running for a moment.
            raise errors.SandboxLost(
                f"the sandbox container {self.container_id[:12]} stopped answering ({exc})"
            ) from None
        return ToolResult(
            content="the shell exited during this call; a fresh shell started "
            "(files kept; working directory, variables and background jobs reset)",
            is_error=True,
        )

    def close(self) -> None:
        if self.shell is not None:
            self.shell.close()
            self.shell = None

    def _shell(self) -> PersistentShell:
        if self.shell is None:
            self.open()
        assert self.shell is not None
        return self.shell

    def _keep(self, capture: Capture) -> str | None:
        self.kept += 1
        try:
            return bash.keep_in_container(
                self.api, self.container_id, self.user, capture, self.kept
            )
        except Exception as exc:  # noqa: BLE001 - the result is still worth giving
            log.warning("could not keep the output in the sandbox: %s", exc)
            return None
