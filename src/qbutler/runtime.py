"""The event loop qbutler runs on, and stopping it on a signal, on Linux and on Windows.

Linux and macOS: uvloop where installed (faster sockets), signals through the loop. Windows:
asyncio's selector loop, because the MQTT client (paho's sockets, watched with `add_reader`)
cannot run on the default proactor loop; it has no `add_signal_handler`, so Ctrl+C, Ctrl+Break
and a service manager's stop arrive through `signal.signal` instead, and a short timer makes sure
the loop notices them while it waits in `select()`.

Stopping has a last-resort deadline (`StopDeadline`): should a clean stop ever hang, the process
logs what was still running and exits anyway, so that a service manager is never left waiting.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger("qbutler")

# How often the Windows fallback wakes the loop to run a pending signal handler.
WAKE_SECONDS = 0.5
# From the stop signal to the forced exit. A clean stop takes well under a second; the longest
# waits it allows itself are the MQTT broker's (2 s for the goodbye, 5 s for the disconnect).
STOP_DEADLINE_SECONDS = 15.0
# The exit status of a forced exit (a clean stop exits with 0).
FORCED_EXIT_STATUS = 1


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine on the loop that suits this platform."""
    if sys.platform == "win32":
        loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.SelectorEventLoop
    else:
        try:
            import uvloop
        except ImportError:
            return asyncio.run(coro)
        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(coro)


def stop_on_signals(stop: asyncio.Event) -> Callable[[], None]:
    """Set `stop` on SIGINT and SIGTERM (and SIGBREAK on Windows); returns what undoes it."""
    loop = asyncio.get_running_loop()
    signals = [signal.SIGINT, signal.SIGTERM]
    try:
        for sig in signals:
            loop.add_signal_handler(sig, stop.set)
    except NotImplementedError:
        return _stop_on_signals_without_loop_support(loop, stop, signals)

    def undo() -> None:
        for sig in signals:
            loop.remove_signal_handler(sig)

    return undo


def _stop_on_signals_without_loop_support(loop: asyncio.AbstractEventLoop, stop: asyncio.Event,
                                          signals: list[signal.Signals]) -> Callable[[], None]:
    if hasattr(signal, "SIGBREAK"):
        signals.append(signal.SIGBREAK)
    previous = {sig: signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set)) for sig in signals}
    wake: asyncio.TimerHandle | None = None

    def tick() -> None:
        nonlocal wake
        wake = loop.call_later(WAKE_SECONDS, tick)

    tick()

    def undo() -> None:
        if wake is not None:
            wake.cancel()
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return undo


class StopDeadline:
    """The last resort if stopping hangs: `seconds` after `arm()`, log every task of the loop with
    where it waits and every thread's stack, then end the process with FORCED_EXIT_STATUS.

    It runs in a daemon thread, so it also covers what follows the service's own stop (the loop
    cancelling leftover tasks and waiting for its worker threads) and a loop that no longer turns;
    when the process exits in time, the thread simply ends with it."""

    def __init__(self, seconds: float = STOP_DEADLINE_SECONDS,
                 exit_process: Callable[[int], object] = os._exit):
        self.seconds = seconds
        self._exit_process = exit_process
        self._timer: threading.Timer | None = None

    def arm(self) -> None:
        """Start counting (from the loop's thread, once stopping begins)."""
        loop = asyncio.get_running_loop()
        self._timer = threading.Timer(self.seconds, self._expired, (loop,))
        self._timer.name = "qbutler-stop-deadline"
        self._timer.daemon = True
        self._timer.start()

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _expired(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            report = still_running(loop)
        except Exception as exc:  # read from another thread while the loop may still change it
            report = f"(could not list what runs: {exc!r})"
        log.error("qbutler did not stop within %gs; exiting with status %d. Still running:\n%s", self.seconds,
                     FORCED_EXIT_STATUS, report)
        self._exit_process(FORCED_EXIT_STATUS)


def still_running(loop: asyncio.AbstractEventLoop) -> str:
    """The loop's tasks, each with the chain of awaits it is suspended in, and every other thread's
    stack (the deadline's own thread left out)."""
    lines = []
    for task in sorted(asyncio.all_tasks(loop), key=lambda task: task.get_name()):
        lines.append(f"task {task.get_name()}:")
        lines += [f"  {where}" for where in _awaits(task.get_coro())]
    frames = sys._current_frames()
    for thread in threading.enumerate():
        frame = frames.get(thread.ident or -1)
        if frame is None or thread is threading.current_thread():
            continue
        lines.append(f"thread {thread.name}:")
        lines += [f"  {line.strip()}" for line in traceback.format_stack(frame)[-6:]]
    return "\n".join(lines)


def _awaits(awaitable: object) -> list[str]:
    """`function (file:line)` for each coroutine or generator in the chain, outermost first."""
    chain = []
    while awaitable is not None:
        frame = next((getattr(awaitable, name) for name in ("cr_frame", "ag_frame", "gi_frame")
                      if getattr(awaitable, name, None) is not None), None)
        if frame is not None:
            chain.append(f"{frame.f_code.co_qualname} ({frame.f_code.co_filename}:{frame.f_lineno})")
        awaitable = next((getattr(awaitable, name) for name in ("cr_await", "ag_await", "gi_yieldfrom")
                          if getattr(awaitable, name, None) is not None), None)
    return chain
