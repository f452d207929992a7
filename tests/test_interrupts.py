"""Signals become Interrupted in the main thread, never half-way through a log append,
and nothing below the harness can catch them as an ordinary error."""

from __future__ import annotations

import os
import signal

import pytest

from tether.core import errors
from tether.core.interrupts import InterruptGuard


def test_an_interrupt_is_no_exception_a_library_could_swallow() -> None:
    interrupt = errors.Interrupted(signal.SIGTERM, "sigterm")
    assert isinstance(interrupt, KeyboardInterrupt)
    assert not isinstance(interrupt, Exception)
    with pytest.raises(errors.Interrupted):
        try:
            raise interrupt
        except Exception:  # what docker, requests and httpx do to wrap errors
            pytest.fail("caught as an ordinary exception")


def test_a_signal_waits_for_the_shielded_block_then_arrives_once() -> None:
    steps = []
    with InterruptGuard() as guard, pytest.raises(errors.Interrupted) as caught:
        with guard.shielded():
            os.kill(os.getpid(), signal.SIGTERM)
            steps.append("the append finished")
        steps.append("never reached")
    assert steps == ["the append finished"]
    assert caught.value.reason == "sigterm" and caught.value.signum == signal.SIGTERM
    assert guard.delivered is caught.value


def test_after_the_first_interrupt_further_signals_let_clean_up_finish() -> None:
    with InterruptGuard() as guard:
        with pytest.raises(errors.Interrupted):
            os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C during clean-up
        assert guard.delivered is not None and guard.delivered.reason == "ctrl-c"
