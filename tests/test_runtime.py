"""Stopping on SIGINT/SIGTERM, with and without the loop's own signal support (Windows has none)."""

from __future__ import annotations

import asyncio
import os
import signal
import threading

import pytest

from qbutler.runtime import FORCED_EXIT_STATUS, StopDeadline, run, stop_on_signals


class LoopWithoutSignalSupport(asyncio.SelectorEventLoop):
    """Behaves as Windows' loops do: no add_signal_handler."""

    def add_signal_handler(self, sig: int, callback: object, *args: object) -> None:
        raise NotImplementedError


async def stopped_by(sig: signal.Signals) -> bool:
    stop = asyncio.Event()
    undo = stop_on_signals(stop)
    try:
        # From another thread, as a console or service manager would: the loop is idle in select().
        threading.Timer(0.2, os.kill, (os.getpid(), sig)).start()
        await asyncio.wait_for(stop.wait(), 5)
        return stop.is_set()
    finally:
        undo()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_service_loop(sig: signal.Signals):
    before = signal.getsignal(sig)
    assert run(stopped_by(sig))
    assert signal.getsignal(sig) == before


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_a_loop_without_signal_support(sig: signal.Signals):
    before = signal.getsignal(sig)
    with asyncio.Runner(loop_factory=LoopWithoutSignalSupport) as runner:
        assert runner.run(stopped_by(sig))
    assert signal.getsignal(sig) == before  # the handler it replaced is back


async def test_the_stop_deadline_logs_what_still_runs_and_exits(caplog: pytest.LogCaptureFixture):
    exits: list[int] = []
    exited = threading.Event()

    def exit_process(status: int) -> None:
        exits.append(status)
        exited.set()

    async def waits_for_the_broker() -> None:
        await asyncio.Event().wait()

    stuck = asyncio.create_task(waits_for_the_broker(), name="mqtt-goodbye")
    deadline = StopDeadline(0.2, exit_process)
    deadline.arm()
    await asyncio.to_thread(exited.wait, 5)
    stuck.cancel()
    assert exits == [FORCED_EXIT_STATUS]
    report = caplog.text
    assert "did not stop within 0.2s" in report
    assert "task mqtt-goodbye:" in report
    assert "waits_for_the_broker" in report and "test_runtime.py" in report


async def test_a_disarmed_stop_deadline_does_nothing():
    exits: list[int] = []
    deadline = StopDeadline(0.1, exits.append)
    deadline.arm()
    deadline.disarm()
    await asyncio.sleep(0.3)
    assert exits == []
