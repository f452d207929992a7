"""The checkpoint store's Docker side: helper containers that run git over a
session's workspace and its store volume.

The store is a volume of its own (`volume_name(id, "store")`), mounted only in
helpers, never in the sandbox: the agent can neither read nor write it. A
helper runs as root with one capability, CAP_DAC_READ_SEARCH, so it reads
every file the agent made whatever their modes, and sees the workspace
read-only. A harness keeps one helper with a persistent shell beside its
sandbox (a checkpoint is then one round trip, not a `docker exec`); commands
that run without a harness (diff, apply, fork) use a one-off helper, or exec
in the harness's helper when there is one.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from .. import errors
from . import engine
from .engine import LABEL_ROLE, LABEL_SESSION, engine_errors
from .output import Capture
from .shell import PersistentShell, RawRun, ShellClosed, ShellTimeout
from .tools import WORKSPACE

log = logging.getLogger(__name__)

STORE = "/store"
SCRIPT_DIR = "/tether"
SOURCE = f". {SCRIPT_DIR}/store.sh && "
ROLE = "store"
HELPER = "helper"  # the role of one-off helpers: no owner label, so no sweep takes them
NO_GIT = 3  # store_init's status when the image has no git
_OUTPUT_LIMIT = 64 * 1024
READ_ONLY_CAPS = ("DAC_READ_SEARCH",)  # reads whatever the agent made, writes nothing of it


class StoreUnavailable(errors.SandboxError):
    """The session's image has no git, so there is no checkpoint store."""


@dataclass(frozen=True, kw_only=True)
class Mounts:
    """What a helper sees: the workspace (a volume or a host dir) and the store volume."""

    session_id: str
    bind: str | None = None  # the host dir of a --workspace session
    volume: str | None = None  # the workspace volume, when it is not named as today's are
    extra: tuple[tuple[str, str, bool], ...] = ()  # (volume, path, read-only) more to mount

    @staticmethod
    def of(api: Any, session_id: str, bind: str | None) -> Mounts:
        """The session's mounts, with its workspace volume however it was named."""
        return Mounts(
            session_id=session_id, bind=bind, volume=engine.existing_volume(api, session_id)
        )

    def workspace(self, read_only: bool) -> Any:
        from docker.types import Mount

        if self.bind:
            return Mount(WORKSPACE, self.bind, type="bind", read_only=read_only)
        name = self.volume or engine.volume_name(self.session_id)
        # no_copy: the image's /workspace (root's) must not be copied over the sandbox
        # user's volume root, as podman does for the first container to mount it
        return Mount(WORKSPACE, name, type="volume", read_only=read_only, no_copy=True)

    def build(self, workspace_read_only: bool) -> list[Any]:
        from docker.types import Mount

        store = Mount(STORE, engine.volume_name(self.session_id, ROLE), type="volume")
        extra = [Mount(path, name, type="volume", read_only=ro) for name, path, ro in self.extra]
        return [self.workspace(workspace_read_only), store, *extra]


def own(session_id: str, role: str | None = None) -> list[str]:
    """The label filter of this data dir's containers of the session (in `role`)."""
    found = [f"{LABEL_SESSION}={session_id}", *engine.home_filter()]
    return found + [f"{LABEL_ROLE}={role}"] if role else found


def store_script(name: str = "store.sh") -> str:
    """store.sh (the store's shell functions), watch.pl (its workspace watcher) or trees.pl
    (the watcher's checkpoint writer)."""
    return resources.files(__package__).joinpath(name).read_text()


def script_archive() -> bytes:
    """A tar of /tether/ with the store's scripts, put into a helper before it starts."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        folder = tarfile.TarInfo(SCRIPT_DIR.lstrip("/"))
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(folder)
        for name in ("store.sh", "watch.pl", "trees.pl"):
            script = store_script(name).encode()
            entry = tarfile.TarInfo(f"{SCRIPT_DIR.lstrip('/')}/{name}")
            entry.size, entry.mode = len(script), 0o644
            tar.addfile(entry, io.BytesIO(script))
    return buffer.getvalue()


def helper_config(
    api: Any, image: str, mounts: list[Any], caps: Sequence[str], auto_remove: bool = False
) -> dict[str, Any]:
    """create_container's arguments for a helper: root, no network, only `caps`."""
    return {
        "image": image,
        "user": "0:0",
        "working_dir": "/",
        "environment": {"HOME": STORE, "LANG": "C.UTF-8"},
        "host_config": api.create_host_config(
            init=True,
            mounts=mounts,
            network_mode="none",
            cap_drop=["ALL"],
            cap_add=list(caps),
            security_opt=["no-new-privileges"],
            pids_limit=256,
            auto_remove=auto_remove,
        ),
    }


