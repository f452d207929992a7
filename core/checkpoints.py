"""The harness's side of the workspace: made ready once, checkpointed after every
call that can change files.

Making a copied workspace ready (the host's files into the volume, then the
first checkpoint, which `tether diff` compares with) starts in the background
when the harness wakes, so the first model request never waits for it; the
first tool call does. A checkpoint is recorded right after its call's result;
one that fails is recorded with why, and the call stands.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from . import errors
from . import events as ev
from .workspace import COPIES, FORK, Source

log = logging.getLogger(__name__)

CHANGES_FILES = frozenset({"bash", "write", "edit"})  # tools that can change the workspace
CHECKPOINT_TIMEOUT_S = 300.0
_READY_TIMEOUT_S = 3600.0


@dataclass(frozen=True, kw_only=True)
class History:
    """What a log says about its workspace's checkpoints."""

    prepared: ev.WorkspacePrepared | None = None  # this session's own (a fork carries others)
    baseline: str = ""  # the first checkpoint: the workspace as it started
    last: str = ""  # the latest checkpoint
    pending: str | None = None  # a call that can have changed files, whose checkpoint is missing

    @staticmethod
    def of(events: Iterable[ev.Event], carried: int | None = None) -> History:
        """The history of `events`; a fork's events up to `carried` are its parent's."""
        prepared, baseline, last, pending = None, "", "", None
        for event in events:
            if isinstance(event, ev.WorkspacePrepared):
                own = carried is None or event.seq > carried
                prepared, last = event if own else prepared, event.checkpoint or last
                baseline = baseline or event.checkpoint
            elif isinstance(event, ev.WorkspaceCheckpoint):
                last = event.checkpoint or last
                pending = None if event.tool_use_id == pending else pending
            elif isinstance(event, ev.AgentToolUse) and event.name in CHANGES_FILES:
                pending = event.tool_use_id  # from its start: a call cut short may have written
        return History(prepared=prepared, baseline=baseline, last=last, pending=pending)


