"""The sqlite backend under SIGKILL: a real `qbutler serve` process, killed with no clean-up at all."""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx

from support.qbutler import base_config


async def write_until_killed(url: str, process, writers: int = 20, kill_after: float = 1.5,
                             kill_after_acknowledged: int = 300, longest: float = 30.0):
    """Writers POST unique keys and overwrite one counter each; the process is SIGKILLed mid-stream.

    The kill comes `kill_after` seconds in, but not before `kill_after_acknowledged` writes were
    acknowledged (at most `longest` seconds): on a busy machine the first second after start-up
    can pass with few answers, and a kill then would prove nothing.
    Returns the unique keys and the last counter value each writer saw acknowledged (201).
    """
    acknowledged: set[str] = set()
    last_count: dict[int, int] = {}
    enough = asyncio.Event()

    async def writer(number: int) -> None:
        # One client (one connection) per writer: a shared pool is slower than the server.
        async with httpx.AsyncClient(base_url=url, timeout=5) as client:
            await write(client, number)

    async def write(client: httpx.AsyncClient, number: int) -> None:
        sequence = 0
        while True:
            sequence += 1
            key = f"w{number}-{sequence}"
            try:
                unique = await client.post("/v4/keyvalues/stream", json={"key": key, "value": key})
                counter = await client.post("/v4/keyvalues/counters",
                                            json={"key": f"w{number}", "value": sequence})
            except httpx.HTTPError:
                return  # the server is gone
            if unique.status_code == 201:
                acknowledged.add(key)
                if len(acknowledged) >= kill_after_acknowledged:
                    enough.set()
            if counter.status_code == 201:
                last_count[number] = sequence

    tasks = [asyncio.create_task(writer(n)) for n in range(writers)]
    await asyncio.sleep(kill_after)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(enough.wait(), longest - kill_after)
    await asyncio.to_thread(process.kill)
    await asyncio.gather(*tasks)
    return acknowledged, last_count


async def test_every_acknowledged_write_survives_sigkill(qbutler_process):
    process = qbutler_process(base_config())
    acknowledged, last_count = await write_until_killed(process.url, process)
    assert len(acknowledged) > 100, "the stream was too short to mean anything"
    process.start()
    async with httpx.AsyncClient(base_url=process.url, timeout=10) as client:
        listed = (await client.get("/v4/keylist/stream")).json()["keys"]
        stored = {item["key"] for item in listed}
        assert acknowledged <= stored, f"{len(acknowledged - stored)} acknowledged writes lost"
        sample = sorted(acknowledged)[:: max(1, len(acknowledged) // 100)]
        for key in sample:
            assert (await client.get("/v4/keyvalues/stream", params={"key": key})).json()["value"] == key
        for number, count in last_count.items():
            value = int((await client.get("/v4/keyvalues/counters", params={"key": f"w{number}"})).json()["value"])
            # The last acknowledged value, or one written but not yet acknowledged when killed.
            assert value in (count, count + 1)


async def test_a_ttl_that_ran_out_while_qbutler_was_down_is_expired_after_restart(qbutler_process):
    process = qbutler_process(base_config())
    async with httpx.AsyncClient(base_url=process.url, timeout=10) as client:
        written = time.monotonic()
        await client.post("/v4/keyvalues/ns", json={"key": "short", "value": "v", "ttl": 1500})
        await client.post("/v4/keyvalues/ns", json={"key": "long", "value": "v", "ttl": 600_000})
        await client.post("/v4/keyvalues/ns", json={"key": "forever", "value": "v"})
    process.kill()
    await asyncio.sleep(max(0.0, 1.7 - (time.monotonic() - written)))
    process.start()
    async with httpx.AsyncClient(base_url=process.url, timeout=10) as client:
        gone = await client.get("/v4/keyvalues/ns", params={"key": "short"})
        assert gone.status_code == 400
        assert gone.json()["message"] == "Key 'short' not found in namespace: ns"
        assert (await client.get("/v4/keylist/ns")).json()["keys"] == [{"key": "long"}, {"key": "forever"}]
