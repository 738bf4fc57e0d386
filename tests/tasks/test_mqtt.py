"""MQTT end to end with a real Mosquitto: starting tasks from messages, publishing, reconnects, the outbox,
the retained status topic and its last will, TLS with username and password."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest

from support.brokers import Mosquitto
from support.qbutler import base_config, running_service
from support.waiting import until

SALES = "Reload Sales Dashboard"
# Started as root, mosquitto switches to its own user, who cannot enter pytest's private folders.
OWN_USER = f"user {getpass.getuser()}\n"
FAST_RECONNECT = {"reconnectMinDelaySeconds": 0.05, "reconnectMaxDelaySeconds": 0.2}


def mqtt_config(broker: Mosquitto, **options) -> dict:
    return {"enable": True, "brokerHost": broker.host, "brokerPort": broker.port, **FAST_RECONNECT, **options}


class Subscriber:
    """A real MQTT client collecting what arrives on `topic`."""

    def __init__(self, client: aiomqtt.Client):
        self.client = client
        self.messages: list[tuple[str, str, bool]] = []
        self._arrived = asyncio.Event()

    async def _read(self) -> None:
        async for message in self.client.messages:
            self.messages.append((str(message.topic), message.payload.decode(), bool(message.retain)))
            self._arrived.set()

    async def wait_for(self, count: int, topic: str | None = None, within: float = 5.0) -> list[str]:
        async with asyncio.timeout(within):
            while len(self.payloads(topic)) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.payloads(topic)

    def payloads(self, topic: str | None = None) -> list[str]:
        return [p for t, p, _ in self.messages if topic is None or t == topic]


@contextlib.asynccontextmanager
async def subscriber(broker: Mosquitto, topic: str, **options) -> AsyncIterator[Subscriber]:
    async with aiomqtt.Client(broker.host, broker.port, **options) as client:
        await client.subscribe(topic, qos=1)
        sub = Subscriber(client)
        reader = asyncio.create_task(sub._read())
        try:
            yield sub
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await reader


async def test_message_on_start_topic_starts_the_task(connect, mosquitto):
    async with connect(mqttConfig=mqtt_config(mosquitto)) as c:
        mqtt = c.running.service.mqtt
        async with asyncio.timeout(5):
            await mqtt.wait_connected()
        sales = c.task_ids[SALES]
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
            # Any case and a trailing newline are accepted; an exact topic match is required.
            await client.publish("qliksense/start_task", sales.upper() + "\n", qos=1)
            await client.publish("qliksense/start_task/extra", sales, qos=1)
            await client.publish("qliksense/start_task", "not-a-task", qos=1)
        await until(c.starts)
        await asyncio.sleep(0.2)
        assert await c.starts() == [sales]


async def test_mqtt_start_obeys_the_start_task_filter(connect, mosquitto):
    async with connect() as c:
        sales, finance = c.task_ids[SALES], c.task_ids["Reload Finance Report"]
    allow = {"enable": True, "allowTask": {"taskId": [finance]}}
    async with connect(mqttConfig=mqtt_config(mosquitto), startTaskFilter=allow) as c:
        async with asyncio.timeout(5):
            await c.running.service.mqtt.wait_connected()
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
            await client.publish("qliksense/start_task", sales, qos=1)
            await client.publish("qliksense/start_task", finance, qos=1)
        await until(c.starts)
        await asyncio.sleep(0.2)
        assert await c.starts() == [finance]


async def test_publish_endpoint_is_observed_by_a_subscriber(mosquitto, tmp_path):
    config = base_config(mqttConfig=mqtt_config(mosquitto))
    async with subscriber(mosquitto, "qliksense/#") as sub, running_service(config, tmp_path) as running:
        async with asyncio.timeout(5):
            await running.service.mqtt.wait_connected()
        async with running.client() as api:
            response = await api.put("/v4/mqttpublishmessage",
                                     json={"topic": "qliksense/etl/done", "message": 20201028, "extra": 1})
        assert response.status_code == 201
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        assert response.text == '{"topic":"qliksense/etl/done","message":"20201028","extra":1}'
        assert await sub.wait_for(1, "qliksense/etl/done") == ["20201028"]
        status = await sub.wait_for(1, "qliksense/butler/mqtt/status")
        assert status[0].startswith(f"Connected to MQTT broker {mosquitto.host}:{mosquitto.port} with client ID ")


async def test_publish_validation(mosquitto, tmp_path):
    async with running_service(base_config(mqttConfig=mqtt_config(mosquitto)), tmp_path) as running:
        async with running.client() as api:
            response = await api.put("/v4/mqttpublishmessage", json={"message": "x"})
    assert response.status_code == 400
    assert response.json()["message"] == "body must have required property 'topic'"


async def test_publish_when_mqtt_is_disabled_is_a_prompt_503(tmp_path):
    async with running_service(base_config(), tmp_path) as running, running.client() as api:
        async with asyncio.timeout(2):
            response = await api.put("/v4/mqttpublishmessage", json={"topic": "a/b", "message": "x"})
    assert response.status_code == 503
    assert response.json()["message"] == ("Failed publishing MQTT message: MQTT is disabled "
                                          "(Butler.mqttConfig.enable)")


class PersistentMosquitto(Mosquitto):
    """Keeps subscriptions and queued QoS 1 messages across a restart, so a test subscriber misses nothing."""

    def command(self) -> list[str]:
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"{OWN_USER}"
            f"persistence_location {self.workdir}/\nlog_dest stdout\n", encoding="utf-8")
        return [self.binary, "-c", str(conf)]


async def test_messages_published_while_broker_is_down_are_delivered_after_reconnect(tmp_path):
    broker = PersistentMosquitto(tmp_path / "broker")
    broker.start()
    session = {"identifier": "test-subscriber", "clean_session": False}
    try:
        async with subscriber(broker, "etl/#", **session):
            pass  # the broker now keeps this subscription and queues for it
        config = base_config(mqttConfig=mqtt_config(broker))
        async with running_service(config, tmp_path / "q") as running, running.client() as api:
            mqtt = running.service.mqtt
            async with asyncio.timeout(5):
                await mqtt.wait_connected()
            await api.put("/v4/mqttpublishmessage", json={"topic": "etl/1", "message": "before"})
            broker.stop()
            await until(lambda: not mqtt.connected)
            for n in range(3):
                response = await api.put("/v4/mqttpublishmessage",
                                         json={"topic": f"etl/{n + 2}", "message": f"m{n}"})
                assert response.status_code == 201
            assert len(mqtt.outbox) == 3
            broker.start()
            await until(lambda: mqtt.connected and not mqtt.outbox, within=10)
        async with subscriber(broker, "etl/#", **session) as sub:
            assert await sub.wait_for(4) == ["before", "m0", "m1", "m2"]
    finally:
        broker.stop()


async def test_full_outbox_gives_503_without_hanging(mosquitto, tmp_path):
    config = base_config(mqttConfig=mqtt_config(mosquitto, outboxSize=2))
    async with running_service(config, tmp_path) as running, running.client() as api:
        async with asyncio.timeout(5):
            await running.service.mqtt.wait_connected()
        mosquitto.stop()
        await until(lambda: not running.service.mqtt.connected)
        async with asyncio.timeout(3):
            answers = [await api.put("/v4/mqttpublishmessage", json={"topic": "a/b", "message": str(n)})
                       for n in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 503]
    assert answers[2].json()["message"] == (
        f"Failed publishing MQTT message: MQTT broker {mosquitto.host}:{mosquitto.port} is unreachable and the "
        "outbox is full (2 messages)")


async def test_status_topic_online_then_offline_on_clean_stop(mosquitto, tmp_path):
    config = base_config(mqttConfig=mqtt_config(mosquitto))
    async with running_service(config, tmp_path) as running:
        async with asyncio.timeout(5):
            await running.service.mqtt.wait_connected()
        async with subscriber(mosquitto, "qliksense/qbutler/status") as sub:
            assert await sub.wait_for(1) == ["online"]
            assert sub.messages[0][2] is True  # retained
    async with subscriber(mosquitto, "qliksense/qbutler/status") as sub:
        assert await sub.wait_for(1) == ["offline"]


async def test_last_will_says_offline_when_the_process_dies(mosquitto, qbutler_process):
    process = qbutler_process(base_config(mqttConfig=mqtt_config(mosquitto)))
    async with subscriber(mosquitto, "qliksense/qbutler/status") as sub:
        assert await sub.wait_for(1, within=10) == ["online"]
        process.kill()
        assert await sub.wait_for(2, within=10) == ["online", "offline"]


class SecureMosquitto(Mosquitto):
    """TLS listener with the simulator's server certificate, and a password file."""

    def __init__(self, workdir: Path, certs: Path):
        super().__init__(workdir)
        self.certs = certs

    def command(self) -> list[str]:
        self.workdir.mkdir(parents=True, exist_ok=True)
        passwords = self.workdir / "passwords"
        passwords.write_text("", encoding="utf-8")
        subprocess.run(["mosquitto_passwd", "-b", str(passwords), "qbutler", "s3cret"], check=True)
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous false\npassword_file {passwords}\n"
            f"cafile {self.certs / 'root.pem'}\ncertfile {self.certs / 'server.pem'}\n"
            f"keyfile {self.certs / 'server_key.pem'}\npersistence false\nlog_dest stdout\n{OWN_USER}",
            encoding="utf-8")
        return [self.binary, "-c", str(conf)]


