"""aiohttp (QRS calls, alert deliveries, watch probes) imported off the event loop.

Importing it takes about 0.1 s of CPU. Imported inside a coroutine, it would stop the loop for
that long: the site watch's first poll, made while qbutler starts, held the first answer of the
REST API back by that much. `load_http_client()` imports it in a worker thread instead.
"""

from __future__ import annotations

import asyncio

_loaded = False


def import_http_client() -> None:
    import aiohttp  # noqa: F401
    import certifi  # noqa: F401
    import yarl  # noqa: F401


async def load_http_client() -> None:
    """Return once aiohttp is imported, without holding up the event loop while it is."""
    global _loaded
    if not _loaded:
        # Python's import lock makes callers that arrive together wait for one import.
        await asyncio.to_thread(import_http_client)
        _loaded = True