def ensure_volume(api: Any, name: str, session_id: str, role: str) -> bool:
    """Create the volume unless it exists; True if it was created."""
    import docker.errors

    try:
        api.inspect_volume(name)
        return False
    except docker.errors.NotFound:
        api.create_volume(name, labels=engine.labels(session_id, role))
        return True


def volume_exists(api: Any, name: str) -> bool:
    return found(api.inspect_volume, name)


def found(inspect: Any, name: str) -> bool:
    """Whether the engine knows `name` (an image, a volume) by the `inspect` call given."""
    import docker.errors

    try:
        inspect(name)
    except docker.errors.NotFound:  # ImageNotFound too
        return False
    return True


class StoreHelper:
    """A harness's helper: a root shell with git beside the sandbox, for checkpoints."""

    def __init__(self, api: Any, image: str, mounts: Mounts) -> None:
        self.api = api
        self.image = image
        self.mounts = mounts
        self.container_id: str | None = None
        self._shell: PersistentShell | None = None

    def start(self) -> None:
        """Start the helper and open the store; StoreUnavailable if the image has no git,
        SandboxError if the helper does not come up (twice: it is cattle too)."""
        try:
            self._start()
        except StoreUnavailable:
            raise
        except errors.SandboxError as exc:
            log.warning("the checkpoint helper did not start (%s); trying again", exc)
            self._start()

    def _start(self) -> None:
        import docker.errors

        self.close()
        try:
            self._create_and_open()
        except (docker.errors.DockerException, ShellClosed, ShellTimeout) as exc:
            self.close()
            reason = getattr(exc, "explanation", None) or str(exc) or type(exc).__name__
            raise errors.SandboxError(f"the checkpoint helper did not start: {reason}") from None
        opened = self.run("store_init", timeout_s=60)
        if opened.status == NO_GIT:
            raise StoreUnavailable(f"the image {self.image} has no git")
        if opened.status != 0:
            raise errors.SandboxError(f"the checkpoint store did not open: {text_of(opened)}")
        self.run("store_watch", timeout_s=60)  # without it, checkpoints read everything

    def _create_and_open(self) -> None:
        sid = self.mounts.session_id
        with engine_errors():
            self._remove_leftovers(sid)
            ensure_volume(self.api, engine.volume_name(sid, ROLE), sid, ROLE)
            config = helper_config(self.api, self.image, self.mounts.build(True), READ_ONLY_CAPS)
            created = self.api.create_container(
                **config,
                entrypoint=["sleep"],
                command=["infinity"],
                labels=engine.container_labels(sid, ROLE),
                name=f"tether-{sid}-store-{os.urandom(3).hex()}",
            )
            self.container_id = str(created["Id"])
            self.api.put_archive(self.container_id, "/", script_archive())
            self.api.start(self.container_id)
            self._shell = PersistentShell(self.api, self.container_id, "0:0")
            self._shell.start()

    def run(self, command: str, timeout_s: float) -> RawRun:
        """Run store.sh's `command` in the helper's shell."""
        import docker.errors

        if self._shell is None:
            raise errors.SandboxLost("the checkpoint helper is not running")
        try:
            with engine_errors():
                capture = Capture(show=_OUTPUT_LIMIT)
                raw = self._shell.run(
                    SOURCE + command, capture, timeout_s=timeout_s, save_state=False
                )
                return RawRun(
                    status=raw.status, timed_out=raw.timed_out, output=bytes(capture.first)
                )
        except (ShellClosed, ShellTimeout, docker.errors.DockerException) as exc:
            self.close()
            raise errors.SandboxLost(f"the checkpoint helper stopped answering ({exc})") from None

    def _remove_leftovers(self, session_id: str) -> None:
        from .cleanup import remove_container

        for item in self.api.containers(all=True, filters={"label": own(session_id, ROLE)}):
            remove_container(self.api, item["Id"])

    def close(self) -> None:
        """Remove the helper; idempotent."""
        if self._shell is not None:
            self._shell.close()
            self._shell = None
        container_id, self.container_id = self.container_id, None
        if container_id is not None:
            from .cleanup import remove_container

            # An engine that is away leaves it to `tether kill`, `rm` or a sweep.
            with contextlib.suppress(errors.SandboxError), engine_errors():
                remove_container(self.api, container_id)


def text_of(run: RawRun) -> str:
    """A run's output as one line of text for a message."""
    lines = run.output.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else f"exit status {run.status}"
