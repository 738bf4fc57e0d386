"""The log4net parser and the UDP listener: what is accepted, what is dropped and why, and that no
datagram, however malformed, stops the listener."""

from __future__ import annotations

import asyncio
import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qbutler.alerts.config import UdpServerConfig
from qbutler.events.log4net import DatagramError, TaskEvent, parse
from qbutler.events.udp import UdpListener
from support.waiting import until

TASK, APP, EXEC = ("dec2a02a-1680-44ef-8dc2-e2bfb180af87", "e7af59a0-c243-480d-9571-08727551a66f",
                   "14a81bf5-f81c-4047-b1a1-193b0920de28")
REAL_FAILURE = (f"/scheduler-task-failed/;pro2-win1;Manually triggered reload of Test failing reloads 2;"
                f"Test failing reloads 2;LAB\\goran;{TASK};{APP};2021-02-16 09:24:59,099;INFO;{EXEC};"
                f"Max retries reached")


def datagram(marker: str = "/scheduler-task-failed/", execution: str = EXEC, **fields: str) -> bytes:
    values = {"host": "node1", "task": "Reload", "app": "App", "user": "LAB\\goran", "task_id": TASK,
              "app_id": APP, "ts": "2024-01-10 06:47:52,992", "level": "INFO", "message": "Max retries reached"}
    values.update(fields)
    parts = [marker, values["host"], values["task"], values["app"], values["user"], values["task_id"],
             values["app_id"], values["ts"], values["level"], execution, values["message"]]
    return ";".join(parts).encode()


def test_butlers_real_failure_datagram_parses_field_by_field():
    event = parse(REAL_FAILURE.encode())
    assert event == TaskEvent(outcome="failed", marker="/scheduler-task-failed/", hostName="pro2-win1",
                              taskName="Manually triggered reload of Test failing reloads 2",
                              appName="Test failing reloads 2", user="LAB\\goran", taskId=TASK, appId=APP,
                              logTimeStamp="2021-02-16 09:24:59,099", logLevel="INFO", executionId=EXEC,
                              logMessage="Max retries reached")


@pytest.mark.parametrize(("marker", "outcome"), [
    ("/scheduler-task-failed/", "failed"), ("/scheduler-reload-failed/", "failed"),
    ("/scheduler-reloadtask-failed/", "failed"), ("/scheduler-task-aborted/", "aborted"),
    ("/scheduler-reload-aborted/", "aborted"), ("/scheduler-task-success/", "success"),
    # Butler's shipped appender sends this double-slash form, which Butler itself rejects.
    ("/scheduler-task-success//", "success"), ("/scheduler-reloadtask-success/", "success"),
    ("/SCHEDULER-TASK-FAILED/", "failed"),
])
def test_every_scheduler_marker_is_accepted(marker: str, outcome: str):
    assert parse(datagram(marker)).outcome == outcome


@pytest.mark.parametrize(("payload", "reason"), [
    (b"/engine-reload-failed/;host;app;name;dir;user;ts;exec;msg", "malformed"),  # app id not a GUID
    (b"/scheduler-something/;a;b", "unknown"),
    (b"/scheduler-task-failed/;too;few;fields", "malformed"),
    (datagram(task="a;b"), "malformed"),  # a ';' in the task name shifts every field
    (datagram(task_id="not-a-guid"), "malformed"),
    (datagram(app_id="123"), "malformed"),
    (datagram(execution=""), "malformed"),
])
def test_unusable_datagrams_are_refused_with_a_reason(payload: bytes, reason: str):
    with pytest.raises(DatagramError) as refused:
        parse(payload)
    assert refused.value.reason == reason


def test_a_distribute_datagram_waits_for_qrs_to_say_how_it_ended():
    event = parse(datagram("/scheduler-distribute/", message="Exiting execute of Distribute task request."))
    assert event.outcome == "distribute" and event.taskId == TASK and event.source == "scheduler"
    # At least 11 fields: a ';' in the message stays in the message.
    assert parse(datagram("/scheduler-distribute/", message="Exiting; done")).logMessage == "Exiting; done"