class SessionWorkspace:
    """One wake's handle on the session's workspace and its checkpoint store."""

    def __init__(
        self, session_id: str, settings: ev.SessionCreated, events: list[ev.Event]
    ) -> None:
        self.session_id = session_id
        self.settings = settings
        self.history = History.of(events, settings.parent_seq)
        self.available = self.history.prepared is None or bool(self.history.prepared.checkpoint)
        self.pending = self.history.pending
        self._last = self.history.last
        self._helper: Any = None
        self._thread: threading.Thread | None = None
        self._ready: tuple[ev.WorkspacePrepared | None, BaseException | None] | None = None
        self._cancelled = threading.Event()
        self._volume_made = threading.Event()

    # -- getting ready ---------------------------------------------------------

    def wake(self) -> None:
        """Start making the workspace ready in the background (copy, first checkpoint,
        the checkpoint helper); only if the image is already here, so nothing pulls unseen."""
        if self.history.prepared is None or (self.available and self._helper is None):
            self._thread = threading.Thread(target=self._get_ready, name="workspace", daemon=True)
            self._thread.start()

    def wait_for_volume(self) -> None:
        """Until the background work has made the workspace volume, or has ended: the
        sandbox then starts on it beside the copy, never before (a fresh copy first
        removes what a cut one left: a sandbox started earlier would go with it)."""
        if self._thread is not None:
            self._volume_made.wait(_READY_TIMEOUT_S)

    def prepare(self, image_ready: bool) -> ev.WorkspacePrepared | None:
        """Wait for the background preparation; or, once the sandbox has pulled the image,
        prepare in the foreground. The event to record, once; None otherwise."""
        if self._thread is not None:
            self._thread.join(_READY_TIMEOUT_S)
            self._thread = None
        if self._ready is None and image_ready and self.history.prepared is None:
            self._ready = self._attempt(check_image=False)
        if self._ready is None:
            return None
        prepared, failure = self._ready
        self._ready = (None, None)
        if failure is not None:
            raise failure
        if prepared is not None:
            self.history = History(prepared=prepared, baseline=prepared.checkpoint)
            self._last = prepared.checkpoint or self._last
            self.available = bool(prepared.checkpoint)
        return prepared

    def _get_ready(self) -> None:
        try:
            self._ready = self._attempt(check_image=True)
        finally:
            self._volume_made.set()

    def _attempt(
        self, check_image: bool
    ) -> tuple[ev.WorkspacePrepared | None, BaseException | None] | None:
        from .sandbox.engine import engine_errors

        try:
            with engine_errors():
                return self._make_ready(check_image), None
        except _ImageMissing:
            return None
        except BaseException as exc:  # noqa: BLE001 - handed to the harness's thread
            return None, exc

    def _make_ready(self, check_image: bool) -> ev.WorkspacePrepared | None:
        from .sandbox import engine
        from .sandbox.store import found

        if self.history.prepared is None and self.settings.workspace_source == FORK:
            raise errors.SandboxError(
                f"this fork was cut off while it was made (tether fork stopped), so it has "
                f"no files: remove it with tether rm {self.session_id}, and fork again"
            )
        api = engine.connect().api
        if check_image and not found(api.inspect_image, self.settings.image):
            raise _ImageMissing()
        started = time.monotonic()
        fresh = self.history.prepared is None
        if fresh and self.settings.workspace is None:
            from .sandbox.workspace import create_volume

            # Only in the background: in the foreground the image was pulled and the
            # sandbox runs on the volume already (and no copy can have been cut: none
            # ran without the image).
            fresh_copy = self.settings.workspace_source in COPIES and check_image
            create_volume(api, self.settings.image, self.session_id, fresh=fresh_copy)
        self._volume_made.set()
        starting = _Beside(self._new_helper)  # the helper starts while the files are copied
        try:
            stats = self._copy(api) if fresh else None
        finally:
            helper, failure = starting.result()
            if sys.exc_info()[0] is not None and helper is not None:
                helper.close()
        if failure is not None:
            return self._without_store(stats, started, failure)
        if self._cancelled.is_set():
            helper.close()
            return None
        self._helper = helper
        return self._baseline(stats, started) if stats is not None else None

    def _new_helper(self) -> Any:
        """A started checkpoint helper, on its own connection (it may start in a thread)."""
        from .sandbox import engine
        from .sandbox.store import Mounts, StoreHelper

        api = engine.connect().api
        mounts = Mounts.of(api, self.session_id, self.settings.workspace)
        helper = StoreHelper(api, self.settings.image, mounts)
        helper.start()
        return helper

    def _without_store(
        self, stats: Any, started: float, failure: BaseException
    ) -> ev.WorkspacePrepared | None:
        """No helper: no checkpoints this time, or (for a first one) for the session."""
        from .sandbox.store import StoreUnavailable

        if not isinstance(failure, errors.SandboxError):
            raise failure
        if isinstance(failure, StoreUnavailable) or stats is not None:
            self.available = False  # a first checkpoint taken later would not be the start
        if stats is None:
            return None  # a helper that failed to start: the next checkpoint tries again
        return self._prepared(stats, started, error=f"no checkpoints: {failure}")

    def _copy(self, api: Any) -> Any:
        from .hostcopy import CopyStats, copy_in_a_child
        from .sandbox import workspace as volumes

        source = self.settings.workspace_source
        if source not in COPIES or not self.settings.workspace_from:
            return CopyStats()
        chunks, stats = copy_in_a_child(Source(kind=source, path=self.settings.workspace_from))
        volumes.copy_in(api, self.settings.image, self.session_id, self._until_cancelled(chunks))
        return stats()

    def _baseline(self, stats: Any, started: float) -> ev.WorkspacePrepared:
        from .sandbox.store import text_of

        if self.settings.workspace_source == "git":
            self._helper.run("store_seed", timeout_s=CHECKPOINT_TIMEOUT_S)
        raw = self._helper.run("store_checkpoint ''", timeout_s=CHECKPOINT_TIMEOUT_S)
        if raw.status != 0:
            return self._prepared(stats, started, error=f"no first checkpoint: {text_of(raw)}")
        return self._prepared(stats, started, checkpoint=raw.output.split()[0].decode())

    def _prepared(
        self, stats: Any, started: float, checkpoint: str = "", error: str | None = None
    ) -> ev.WorkspacePrepared:
        return ev.WorkspacePrepared(
            source=self.settings.workspace_source, files=stats.files, bytes=stats.bytes,
            skipped=tuple(stats.skipped), checkpoint=checkpoint, error=error,
            duration_ms=int((time.monotonic() - started) * 1000),
        )  # fmt: skip

    def _until_cancelled(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            if self._cancelled.is_set():
                raise errors.Interrupted(0, "the run stopped while the workspace was copied")
            yield chunk

    # -- checkpoints -----------------------------------------------------------

    def checkpoint(self, tool_use_id: str) -> ev.WorkspaceCheckpoint | None:
        """Checkpoint the workspace after `tool_use_id`; None when there is no store."""
        from .sandbox.engine import engine_errors
        from .sandbox.store import StoreUnavailable, text_of

        if not self.available:
            return None
        started = time.monotonic()
        try:
            with engine_errors():
                raw = self._run_checkpoint()
        except StoreUnavailable:
            self.available = False
            return None
        except errors.SandboxError as exc:
            return self._checkpoint(tool_use_id, started, error=str(exc))
        if raw.status != 0:
            return self._checkpoint(tool_use_id, started, error=text_of(raw))
        self._last, *lines, changed = raw.output.decode("utf-8", "replace").splitlines()
        files = tuple(" ".join(line.split("\t", 1)) for line in lines if "\t" in line)
        return self._checkpoint(
            tool_use_id, started, checkpoint=self._last, changed=int(changed), files=files
        )

    def _run_checkpoint(self) -> Any:
        command = f"store_checkpoint '{self._last}'"
        try:
            return self._started_helper().run(command, timeout_s=CHECKPOINT_TIMEOUT_S)
        except errors.SandboxLost:  # the helper died: cattle, so once more on a fresh one
            self._helper = None
            return self._started_helper().run(command, timeout_s=CHECKPOINT_TIMEOUT_S)

    def _checkpoint(
        self, tool_use_id: str, started: float, **fields: Any
    ) -> ev.WorkspaceCheckpoint:
        self.pending = None
        duration = int((time.monotonic() - started) * 1000)
        return ev.WorkspaceCheckpoint(tool_use_id=tool_use_id, duration_ms=duration, **fields)

    def _started_helper(self) -> Any:
        if self._thread is not None:
            self.prepare(image_ready=False)
        if self._helper is None or self._helper.container_id is None:
            self._helper = self._new_helper()
        return self._helper

    def release(self) -> None:
        """Stop the background work and remove the checkpoint helper."""
        self._cancelled.set()
        if self._thread is not None:
            # Not long: a run that never used a tool should not wait for its workspace. What
            # the work leaves if the process ends first, the next wake redoes or a sweep takes.
            self._thread.join(2)
        if self._helper is not None:
            self._helper.close()
            self._helper = None


class _Beside:
    """`work()` run in a thread beside the caller; `result()` waits for (value, error)."""

    def __init__(self, work: Any) -> None:
        self._found: tuple[Any, BaseException | None] = (None, None)
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True)
        self._thread.start()

    def _run(self, work: Any) -> None:
        try:
            self._found = (work(), None)
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits
            self._found = (None, exc)

    def result(self) -> tuple[Any, BaseException | None]:
        self._thread.join()
        return self._found


class _ImageMissing(Exception):
    """The image is not here yet: the sandbox pulls it (with progress) first."""
