"""The sandbox's preflight: whether a container could start, asked of the engine
without starting one (engine reachable, image present or pullable, limits it
accepts). The harness runs it in a thread alongside the first model request, so
that a missing image costs no model turn and no request waits for Docker."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from .. import errors
from .protocol import Resources

START_DELAY_S = 0.05  # let the model request go out before competing for the CPU


def check(resources: Resources) -> None:
    """Raise the SandboxError a provision of `resources` would meet, if any can be seen."""
    from ..doctor import FAIL, check_image, connect_engine
    from .images import advice, local_images

    engine, client = connect_engine()
    if client is None:
        raise errors.EngineUnavailable(
            f"cannot reach the Docker engine, {engine.detail}; {engine.remedy}"
        )
    try:
        image = check_image(client, resources.image)
        if image.status == FAIL:
            raise errors.ImageNotFound(f"image {image.detail}; {advice(local_images(client.api))}")
        _check_cpus(client, resources.cpus)
    finally:
        client.close()


def _check_cpus(client: Any, cpus: float) -> None:
    available = client.info().get("NCPU") or 0
    if available and cpus > available:
        raise errors.SandboxError(
            f"--cpus {cpus:g} is more than the Docker engine has ({available}); "
            f"give at most --cpus {available}"
        )


class Preflight:
    """`check` in a background thread; `failure()` says how it went."""

    def __init__(self, run: Callable[[], None], on_failure: Callable[[], None]) -> None:
        self._run = run
        self._on_failure = on_failure
        self._done = threading.Event()
        self.error: errors.SandboxError | None = None
        self._thread = threading.Thread(target=self._main, name="tether-preflight", daemon=True)

    def start(self) -> Preflight:
        self._thread.start()
        return self

    def failure(self, wait_s: float | None = 0) -> errors.SandboxError | None:
        """The error found, if the check has ended within `wait_s` (None: however long)."""
        self._done.wait(wait_s)
        return self.error

    def settle(self, timeout_s: float) -> None:
        """Wait, at most `timeout_s`, for a check still under way: a thread still inside
        the engine's client when the interpreter exits can abort the process."""
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _main(self) -> None:
        time.sleep(START_DELAY_S)
        try:
            self._run()
        except errors.SandboxError as exc:
            self.error = exc
        except Exception as exc:  # noqa: BLE001 - a bug here must not stop a run that may work
            import logging

            logging.getLogger(__name__).debug("preflight failed oddly: %s", exc, exc_info=True)
        finally:
            self._done.set()
        if self.error is not None:
            self._on_failure()
