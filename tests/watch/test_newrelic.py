"""New Relic from the site watch, against real HTTP receivers: a Sense service that sensesim stops
and starts becomes one event and one log entry per configured account (Butler's body, headers,
gzip), the state switches hold back what they switch off; the uptime monitor posts its gauges to
the Metric API at its frequency."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import logging
from pathlib import Path
from typing import Any

import orjson
from alertkit import HttpReceiver

from qbutler import __version__
from support.qbutler import base_config, merge, running_service
from support.sense import Control, sense_config
from support.waiting import until

NODE = "sensesim-node1"
SCHEDULER = "QlikSenseSchedulerService"
ACCOUNTS = [{"accountName": "Prod", "insertApiKey": "key-prod", "accountId": 12345},
            {"accountName": "Team", "insertApiKey": "key-team", "accountId": "777"}]
PROD_EVENTS = "/nr/v1/accounts/12345/events"
TEAM_EVENTS = "/nr/v1/accounts/777/events"
LOGS = "/nr-log/log/v1"


def unzipped(request: Any) -> Any:
    assert request.headers["content-encoding"] == "gzip"
    return orjson.loads(gzip.decompress(request.body))


def service_config(site: Any, receiver: HttpReceiver, **service_monitor: Any) -> dict[str, Any]:
    """Events to Prod and Team (and a name no account has), logs to Prod; `incidentTool.newRelic`
    itself off, which Butler does not check for service states."""
    destination = {"enable": True, "attribute": {"static": [{"name": "kind", "value": "event"}]}}
    monitor = {
        "destination": {
            "event": {**destination, "sendToAccount": ["Prod", "Team", "Nobody", "Prod"]},
            "log": {"enable": True, "sendToAccount": ["Prod"],
                    "attribute": {"static": [{"name": "kind", "value": "log"}],
                                  "dynamic": {"serviceHost": True, "serviceName": False,
                                              "serviceDisplayName": True, "serviceState": True}}}},
        "monitorServiceState": {"running": {"enable": True}, "stopped": {"enable": True}},
        "sharedSettings": {"rateLimit": 300, "header": [{"name": "X-Env", "value": "prod"}],
                           "attribute": {"static": [{"name": "service", "value": "qbutler"},
                                                    {"name": "kind", "value": "shared"}]}},
    }
    return sense_config(
        site,
        serviceMonitor={"enable": True, "frequency": "every 1 seconds"},
        thirdPartyToolsCredentials={"newRelic": ACCOUNTS},
        incidentTool={"newRelic": {"enable": False,
                                   "url": {"event": receiver.url("/nr"), "log": receiver.url(LOGS)},
                                   "serviceMonitor": merge(monitor, service_monitor)}},
        alertDelivery={"initialBackoffSeconds": 0.05, "maxBackoffSeconds": 0.5, "timeoutSeconds": 5},
    )


async def polls(service: Any, count: int) -> None:
    monitor = service.watch.services
    target = monitor.runs + count
    await until(lambda: monitor.runs >= target, within=10)
    await service.alerts.deliverer.wait_idle()


def delivered(receiver: HttpReceiver) -> list[int]:
    return [len(receiver.at(path)) for path in (PROD_EVENTS, TEAM_EVENTS, LOGS)]


async def test_a_service_that_stops_and_starts_is_one_event_and_log_per_account_each_time(
        site, control: Control, receiver: HttpReceiver, tmp_path: Path, caplog):
    caplog.set_level(logging.WARNING, logger="qbutler")
    receiver.script(PROD_EVENTS, (500, {}))  # retried through the outbox: still one delivery
    async with running_service(service_config(site, receiver), tmp_path / "q") as running:
        await polls(running.service, 1)
        assert receiver.requests == []  # first seen running: silent, as Butler
        await control.client.put(f"/services/{NODE}/Scheduler", json={"state": "NoCommunication"})
        await until(lambda: delivered(receiver) == [1, 1, 1], within=15)
        await polls(running.service, 2)
        assert delivered(receiver) == [1, 1, 1]
        await control.client.put(f"/services/{NODE}/Scheduler", json={"state": "Running"})
        await until(lambda: delivered(receiver) == [2, 2, 2], within=15)
        await polls(running.service, 2)
        await asyncio.sleep(0.2)
    assert delivered(receiver) == [2, 2, 2]
    assert len(receiver.at(PROD_EVENTS, delivered_only=False)) == 3
    assert 'New Relic account name "Nobody" does not exist' in caplog.text

    # Events: POST to <url.event>/v1/accounts/<id>/events with each account's insert key.
    stopped, started = receiver.at(PROD_EVENTS)
    [team_stopped, _] = receiver.at(TEAM_EVENTS)
    assert stopped.method == "POST" and stopped.headers["api-key"] == "key-prod"
    assert team_stopped.headers["api-key"] == "key-team"
    assert stopped.headers["content-type"] == "application/json; charset=utf-8"
    assert stopped.headers["x-env"] == "prod"
    # Butler's body: shared static, the destination's static (later wins), the butler_* facts, the type.
    assert unzipped(stopped) == [{
        "service": "qbutler", "kind": "event", "butler_serviceHost": NODE, "butler_serviceName": SCHEDULER,
        "butler_serviceDisplayName": "Qlik Sense Scheduler Service", "butler_serviceStatus": "STOPPED",
        "eventType": "qs_serviceStateEvent"}]
    assert list(unzipped(stopped)[0]) == ["service", "kind", "butler_serviceHost", "butler_serviceName",
                                          "butler_serviceDisplayName", "butler_serviceStatus", "eventType"]
    assert unzipped(started)[0]["butler_serviceStatus"] == "RUNNING"
    assert unzipped(team_stopped) == unzipped(stopped)

    # Log entries: to url.log as is; serviceName switched off for logs.
    stopped_log, started_log = receiver.at(LOGS)
    assert stopped_log.headers["api-key"] == "key-prod" and stopped_log.headers["x-env"] == "prod"
    assert unzipped(stopped_log) == [{
        "common": {"attributes": {"service": "qbutler", "kind": "log", "butler_serviceHost": NODE,
                                  "butler_serviceDisplayName": "Qlik Sense Scheduler Service",
                                  "butler_serviceStatus": "STOPPED", "logtype": "qs_serviceStateLog"}},
        "logs": [{"message": f'Windows service "Qlik Sense Scheduler Service" on host "{NODE}" is STOPPED.'}]}]
    [started_entry] = unzipped(started_log)
    assert started_entry["logs"][0]["message"].endswith(f'on host "{NODE}" is RUNNING.')


async def test_the_state_and_destination_switches_hold_back_what_they_switch_off(
        site, control: Control, receiver: HttpReceiver, tmp_path: Path, caplog):
    caplog.set_level(logging.WARNING, logger="qbutler")
    config = service_config(site, receiver, monitorServiceState={"stopped": {"enable": False}},
                            destination={"log": {"enable": False}})
    async with running_service(config, tmp_path / "q") as running:
        await polls(running.service, 1)
        await control.client.put(f"/services/{NODE}/Scheduler", json={"state": "NoCommunication"})
        await polls(running.service, 3)
        assert receiver.requests == []  # stopped is switched off
        await control.client.put(f"/services/{NODE}/Scheduler", json={"state": "Running"})
        await until(lambda: delivered(receiver) == [1, 1, 0], within=15)
        await polls(running.service, 2)
    assert delivered(receiver) == [1, 1, 0] and len(receiver.requests) == 2
    assert unzipped(receiver.at(PROD_EVENTS)[0])[0]["butler_serviceStatus"] == "RUNNING"
    # Butler would send the logs anyway; qbutler says once that it does not.
    assert "serviceMonitor.destination.log lists New Relic accounts but its enable is false" in caplog.text

    # alertDestination.newRelic off: nothing at all.
    receiver.requests.clear()
    config = service_config(site, receiver, monitorServiceState={"stopped": {"enable": True}})
    config["Butler"]["serviceMonitor"]["alertDestination"] = {"newRelic": {"enable": False}}
    async with running_service(config, tmp_path / "q2") as running:
        await polls(running.service, 1)
        await control.client.put(f"/services/{NODE}/Scheduler", json={"state": "NoCommunication"})
        await polls(running.service, 3)
        await control.client.put(f"/services/{NODE}/Scheduler", json={"state": "Running"})
        await polls(running.service, 3)
        assert running.service.watch.services.changes == 2
    assert receiver.requests == []


def uptime_config(receiver: HttpReceiver, **store: Any) -> dict[str, Any]:
    settings = {"enable": True, "destinationAccount": ["Prod", "Team"], "url": receiver.url("/metric/v1"),
                "header": [{"name": "X-My-Header", "value": "Header value"}],
                "attribute": {"static": [{"name": "service", "value": "qbutler"},
                                         {"name": "environment", "value": "test"}]}}
    return base_config(uptimeMonitor={"enable": True, "frequency": "every 1 seconds", "logLevel": "info",
                                      "storeNewRelic": merge(settings, store)},
                       thirdPartyToolsCredentials={"newRelic": ACCOUNTS})


async def test_uptime_metrics_reach_every_account_at_the_monitors_frequency(receiver: HttpReceiver, tmp_path: Path):
    async with running_service(uptime_config(receiver), tmp_path / "q") as running:
        monitor = running.service.watch.uptime
        while monitor.runs < 5:
            await asyncio.wait_for(monitor.wait_run(), 10)
        posts = receiver.at("/metric/v1")
        assert len(posts) == 2 * monitor.runs and monitor.newrelic.sent == len(posts)
        assert monitor.failures_in_a_row == 0
    by_key = {key: [p for p in posts if p.headers["api-key"] == key] for key in ("key-prod", "key-team")}
    assert len(by_key["key-prod"]) >= 4 and abs(len(by_key["key-prod"]) - len(by_key["key-team"])) <= 1
    first = by_key["key-prod"][0]
    assert first.method == "POST" and first.headers["content-type"] == "application/json; charset=utf-8"
    assert first.headers["x-my-header"] == "Header value"
    [block] = unzipped(first)
    common = block["common"]
    assert common["interval.ms"] == 1000
    assert common["attributes"] == {"service": "qbutler", "environment": "test", "version": __version__}
    assert [(m["name"], m["type"]) for m in block["metrics"]] == [
        ("qs_butlerProcessMem", "gauge"), ("qs_butlerUptimeMillisec", "gauge")]
    memory, uptime = (m["value"] for m in block["metrics"])
    assert 10 * 2**20 < memory < 4 * 2**30 and 0 <= uptime <= 2500
    # One post per account and tick, on the schedule's seconds; the uptime grows with them.
    blocks = [unzipped(p)[0] for p in by_key["key-prod"]]
    for values in ([b["common"]["timestamp"] for b in blocks], [b["metrics"][1]["value"] for b in blocks]):
        gaps = [later - earlier for earlier, later in itertools.pairwise(values)]
        assert min(gaps) >= 700 and 800 <= sorted(gaps)[len(gaps) // 2] <= 1200, gaps


async def test_a_refused_uptime_post_is_reported_and_not_retried(receiver: HttpReceiver, tmp_path: Path, caplog):
    caplog.set_level(logging.WARNING, logger="qbutler")
    receiver.script("/metric/v1", (500, {}), (403, {}))
    async with running_service(uptime_config(receiver), tmp_path / "q") as running:
        monitor = running.service.watch.uptime
        await asyncio.wait_for(monitor.wait_run(), 10)
        assert monitor.failures_in_a_row == 1
        while monitor.runs < 3:
            await asyncio.wait_for(monitor.wait_run(), 10)
        # Each tick posts once per account, whatever the previous tick got.
        assert len(receiver.requests) == 2 * monitor.runs and monitor.failures_in_a_row == 0
    assert "uptimeMonitor failed: DeliveryError: New Relic uptime metrics not accepted by Prod: " in caplog.text
    assert "; Team: " in caplog.text and "answered 403" in caplog.text
    assert [r.status for r in receiver.requests[:4]] == [500, 403, 200, 200]


async def test_uptime_metrics_switched_off_send_nothing(receiver: HttpReceiver, tmp_path: Path):
    no_metrics = {"metric": {"dynamic": {"butlerMemoryUsage": {"enable": False}, "butlerUptime": {"enable": False}}}}
    only_uptime = uptime_config(receiver, metric={"dynamic": {"butlerMemoryUsage": {"enable": False}}},
                                attribute={"dynamic": {"butlerVersion": {"enable": False}}})
    for number, config in enumerate((uptime_config(receiver, **no_metrics), uptime_config(receiver, enable=False))):
        async with running_service(config, tmp_path / f"q{number}") as running:
            monitor = running.service.watch.uptime
            while monitor.runs < 2:
                await asyncio.wait_for(monitor.wait_run(), 10)
            assert monitor.failures_in_a_row == 0
        assert receiver.requests == []
    async with running_service(only_uptime, tmp_path / "q3") as running:
        await until(lambda: len(receiver.requests) >= 2, within=10)
    [block] = unzipped(receiver.requests[0])
    assert [m["name"] for m in block["metrics"]] == ["qs_butlerUptimeMillisec"]
    assert "version" not in block["common"]["attributes"]
