"""`qbutler demo --check`: exercise every capability once against the demo site, headless."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import httpx

from qbutler.demo import environment as demo
from qbutler.demo.environment import DemoEnvironment


@dataclass
class Result:
    name: str
    ok: bool
    detail: str
    seconds: float
    skipped: bool = False


async def _until(condition: Callable[[], bool], within: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(step)
    return condition()


def _started(env: DemoEnvironment, task_id: str, since: int) -> bool:
    return any(call.method == "POST" and call.path.lower().startswith(f"/qrs/task/{task_id}/start")
               for call in env.site.state.calls[since:])


class Checks:
    def __init__(self, env: DemoEnvironment, api: httpx.AsyncClient):
        self.env = env
        self.api = api

    async def rest_start(self) -> str:
        task_id = self.env.tasks[demo.SUCCESS_TASK]
        since = len(self.env.site.state.calls)
        response = await self.api.put(f"/v4/reloadtask/{task_id}/start", json=[])
        response.raise_for_status()
        assert task_id in response.text, f"task not in the answer: {response.text[:200]}"
        assert await _until(lambda: _started(self.env, task_id, since), 10), "QRS never got the start call"
        return f"{demo.SUCCESS_TASK} started through QRS"

    async def mqtt_start(self) -> str:
        assert self.env.broker is not None
        task_id = self.env.tasks[demo.MQTT_TASK]
        since = len(self.env.site.state.calls)
        async with aiomqtt.Client("127.0.0.1", self.env.broker.port) as client:
            await client.publish("qliksense/start_task", task_id, qos=1)
        assert await _until(lambda: _started(self.env, task_id, since), 10), "QRS never got the start call"
        return f"{demo.MQTT_TASK} started from qliksense/start_task"

    async def schedule_fires(self) -> str:
        task_id = self.env.tasks[demo.SCHEDULED_TASK]
        since = len(self.env.site.state.calls)
        assert await _until(lambda: _started(self.env, task_id, since), 15), "no firing within 15 s"
        status = (await self.api.get("/v4/schedules/status")).text
        assert "every-10-seconds" in status, "schedule missing from /v4/schedules/status"
        return f"'*/10 * * * * *' started {demo.SCHEDULED_TASK}"

    async def failure_alerts(self) -> str:
        task_id = self.env.tasks[demo.FAILING_TASK]
        channels = ["slack", "webhook"]
        messages: list[str] = []

        async def mqtt_alert() -> None:
            assert self.env.broker is not None
            async with aiomqtt.Client("127.0.0.1", self.env.broker.port) as client:
                await client.subscribe("qliksense/task_failure", qos=1)
                subscribed.set()
                async for message in client.messages:
                    if bytes(message.payload).decode("utf-8", errors="replace") == demo.FAILING_TASK:
                        messages.append("mqtt")
                        return

        subscribed = asyncio.Event()
        listener = asyncio.create_task(mqtt_alert()) if self.env.broker else None
        try:
            if listener:
                await asyncio.wait_for(subscribed.wait(), 10)
            before = {channel: len(self.env.receiver.received(channel)) for channel in channels}
            (await self.api.put(f"/v4/reloadtask/{task_id}/start", json=[])).raise_for_status()

            def delivered(channel: str) -> bool:
                return any(demo.FAILING_TASK in r.text()
                           for r in self.env.receiver.received(channel)[before[channel]:])

            assert await _until(lambda: all(delivered(c) for c in channels), 30), (
                "missing alert on " + ", ".join(c for c in channels if not delivered(c)))
            if listener:
                try:
                    await asyncio.wait_for(asyncio.shield(listener), 15)
                except TimeoutError:
                    raise AssertionError("no failure message on qliksense/task_failure") from None
                channels.append("mqtt")
        finally:
            if listener:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await listener
        return f"{demo.FAILING_TASK} failed; alert on " + ", ".join(channels)

    async def dashboard(self) -> str:
        response = await self.api.get("/ui/")
        assert response.status_code == 200, f"/ui/ answered {response.status_code}"
        failing = response.text.split('id="failing"', 1)[-1].split("</section>", 1)[0]
        shown = [name for name in (demo.FAILING_TASK, demo.FAILING_SCHEDULED_TASK) if name in failing]
        assert demo.FAILING_TASK in shown, f"{demo.FAILING_TASK} is not among the failing tasks on /ui/"
        return f"{self.env.url}/ui/ lists " + " and ".join(shown) + " as failing"

    async def kv_round_trip(self) -> str:
        stamp = str(time.time())
        created = await self.api.post("/v4/keyvalues/demo", json={"key": "lastCheck", "value": stamp, "ttl": 60000})
        assert created.status_code == 201, created.text
        read = await self.api.get("/v4/keyvalues/demo", params={"key": "lastCheck"})
        assert read.json().get("value") == stamp, read.text
        return "POST then GET /v4/keyvalues/demo"

    async def file_copy(self) -> str:
        source = self.env.folder / "files" / "incoming" / "sales_2026-11.qvd"
        target = self.env.folder / "files" / "archive" / "sales_2026-11.qvd"
        response = await self.api.put("/v4/filecopy", json={"fromFile": str(source), "toFile": str(target),
                                                            "overwrite": True, "preserveTimestamp": True})
        assert response.status_code == 201, response.text
        assert target.read_bytes() == source.read_bytes(), "copy differs from the source"
        denied = await self.api.put("/v4/filecopy", json={"fromFile": str(source), "toFile": "/etc/qbutler.qvd"})
        assert denied.status_code == 403, f"copy outside the approved folders answered {denied.status_code}"
        return "copied inside the approved folders; a copy to /etc refused (403)"

    async def app_dump(self) -> str:
        app_id = self.env.apps[demo.DUMP_APP]
        response = await self.api.get(f"/v4/app/{app_id}/dump")
        assert response.status_code == 200, response.text[:200]
        dump = response.json()
        assert list(dump)[-1] == "appId" and dump["sheets"], "dump lacks its sheets"
        return f"{demo.DUMP_APP}: {len(dump['sheets'])} sheets, {len(dump['variables'])} variables"


async def run_checks(folder: Path | None, port: int) -> list[Result]:
    options = demo.Options(folder=folder, port=port, time_scale=0.25, console_log=False)
    results: list[Result] = []
    async with DemoEnvironment(options) as env, httpx.AsyncClient(base_url=env.url, timeout=30) as api:
        checks = Checks(env, api)
        plan: list[tuple[str, Callable[[], Awaitable[str]], bool]] = [
            ("Start a task over REST", checks.rest_start, True),
            ("Start a task over MQTT", checks.mqtt_start, env.broker is not None),
            ("A schedule fires", checks.schedule_fires, True),
            ("Failure alert on every channel", checks.failure_alerts, True),
            ("Dashboard shows the failures", checks.dashboard, True),
            ("Key-value round trip", checks.kv_round_trip, True),
            ("File copy in the sandbox", checks.file_copy, True),
            ("App dump", checks.app_dump, True),
        ]
        for name, check, available in plan:
            if not available:
                results.append(Result(name, True, env.mqtt_note, 0.0, skipped=True))
                continue
            started = time.monotonic()
            try:
                detail = await check()
                results.append(Result(name, True, detail, time.monotonic() - started))
            except Exception as exc:  # every failure is reported in the table, none stops the run
                results.append(Result(name, False, f"{type(exc).__name__}: {exc}", time.monotonic() - started))
    return results