def test_an_engine_reload_failure_is_a_failed_reload_without_a_task():
    event = parse(f"/engine-reload-failed/;node1;{APP};Sales;ACME;anna;2024-01-10 07:05:00,001;{EXEC};"
                  "Field not found".encode())
    assert event == TaskEvent(outcome="failed", marker="/engine-reload-failed/", hostName="node1", taskName="",
                              appName="Sales", user="ACME\\anna", taskId="", appId=APP,
                              logTimeStamp="2024-01-10 07:05:00,001", logLevel="", executionId=EXEC,
                              logMessage="Field not found", source="engine")
    with pytest.raises(DatagramError):
        parse(f"/engine-reload-failed/;node1;{APP};Sales;ACME;anna;ts;{EXEC};a;b".encode())  # 10 fields


def test_fields_lose_control_characters_and_are_cut_to_500():
    event = parse(datagram(task="Re\x00lo\x1bad" + "x" * 600, app_id=""))
    assert event.taskName == "Reload" + "x" * 494 and event.appId == ""


@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_escape_as_anything_but_a_refusal(payload: bytes):
    try:
        parse(payload)
    except DatagramError:
        pass


@given(st.lists(st.text(max_size=80), min_size=11, max_size=11))
def test_arbitrary_eleven_field_datagrams_parse_or_are_refused(fields: list[str]):
    fields[0] = "/scheduler-task-failed/"
    try:
        event = parse(";".join(fields).encode("utf-8", "surrogatepass"))
    except DatagramError:
        return
    assert event.executionId == fields[9].strip().lower()


# ----------------------------------------------------------------------------- the listener


async def listening(handled: list[TaskEvent], block: asyncio.Event | None = None, **settings_: object) -> UdpListener:
    async def handler(event: TaskEvent, received_at: float) -> None:
        if block is not None:
            await block.wait()
        handled.append(event)

    listener = UdpListener(UdpServerConfig(enable=True, serverHost="127.0.0.1", portTaskFailure=0, **settings_),
                           handler)
    await listener.start()
    return listener


def send(listener: UdpListener, *payloads: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for payload in payloads:
            sock.sendto(payload, ("127.0.0.1", listener.port))


async def test_oversized_datagrams_are_dropped_and_counted():
    handled: list[TaskEvent] = []
    listener = await listening(handled, maxMessageSize=300)
    try:
        send(listener, datagram(message="x" * 400), datagram(execution="14a81bf5-f81c-4047-b1a1-193b0920de29"))
        await until(lambda: len(handled) == 1 and listener.drops["size"] == 1, within=15)
    finally:
        await listener.stop()


async def test_source_validation_fails_closed_when_nothing_resolves():
    handled: list[TaskEvent] = []
    listener = await listening(handled, enableSourceValidation=True, allowedSources=["no-such-host.invalid"])
    try:
        send(listener, datagram())
        await until(lambda: listener.drops["source"] == 1, within=15)
        assert handled == []
    finally:
        await listener.stop()


async def test_an_allowed_source_passes_validation():
    handled: list[TaskEvent] = []
    listener = await listening(handled, enableSourceValidation=True, allowedSources=["10.1.2.3", "localhost"])
    try:
        send(listener, datagram())
        await until(lambda: len(handled) == 1, within=15)
    finally:
        await listener.stop()


async def test_rate_limit_and_full_queue_drop_with_their_reasons():
    handled: list[TaskEvent] = []
    block = asyncio.Event()
    listener = await listening(handled, block, rateLimit={"enable": True, "maxMessagesPerMinute": 5},
                               messageQueue={"maxConcurrent": 1, "maxSize": 2})
    try:
        send(listener, *(datagram(execution=f"14a81bf5-f81c-4047-b1a1-{n:012d}") for n in range(8)))
        # One is being handled (blocked), two wait, two find the queue full, three exceed the rate.
        await until(lambda: listener.drops["rate_limit"] == 3 and listener.drops["queue_full"] == 2, within=15)
        block.set()
        await until(lambda: len(handled) == 3, within=15)
    finally:
        await listener.stop()


@settings(max_examples=15, suppress_health_check=list(HealthCheck), deadline=None)
@given(st.lists(st.binary(max_size=1500) | st.builds(lambda b: b"/scheduler-task-failed/;" + b, st.binary()),
                min_size=1, max_size=100))
def test_malformed_datagrams_never_stop_the_listener(garbage: list[bytes]):
    async def scenario() -> None:
        handled: list[TaskEvent] = []
        listener = await listening(handled)
        try:
            send(listener, *garbage, datagram())
            await until(lambda: len(handled) >= 1, within=15)
            assert listener.received == len(garbage) + 1
            assert handled[-1].executionId == EXEC
        finally:
            await listener.stop()

    asyncio.run(scenario())