@pytest.fixture
def secure_broker(tmp_path, sense_certs):
    from sensesim.certs import ensure_certs

    ensure_certs(sense_certs)
    broker = SecureMosquitto(tmp_path / "secure-broker", sense_certs)
    broker.start()
    yield broker
    broker.stop()


async def test_tls_with_username_and_password(secure_broker, sense_certs, tmp_path):
    tls = {"enable": True, "ca": str(sense_certs / "root.pem")}
    good = mqtt_config(secure_broker, username="qbutler", password="s3cret", tls=tls)
    async with running_service(base_config(mqttConfig=good), tmp_path / "good") as running:
        async with asyncio.timeout(5):
            await running.service.mqtt.wait_connected()
        async with running.client() as api:
            response = await api.put("/v4/mqttpublishmessage", json={"topic": "x/y", "message": "secure"})
        assert response.status_code == 201 and not running.service.mqtt.outbox
    bad = mqtt_config(secure_broker, username="qbutler", password="wrong", tls=tls)
    async with running_service(base_config(mqttConfig=bad), tmp_path / "bad") as running:
        await asyncio.sleep(0.5)
        assert not running.service.mqtt.connected


async def test_missing_tls_file_stops_start_up_with_a_clear_message(mosquitto, tmp_path):
    config = base_config(mqttConfig=mqtt_config(mosquitto, tls={"enable": True, "ca": "missing/ca.pem"}))
    with pytest.raises(RuntimeError) as caught:
        async with running_service(config, tmp_path):
            pass
    assert str(caught.value) == f"Butler.mqttConfig.tls.ca: file not found: {tmp_path / 'missing/ca.pem'}"
