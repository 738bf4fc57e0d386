"""/health and /health/ready: 503 naming the component while the broker, QRS or the outbox is
unhealthy, 200 again once it recovers; Butler's Docker health-check port serves the same."""

from __future__ import annotations

from pathlib import Path

import httpx
from alertkit import HttpReceiver

from support.net import free_port
from support.qbutler import running_service
from support.sense import Control, sense_config
from support.waiting import until


async def ready(client: httpx.AsyncClient) -> tuple[int, dict]:
    answer = await client.get("/health/ready")
    return answer.status_code, answer.json()


async def test_readiness_follows_the_broker_qrs_and_the_outbox(site, control: Control, receiver: HttpReceiver,
                                                              mosquitto, tmp_path: Path):
    docker_port = free_port()
    config = sense_config(
        site, serviceMonitor={"enable": True, "frequency": "every 1 seconds"},
        mqttConfig={"enable": True, "brokerHost": "127.0.0.1", "brokerPort": mosquitto.port,
                    "reconnectMinDelaySeconds": 0.1, "reconnectMaxDelaySeconds": 0.3},
        dockerHealthCheck={"enable": True, "port": docker_port, "host": "127.0.0.1"},
        qbutler={"dataDirectory": "data", "readiness": {"maxOutboxAgeSeconds": 1}},
        alertDelivery={"initialBackoffSeconds": 0.2, "maxBackoffSeconds": 0.5, "maxAttempts": 50},
        webhookNotification={"serviceMonitor": {"webhooks": [
            {"webhookURL": receiver.url("/hook"), "httpMethod": "POST"}]}})
    async with running_service(config, tmp_path / "q") as running, running.client() as client:
        await running.service.mqtt.wait_connected()
        assert (await client.get("/health")).json() == {"statusCode": 200, "status": "ok"}
        await until(lambda: running.service.watch.services.runs >= 1)
        status, report = await ready(client)
        assert status == 200 and report["unhealthy"] == []
        assert {"rest", "kv", "qrs", "outbox", "mqtt", "watch.serviceMonitor"} <= set(report["components"])
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{docker_port}") as docker:
            assert (await docker.get("/health")).status_code == 200
            assert (await docker.get("/health/ready")).status_code == 200
            assert (await docker.get("/v4/butlerping")).status_code == 404

        # The real broker stopped, then started again.
        mosquitto.stop()
        await until(lambda: not running.service.mqtt.connected, within=10)
        status, report = await ready(client)
        assert status == 503 and report["unhealthy"] == ["mqtt"]
        mosquitto.start()
        await until(lambda: running.service.mqtt.connected, within=15)
        assert (await ready(client))[0] == 200

        # QRS unreachable (its listener closed: connections refused), then back.
        await control.client.put("/qrs/reachable", json={"reachable": False})
        await until(lambda: _unhealthy(client, "qrs"), within=5)
        status, report = await ready(client)
        assert "ConnectError" in report["components"]["qrs"]["error"]
        await control.client.put("/qrs/reachable", json={"reachable": True})
        await until(lambda: _status(client, 200), within=10)
        # QRS answering 503.
        await control.fault(service="qrs", match="/qrs/about", status=503)
        await until(lambda: _unhealthy(client, "qrs"), within=5)
        await control.client.delete("/faults")
        await until(lambda: _status(client, 200), within=5)

        # A webhook receiver refusing: the alert waits in the outbox, which gets too old.
        receiver.script("/hook", *[(503, {})] * 200)
        await control.client.put("/services/sensesim-node1/Proxy", json={"state": "Disabled"})
        await until(lambda: _unhealthy(client, "outbox"), within=10)
        status, report = await ready(client)
        assert report["components"]["outbox"]["depth"] == 1
        receiver.scripts["/hook"].clear()
        await until(lambda: _status(client, 200), within=10)
        assert len(receiver.at("/hook")) == 1


async def _unhealthy(client: httpx.AsyncClient, component: str) -> bool:
    status, report = await ready(client)
    return status == 503 and component in report["unhealthy"]


async def _status(client: httpx.AsyncClient, wanted: int) -> bool:
    return (await ready(client))[0] == wanted
