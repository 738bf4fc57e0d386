"""The event loop qbutler runs on, and stopping it on a signal, on Linux and on Windows.

Linux and macOS: uvloop where installed (faster sockets), signals through the loop. Windows:
asyncio's selector loop, because the MQTT client (paho's sockets, watched with `add_reader`)
cannot run on the default proactor loop; it has no `add_signal_handler`, so Ctrl+C, Ctrl+Break
and a service manager's stop arrive through `signal.signal` instead, and a short timer makes sure
the loop notices them while it waits in `select()`.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

# How often the Windows fallback wakes the loop to run a pending signal handler.
WAKE_SECONDS = 0.5


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
