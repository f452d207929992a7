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


def test_sighup_is_an_interrupt_with_its_own_exit_code() -> None:
    from tether.core.exit_codes import ExitCode, for_error

    with InterruptGuard(), pytest.raises(errors.Interrupted) as caught:
        os.kill(os.getpid(), signal.SIGHUP)
    assert caught.value.reason == "sighup" and for_error(caught.value) == ExitCode.HANGUP == 129


def test_a_signal_kept_by_the_outer_guard_is_delivered_by_the_inner_one() -> None:
    steps = []
    with InterruptGuard() as outer:
        outer._handed_over = True  # as the inner guard's __enter__ does, first thing
        os.kill(os.getpid(), signal.SIGTERM)  # between the two: kept, not raised
        steps.append("kept")
        outer._handed_over = False
        with InterruptGuard() as inner, pytest.raises(errors.Interrupted) as caught:
            steps.append("inner took over")
            with inner.shielded():
                steps.append("first append")
            steps.append("never reached")
        assert caught.value.reason == "sigterm"
        os.kill(os.getpid(), signal.SIGINT)  # after the harness: kept, never raised
        steps.append("outer stays quiet")
    assert steps == ["kept", "inner took over", "first append", "outer stays quiet"]


def test_a_signal_the_process_ignores_stays_ignored() -> None:
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    try:
        with InterruptGuard():
            os.kill(os.getpid(), signal.SIGHUP)
            assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)
