"""What one call prints, taken as it arrives: its start and its end in memory, and
everything up to a cap in a spool file on the harness's side, so that no command
can delete it and no command can fill a disk with it."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from typing import IO

log = logging.getLogger(__name__)

OutputCallback = Callable[[bytes], None]


class Capture:
    """Bytes fed in order. `first` holds the first `show` bytes; past them, `last`
    holds the final `tail` bytes and a spool file the first `keep` bytes."""

    def __init__(
        self, *, show: int, tail: int = 0, keep: int = 0, on_output: OutputCallback | None = None
    ) -> None:
        self.show, self.tail, self.keep = show, tail, keep
        self.on_output = on_output
        self.total = 0
        self.first = bytearray()
        self.last = bytearray()
        self.spool: IO[bytes] | None = None

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        if self.on_output is not None:
            self._tell(chunk)
        room = self.show - len(self.first)
        if room > 0:
            self.first += chunk[:room]
        if self.total + len(chunk) > self.show:
            self._past_show(chunk)
        self.total += len(chunk)

    def _tell(self, chunk: bytes) -> None:
        """Hand the chunk on; a callback that fails is dropped, never the call."""
        assert self.on_output is not None
        try:
            self.on_output(chunk)
        except Exception:
            log.exception("the output callback failed; it gets no more of this call")
            self.on_output = None

    def _past_show(self, chunk: bytes) -> None:
        if self.tail:
            if not self.last and self.total <= self.show:
                self.last += self.first[max(0, self.total - self.tail) : self.total]
            self.last += chunk
            del self.last[: -self.tail]
        if self.keep:
            self._spool(chunk)

    def _spool(self, chunk: bytes) -> None:
        if self.spool is None:
            self.spool = tempfile.TemporaryFile(prefix="tether-output-")  # noqa: SIM115 - closed by close()
            self.spool.write(self.first[: min(self.total, self.keep)])
        kept = min(self.total, self.keep)
        if kept < self.keep:
            self.spool.write(chunk[: self.keep - kept])

    @property
    def truncated(self) -> bool:
        """More came than `show` bytes."""
        return self.total > self.show

    @property
    def kept(self) -> int:
        """How many bytes the spool file holds (once truncated)."""
        return min(self.total, self.keep)

    @property
    def dropped(self) -> int:
        """How many bytes went past the cap and are nowhere."""
        return max(0, self.total - self.keep) if self.keep else 0

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()
            self.spool = None
