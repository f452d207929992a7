"""The Docker sandbox: a hardened container per session, on a workspace that
outlives it, driven through one persistent shell. Only the harness imports this."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tarfile
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .. import errors
from . import engine, files
from .engine import engine_errors
from .identity import add_user
from .output import OutputCallback
from .protocol import Provisioned, Resources, ToolResult
from .shell import ShellClosed, ShellTimeout
from .terminal import Terminal
from .tools import WORKSPACE, check_input

log = logging.getLogger(__name__)

# The official Python image on Debian bookworm: bash, coreutils, git, python3,
# pip and a C toolchain, multi-arch, and the same Debian the tests build offline.
DEFAULT_IMAGE = "python:3.12-bookworm"
SANDBOX_UID = 1000


def _milliseconds_since(start: float) -> int:
    return int((time.monotonic() - start) * 1000)


class DockerSandbox:
    """A Sandbox on a Docker engine (the local one, or DOCKER_HOST's)."""

    def __init__(self, on_pull: Callable[[dict], None] | None = None) -> None:
        self.on_pull = on_pull
        self._client: Any = None
        self.container_id: str | None = None
        self._terminal: Terminal | None = None
        self._user = f"{SANDBOX_UID}:{SANDBOX_UID}"

    @property
    def api(self) -> Any:
        if self._client is None:
            self._client = engine.connect()
        return self._client.api

    # -- provision -------------------------------------------------------------

    def check(self, resources: Resources) -> None:
        """Raise what provisioning `resources` would meet, without starting anything."""
        from .preflight import check

        check(resources)

    def provision(self, resources: Resources) -> Provisioned:
        """Start a fresh container on the session's workspace, its shell ready."""
        start = time.monotonic()
        self.release()
        with engine_errors(), self._refusals_as_errors("start the sandbox"):
            self._remove_leftovers()
            self._ensure_image(resources.image)
            self._user = _user_for(resources)
            mount = self._workspace_mount(resources)
            self.container_id = self._create(resources, mount)
            if mount["Type"] == "volume":
                self._own_workspace()
            add_user(self.api, self.container_id, self._user)
            self.api.start(self.container_id)
            self._start_terminal(resources)
        return Provisioned(
            container_id=self.container_id,
            image=resources.image,
            duration_ms=_milliseconds_since(start),
        )

    @contextlib.contextmanager
    def _refusals_as_errors(self, doing: str, lost: bool = False) -> Iterator[None]:
        """An engine that refuses (a bad bind source, a bad memory size, a container gone
        mid-call) becomes SandboxError, or SandboxLost if `lost`: never a raw SDK error."""
        import docker.errors

        try:
            yield
        except docker.errors.DockerException as exc:
            if self.container_id is not None and (lost or self._started()):
                self._raise_if_lost()  # it died on its way: cattle, not the engine's refusal
            self.release()
            reason = getattr(exc, "explanation", None) or str(exc)
            failure = errors.SandboxLost if lost else errors.SandboxError
            raise failure(f"the Docker engine could not {doing}: {reason}") from None

    def _remove_leftovers(self) -> None:
        """Remove the containers this data dir's dead harnesses left (see cleanup.sweep)."""
        from .cleanup import sweep

        sweep()

    def _ensure_image(self, image: str) -> None:
        import docker.errors

        try:
            self.api.inspect_image(image)
            return
        except docker.errors.ImageNotFound:
            pass
        try:
            for progress in self.api.pull(image, stream=True, decode=True):
                if "error" in progress:
                    raise docker.errors.APIError(progress["error"])
                if self.on_pull is not None:
                    self.on_pull(progress)
            self.api.inspect_image(image)
        except docker.errors.APIError as exc:
            from .images import advice, local_images

            raise errors.ImageNotFound(
                f"image {image} is not here and cannot be pulled ({exc.explanation or exc}); "
                + advice(local_images(self.api))
            ) from None

    def _workspace_mount(self, resources: Resources) -> dict[str, Any]:
        from docker.types import Mount

        if resources.workspace:
            return Mount(WORKSPACE, os.path.abspath(resources.workspace), type="bind")
        name = engine.existing_volume(self.api, resources.session_id)
        if name is None:
            name = engine.volume_name(resources.session_id)
            self.api.create_volume(name, labels=engine.labels(resources.session_id))
        # no_copy: the image's /workspace (root's) must not be copied over our ownership
        return Mount(WORKSPACE, name, type="volume", no_copy=True)

    def _create(self, resources: Resources, mount: dict[str, Any]) -> str:
        host_config = self.api.create_host_config(
            init=True,  # docker-init as PID 1 reaps the zombies commands leave
            mounts=[mount],
            network_mode="bridge" if resources.network else "none",
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            mem_limit=resources.memory,
            memswap_limit=resources.memory,
            nano_cpus=int(resources.cpus * 1e9),
            pids_limit=resources.pids_limit,
        )
        created = self.api.create_container(
            resources.image,
            entrypoint=["sleep"],
            command=["infinity"],
            user=self._user,
            working_dir=WORKSPACE,
            environment=_environment(),
            labels=engine.container_labels(resources.session_id),
            name=f"tether-{resources.session_id}-{os.urandom(3).hex()}",
            host_config=host_config,
        )
        return str(created["Id"])

    def _own_workspace(self) -> None:
        """Give a volume's root to the sandbox user: a fresh volume is root's.

        The engine itself writes the directory entry (as with `docker cp`), so no
        container needs CAP_CHOWN and nothing has to start: about 40 ms.
        """
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            entry = tarfile.TarInfo(WORKSPACE.lstrip("/"))
            entry.type, entry.mode, entry.mtime = tarfile.DIRTYPE, 0o755, int(time.time())
            entry.uid = entry.gid = SANDBOX_UID
            tar.addfile(entry)
        self.api.put_archive(self.container_id, "/", archive.getvalue())

    def _start_terminal(self, resources: Resources) -> None:
        assert self.container_id is not None
        self._terminal = Terminal(
            self.api, self.container_id, self._user, resources, self._raise_if_lost
        )
        try:
            self._terminal.open()
        except (ShellClosed, ShellTimeout) as exc:
            try:  # the container died as it started: cattle, not an error (the engine may
                for _ in range(5):  # still be taking the death in: a moment for it)
                    self._raise_if_lost()
                    time.sleep(0.2)
            finally:
                self.release()
            raise errors.SandboxError(f"the sandbox shell did not start ({exc})") from None

    # -- execute ---------------------------------------------------------------

    def execute(
        self, name: str, input: Mapping[str, Any], on_output: OutputCallback | None = None
    ) -> ToolResult:
        """Run one tool call; see the Sandbox protocol."""
        start = time.monotonic()
        problem = check_input(name, input)
        if problem:
            return ToolResult(content=problem, is_error=True)
        terminal = self._terminal
        if terminal is None:
            raise errors.SandboxLost("no sandbox container: provision one first")
        with engine_errors(), self._refusals_as_errors(f"run {name}", lost=True):
            result = _dispatch(terminal, name, input, on_output)
        return ToolResult(
            content=result.content,
            is_error=result.is_error,
            truncated=result.truncated,
            duration_ms=_milliseconds_since(start),
        )

    def _started(self) -> bool:
        """Whether the container got past `created` (a refused start never does: a bad
        network, say, whose own words the person needs)."""
        import docker.errors

        try:
            state = self.api.inspect_container(self.container_id)["State"]
        except docker.errors.NotFound:
            return True
        return state.get("Status") != "created"

    def _raise_if_lost(self) -> None:
        import docker.errors

        try:
            state = self.api.inspect_container(self.container_id)["State"]
        except docker.errors.NotFound:
            state = {"Status": "removed"}
        # A container still "created" was never started, so not lost: the engine refused
        # to start it (podman where it cannot raise its rlimits, say) and says why.
        if not state.get("Running") and state.get("Status") != "created":
            self._close_terminal()
            reason = "killed (out of memory)" if state.get("OOMKilled") else state.get("Status")
            raise errors.SandboxLost(
                f"the sandbox container {str(self.container_id)[:12]} is {reason}"
            )

    # -- release ---------------------------------------------------------------

    def release(self) -> None:
        """Remove the container (killing whatever runs); idempotent; the workspace stays."""
        if self._terminal is None and self.container_id is None:
            return  # nothing was provisioned: not even worth importing docker
        import docker.errors

        self._close_terminal()
        if self.container_id is None:
            return
        container_id, self.container_id = self.container_id, None
        try:
            with engine_errors():
                self.api.remove_container(container_id, force=True)
        except docker.errors.NotFound:
            pass
        except (docker.errors.APIError, errors.EngineUnavailable) as exc:
            # Left for `tether kill`/`rm` or a sweep, which find it by its labels.
            log.warning("could not remove sandbox container %s: %s", container_id[:12], exc)

    def _close_terminal(self) -> None:
        if self._terminal is not None:
            self._terminal.close()
            self._terminal = None


def _dispatch(
    terminal: Terminal, name: str, input: Mapping[str, Any], on_output: OutputCallback | None
) -> ToolResult:
    """One tool on the terminal; a shell that stops answering is replaced, and said so."""
    try:
        if name == "bash":
            return terminal.bash(input, on_output)
        tool = getattr(files, name)
        return tool(terminal.run_script, input)
    except (ShellClosed, ShellTimeout):
        return terminal.after_closed()


def _user_for(resources: Resources) -> str:
    """uid:gid in the container: one that can write the host directory, else 1000."""
    if resources.workspace:
        from ..workspace import bind_user

        return bind_user(resources.workspace)
    return f"{SANDBOX_UID}:{SANDBOX_UID}"


def _environment() -> dict[str, str]:
    """The only variables set beyond the image's own: never anything from the host."""
    return {
        "HOME": "/tmp/home",  # writable even when the image has no home for our uid
        "USER": "sandbox",
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "PAGER": "cat",
        "GIT_PAGER": "cat",
    }
