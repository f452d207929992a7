"""The harness's side of the sandbox: one tool call in, one recorded result out.

`Hands` provisions the container on the first call that needs it, turns a
lost container into an error result the model can read (the next call gets a
fresh container on the same workspace), and records each of these in the log
through the `record` function it is given. The harness knows nothing else
about containers.
"""

from __future__ import annotations

import codecs
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import errors
from . import events as ev
from .checkpoints import CHANGES_FILES, SessionWorkspace
from .config_values import parse_size
from .outcomes import INTERRUPTED_RESULT
from .request import cached_tools
from .sandbox.protocol import Resources, Sandbox, ToolResult
from .sandbox.tools import TOOL_SPECS, check_input

log = logging.getLogger(__name__)

STOPPED_NOTE = (
    "[stopped ({reason}) after {s:.1f} s, with the output above so far: it may have done "
    "part of its work; check its effects before running it again]"
)
PARTIAL_OUTPUT_CHARS = 32 * 1024  # of an interrupted call's output, the end kept in its result
LOST_RESULT = (
    "The sandbox container was lost ({reason}). Files in /workspace are kept, but the "
    "shell's state (working directory, variables, background jobs) was reset; the next "
    "call gets a fresh container."
)


@dataclass
class RunningCall:
    """The call `Hands` is running: when it began, whether the sandbox has started it
    (provisioning comes first), and the output seen so far (the end of it)."""

    use_id: str
    started: float = field(default_factory=time.monotonic)
    executing: bool = False
    output: str = ""

    def add_output(self, chunk: str) -> None:
        self.output = (self.output + chunk)[-PARTIAL_OUTPUT_CHARS:]

    def stopped(self, reason: str) -> ev.AgentToolResult:
        """The result of this call stopped while it ran: its output so far (when it had
        any) and its true duration."""
        seconds = time.monotonic() - self.started
        content = INTERRUPTED_RESULT
        if self.output.strip():
            note = STOPPED_NOTE.format(reason=reason, s=seconds)
            content = self.output.rstrip("\n") + "\n" + note
        return ev.AgentToolResult(
            tool_use_id=self.use_id, content=content, is_error=True,
            duration_ms=int(seconds * 1000),
        )  # fmt: skip


def resources_for(session_id: str, settings: ev.SessionCreated) -> Resources:
    """What the session's sandbox is made of, as its log recorded it."""
    return Resources(
        session_id=session_id, image=settings.image, workspace=settings.workspace,
        network=settings.network, memory=settings.memory, cpus=settings.cpus,
        pids_limit=settings.pids_limit, max_output=_max_output(settings.max_output),
    )  # fmt: skip


def _max_output(text: str) -> int:
    """The output cap a log recorded, in bytes; the default if the log's is not a size."""
    try:
        return parse_size(text)
    except ValueError:
        log.warning("max_output %r in the log is not a size; keeping 64m per call", text)
        return parse_size("64m")


class Hands:
    """Tool calls on a lazily provisioned sandbox, each event handed to `record`.

    The harness asks it for the tool definitions to send and to run each call, and
    knows nothing else about tools."""

    def __init__(
        self,
        sandbox: Sandbox,
        resources: Resources,
        record: Callable[[ev.Event], None],
        on_output: Callable[[str], None] | None = None,
        tools: Iterable[str] = (),
        workspace: SessionWorkspace | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.resources = resources
        self.record = record
        self.on_output = on_output  # a bash command's output as it comes, for a live view
        self.workspace = workspace
        self.container: str | None = None  # the one recorded as provisioned, if any
        self.current: RunningCall | None = None  # the call under way, if any
        names = set(tools)
        specs = [spec.to_api() for spec in TOOL_SPECS if spec.name in names]
        self.definitions: tuple[Mapping[str, Any], ...] = tuple(cached_tools(specs))
        """The tool definitions each model request carries (the last one cached)."""

    def wake(self) -> None:
        """The harness woke: take the checkpoint a dead harness missed, and start making
        the workspace ready in the background (the first model request never waits)."""
        if self.workspace is None:
            return
        if self.workspace.pending is not None and self.workspace.history.prepared is not None:
            self.checkpoint(self.workspace.pending, "bash")
        self.workspace.wake()

    def checkpoint(self, use_id: str, name: str) -> None:
        """After a call that can change files, record a checkpoint of the workspace."""
        if self.workspace is not None and name in CHANGES_FILES:
            event = self.workspace.checkpoint(use_id)
            if event is not None:
                self.record(event)

    def run(self, use_id: str, name: str, tool_input: Mapping[str, Any]) -> ev.AgentToolResult:
        """Run one call; a bad call or a lost container is an error result, not an error.

        While it runs, `current` says how far it got, for a harness that is stopped.
        """
        call = self.current = RunningCall(use_id)
        problem = check_input(name, tool_input)
        if self.workspace is not None and name in CHANGES_FILES:
            self.workspace.pending = use_id
        if problem is not None:
            result = ToolResult(content=problem, is_error=True)
        else:
            result = self._run_in_sandbox(name, tool_input, _watch(call, self.on_output))
        self.current = None
        return ev.AgentToolResult(
            tool_use_id=use_id,
            content=result.content,
            is_error=result.is_error,
            duration_ms=int((time.monotonic() - call.started) * 1000),
            truncated=result.truncated,
        )

    def release(self, reason: str | None) -> None:
        """Remove the container (even one still being provisioned) and record it,
        unless `reason` is None: the log itself is failing and takes nothing more."""
        container, self.container = self.container, None
        if self.workspace is not None:
            pending = self.workspace.pending
            if pending is not None and container is not None and reason is not None:
                self.checkpoint(pending, "bash")  # a call cut by an interrupt may have written
            self.workspace.release()
        try:
            self.sandbox.release()
        except errors.SandboxError as exc:
            log.warning("could not remove the sandbox container: %s", exc)
        if container is not None and reason is not None:
            self.record(ev.SandboxReleased(container_id=container, reason=reason))

    def _run_in_sandbox(
        self, name: str, tool_input: Mapping[str, Any], on_output: Callable[[bytes], None]
    ) -> ToolResult:
        try:
            if self.container is None:
                self._provision()
            if self.current is not None:
                self.current.executing = True
            return self.sandbox.execute(name, tool_input, on_output)
        except errors.SandboxLost as exc:  # even while it was being provisioned
            self.record(ev.SandboxLost(container_id=self.container or "", reason=str(exc)))
            self.container = None
            return ToolResult(content=LOST_RESULT.format(reason=exc), is_error=True)

    def _provision(self) -> None:
        if self.workspace is not None:
            self.workspace.wait_for_volume()  # the sandbox starts beside the copy
        provisioned = self.sandbox.provision(self.resources)
        self.container = provisioned.container_id
        self.record(
            ev.SandboxProvisioned(
                container_id=provisioned.container_id,
                image=provisioned.image,
                duration_ms=provisioned.duration_ms,
            )
        )
        self._record_prepared()

    def _record_prepared(self) -> None:
        if self.workspace is not None:
            prepared = self.workspace.prepare(image_ready=True)
            if prepared is not None:
                self.record(prepared)


def _watch(call: RunningCall, on_output: Callable[[str], None] | None) -> Callable[[bytes], None]:
    """The output callback the sandbox gets: it decodes the chunks (a character split
    between two is joined), keeps the end for `call`, and passes the text on."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def seen(chunk: bytes) -> None:
        text = decoder.decode(chunk)
        if text:
            call.add_output(text)
            if on_output is not None:
                on_output(text)

    return seen
