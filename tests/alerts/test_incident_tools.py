"""New Relic and Signl4 against real HTTP receivers: the requests Butler sends (method, path,
headers, bodies), gzip for New Relic, retries until exactly one delivery, and the
/v4/newrelic/event and /v4/newrelic/metric endpoints with Butler's answers."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
from alertkit import FINANCE_TASK, alert_config, site_start, task_id

from support.qbutler import base_config, running_service
from support.waiting import until

ACCOUNTS = [{"accountName": "Prod", "insertApiKey": "key-prod", "accountId": 12345},
            {"accountName": "Team", "insertApiKey": "key-team", "accountId": "777"}]
RETRY_NOW = {"Retry-After": "0"}


def unzipped(request) -> object:
    assert request.headers["content-encoding"] == "gzip"
    return orjson.loads(gzip.decompress(request.body))


def incident_config(receiver) -> dict:
    destination = {"enable": True, "sendToAccount": {"always": {"enable": True, "account": ["Prod"]}},
                   "attribute": {"static": [{"name": "team", "value": "bi"}]}, "tailScriptLogLines": 3}
    return {
        "thirdPartyToolsCredentials": {"newRelic": ACCOUNTS},
        "incidentTool": {
            "newRelic": {"enable": True, "destinationAccount": {"event": ["Team", "Nobody"]},
                         "url": {"event": receiver.url("/nr"), "log": receiver.url("/nr-log/log/v1")},
                         "reloadTaskFailure": {
                             "destination": {"event": destination, "log": destination},
                             "sharedSettings": {"rateLimit": 300, "header": [{"name": "X-Env", "value": "prod"}],
                                                "attribute": {"static": [{"name": "service", "value": "qbutler"}]}}}},
            "signl4": {"enable": True, "url": receiver.url("/s4/team-secret"),
                       "reloadTaskFailure": {"enable": True, "rateLimit": 300, "serviceName": "Qlik Sense",
                                             "severity": 2}}},
    }


async def test_a_failed_reload_reaches_new_relic_and_signl4_once_each_despite_429_and_500(
        site, udp_port, receiver, tmp_path: Path):
    receiver.script("/nr/v1/accounts/12345/events", (429, RETRY_NOW), (500, {}))
    receiver.script("/s4/team-secret", (500, {}))
    config = alert_config(site, udp_port, receiver, **incident_config(receiver))
    async with running_service(config, tmp_path / "q") as running:
        await site_start(site, FINANCE_TASK)
        await until(lambda: receiver.at("/nr/v1/accounts/12345/events") and receiver.at("/nr/v1/accounts/777/events")
                    and receiver.at("/nr-log/log/v1") and receiver.at("/s4/team-secret"), within=20)
        await running.service.alerts.deliverer.wait_idle()
    tid = task_id(site, FINANCE_TASK)

    # Events: the always-account (after 429 and 500) and the legacy list's known account, once each.
    assert len(receiver.at("/nr/v1/accounts/12345/events", delivered_only=False)) == 3
    [prod] = receiver.at("/nr/v1/accounts/12345/events")
    [team] = receiver.at("/nr/v1/accounts/777/events")
    assert prod.method == "POST" and prod.headers["api-key"] == "key-prod" and team.headers["api-key"] == "key-team"
    assert prod.headers["content-type"] == "application/json; charset=utf-8" and prod.headers["x-env"] == "prod"
    [event] = unzipped(prod)
    assert list(event)[:3] == ["service", "team", "version"] and list(event)[-2:] == ["eventType", "deliveryId"]
    # One id per target: the same event to two accounts carries two ids.
    assert event["deliveryId"] != unzipped(team)[0]["deliveryId"]
    assert event["eventType"] == "qs_reloadTaskFailedEvent" and event["qs_taskId"] == tid
    assert event["qs_taskName"] == FINANCE_TASK and event["qs_user"] == "INTERNAL/sa_repository"
    assert event["qs_logMessage"] == "Max retries reached" and event["qs_taskTag_Finance"] == "true"
    assert event["qs_appTag_Finance"] == "true" and "qs_taskTags" not in event
    # Nested objects become JSON text New Relic can store (values are cut to its 4096 characters).
    metadata = event["qs_taskMetadata"]
    assert metadata.startswith(f'{{"id":"{tid}"') and len(metadata) == 4096
    assert event["qs_taskCustomProperties"].startswith('[{"name":"Department","value":"Finance"}')

    # The log entry: execution attributes and the details, a separator, the script log's last lines.
    [log_request] = receiver.at("/nr-log/log/v1")
    assert log_request.headers["api-key"] == "key-prod"
    [entry] = unzipped(log_request)
    attributes = entry["common"]["attributes"]
    assert attributes["logtype"] == "qs_reloadTaskFailedLog" and attributes["qs_exeuctionStatusText"] == "FinishedFail"
    assert attributes["qs_scriptLogTailCount"] == 3 and attributes["qs_executingNodeName"]
    message = entry["logs"][0]["message"]
    details, tail = message.split("\r\n-------------------------------\r\n\r\n")
    assert "Changing task state from Started to FinishedFail" in details
    assert len(tail.split("\r\n")) == 3 and "Execution Failed" in tail

    # Signl4: Butler's body, after one 500.
    assert len(receiver.at("/s4/team-secret", delivered_only=False)) == 2
    [alert] = receiver.at("/s4/team-secret")
    assert alert.headers["content-type"] == "application/json"
    body = alert.json()
    assert body.pop("deliveryId") and body == {
        "Title": "Qlik Sense reload task failed", "Message": f"Task: {FINANCE_TASK}", "Severity": 2,
        "X-S4-Service": "Qlik Sense", "X-S4-ExternalID": tid, "X-S4-Status": "new"}


def rest_config(receiver, metric_accounts: list[str]) -> dict:
    endpoint = {"header": [{"name": "X-Source", "value": "load script"}],
                "attribute": {"static": [{"name": "source", "value": "qbutler"}, {"name": "host", "value": "a"}]}}
    return base_config(
        restServerEndpointsEnable={"newRelic": {"postNewRelicEvent": True, "postNewRelicMetric": True}},
        thirdPartyToolsCredentials={"newRelic": ACCOUNTS},
        restServerEndpointsConfig={"newRelic": {
            "postNewRelicEvent": {**endpoint, "destinationAccount": ["Prod", "Team"], "url": receiver.url("/ev")},
            "postNewRelicMetric": {**endpoint, "destinationAccount": metric_accounts,
                                   "url": receiver.url("/metric/v1")}}})


async def test_newrelic_endpoints_answer_as_butlers_do(receiver, tmp_path: Path):
    receiver.script("/metric/v1", (202, {}), (500, {}))
    async with running_service(rest_config(receiver, ["Prod"]), tmp_path / "q") as running, \
            running.client() as client:
        event = await client.post("/v4/newrelic/event", json={
            "eventType": "qs_loadScriptEvent", "timestamp": 1700000000000,
            "attributes": [{"name": "host", "value": "node1"}, {"name": "stage", "value": "extract"}]})
        metric = await client.post("/v4/newrelic/metric", json={
            "name": "qvd.rows", "type": "gauge", "value": 1234.5, "attributes": [{"name": "qvd", "value": "Sales"}]})
        metric_refused = await client.post("/v4/newrelic/metric", json={"name": "x", "type": "gauge", "value": 1})
        no_type = await client.post("/v4/newrelic/event", json={"timestamp": 1})
        long_type = await client.post("/v4/newrelic/event", json={"eventType": "x" * 255})
        count = await client.post("/v4/newrelic/metric", json={"name": "x", "type": "count", "value": 1})
        no_value = await client.post("/v4/newrelic/metric", json={"name": "x", "type": "gauge"})

    assert (event.status_code, event.text) == (202, "OK") and event.headers["content-type"].startswith("text/plain")
    [prod, team] = receiver.at("/ev/v1/accounts/12345/events") + receiver.at("/ev/v1/accounts/777/events")
    assert prod.headers["api-key"] == "key-prod" and team.headers["api-key"] == "key-team"
    assert prod.headers["x-source"] == "load script"
    assert unzipped(prod) == [{"timestamp": 1700000000000, "eventType": "qs_loadScriptEvent", "source": "qbutler",
                               "host": "node1", "stage": "extract"}]

    assert (metric.status_code, metric.text) == (202, "Accepted")
    [sent] = unzipped(receiver.at("/metric/v1")[0])
    assert sent["metrics"] == [{"name": "qvd.rows", "type": "gauge", "value": 1234.5}]
    assert sent["common"]["attributes"] == {"source": "qbutler", "host": "a", "qvd": "Sales"}
    assert isinstance(sent["common"]["timestamp"], int)
    assert metric_refused.status_code == 500
    assert metric_refused.json()["message"] == "Failed posting metric to New Relic"

    assert no_type.status_code == 400 and no_type.json()["message"] == "body must have required property 'eventType'"
    assert long_type.status_code == 400
    assert long_type.json()["message"] == "body/eventType must NOT have more than 254 characters"
    assert count.status_code == 400
    assert count.json()["message"] == "body/type must be equal to one of the allowed values"
    assert no_value.status_code == 400 and no_value.json()["message"] == "body must have required property 'value'"


async def test_newrelic_endpoints_without_a_known_account_answer_200_empty_and_are_off_by_default(
        receiver, tmp_path: Path):
    async with running_service(rest_config(receiver, ["Nobody"]), tmp_path / "q") as running, \
            running.client() as client:
        answer = await client.post("/v4/newrelic/metric", json={"name": "x", "type": "gauge", "value": 1})
    assert answer.status_code == 200 and answer.content == b"" and "content-type" not in answer.headers
    async with running_service(base_config(), tmp_path / "off") as running, running.client() as client:
        off = await client.post("/v4/newrelic/event", json={"eventType": "x"})
    assert off.status_code == 404 and receiver.requests == []


def test_new_relic_accounts_come_from_the_tasks_custom_property_too(caplog):
    from qbutler.alerts.channels.newrelic import NewRelicChannel
    from qbutler.config import parse_config
    from qbutler.events.enrich import EnrichedEvent
    from qbutler.events.log4net import TaskEvent

    by_cp = {"enable": True, "sendToAccount": {"byCustomProperty": {"enable": True,
                                                                    "customPropertyName": "NR_Account"}}}
    config = parse_config({"Butler": {
        "thirdPartyToolsCredentials": {"newRelic": ACCOUNTS},
        "incidentTool": {"newRelic": {"enable": True, "reloadTaskFailure": {"destination": {"event": by_cp}}}}}},
        Path.cwd())
    event = TaskEvent("failed", "/scheduler-task-failed/", "node1", "Reload", "App", "LAB\\goran",
                      "dec2a02a-1680-44ef-8dc2-e2bfb180af87", "", "2024-01-10 06:47:52,992", "INFO",
                      "14a81bf5-f81c-4047-b1a1-193b0920de28", "Max retries reached")
    task = {"taskType": 0, "customProperties": [
        {"definition": {"name": "NR_Account"}, "value": "Team"},
        {"definition": {"name": "NR_Account"}, "value": "Gone"},
        {"definition": {"name": "Other"}, "value": "Prod"}]}
    messages = NewRelicChannel(config, None).messages(EnrichedEvent(event=event, task=task))  # type: ignore[arg-type]
    assert [m.payload["account"] for m in messages] == ["Team"]
    assert 'New Relic account name "Gone" does not exist' in caplog.text
