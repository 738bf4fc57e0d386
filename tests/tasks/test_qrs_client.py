"""The QRS client against sensesim over mTLS: xrfkey, filters, retries and the errors it raises."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import pytest

from qbutler.config import parse_config
from qbutler.sense.qrs import QrsClient, QrsError, encode_query
from support.qbutler import merge
from support.sense import sense_connection

SALES_TASK = "3c9e2f5a-6d1b-4c8e-9a0f-2b7d4e6f8a1c"


@pytest.fixture
async def qrs_factory(sense_site, tmp_path) -> AsyncIterator[Callable[..., QrsClient]]:
    clients: list[QrsClient] = []

    def make(butler: dict | None = None, **qrs_options) -> QrsClient:
        config = merge(sense_connection(sense_site),
                       {"configQRS": {"retryBackoff": 0.01, "retries": 2, **qrs_options}, **(butler or {})})
        client = QrsClient(parse_config({"Butler": config}, tmp_path))
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.stop()


@pytest.fixture
def qrs(qrs_factory) -> QrsClient:
    return qrs_factory()


async def test_get_with_filter_over_mtls(qrs, sense_control):
    tasks = await qrs.get("task/full", {"filter": "tags.name eq 'Nightly'"})
    assert sorted(t["name"] for t in tasks) == ["O'Brien's reload", "Reload Sales Dashboard"]
    call = (await sense_control.calls())[-1]
    assert call["path"] == "/qrs/task/full"
    # sensesim answers 403 unless the xrfkey query matches the header, so reaching here proves both.
    assert "filter=tags.name eq 'Nightly'" in call["query"]
    assert "xrfkey=" in call["query"]


def test_query_encoding_uses_percent_20_like_butler():
    assert encode_query({"filter": "name eq 'a b'"}) == "filter=name%20eq%20%27a%20b%27"


async def test_quote_in_filter_value_is_doubled_by_caller_and_survives(qrs):
    tasks = await qrs.get("task/full", {"filter": "name eq 'O''Brien''s reload'"})
    assert [t["name"] for t in tasks] == ["O'Brien's reload"]


async def test_every_call_gets_a_new_xrfkey(qrs, sense_control):
    await qrs.get("about")
    await qrs.get("about")
    keys = [c["query"].split("xrfkey=")[1][:16] for c in await sense_control.calls()]
    assert len(keys) == 2 and keys[0] != keys[1]


async def test_post_start_returns_204(qrs, sense_control):
    response = await qrs.post(f"task/{SALES_TASK}/start", json={}, expect=(204,))
    assert response.status_code == 204
    assert (await sense_control.calls())[-1]["path"] == f"/qrs/task/{SALES_TASK}/start"


async def test_4xx_is_not_retried_and_error_names_host_path_status_body(qrs, sense_site, sense_control):
    unknown = "00000000-1111-4222-8333-444444444444"
    with pytest.raises(QrsError) as caught:
        await qrs.post(f"task/{unknown}/start", json={}, expect=(204,))
    message = str(caught.value)
    assert f"127.0.0.1:{sense_site.qrs_port}/qrs/task/{unknown}/start" in message
    assert "404" in message and f"Task with ID {unknown} not found" in message
    assert caught.value.status == 404
    assert len(await sense_control.calls()) == 1


async def test_5xx_is_retried_then_succeeds(qrs, sense_control):
    await sense_control.fault(service="qrs", match="/qrs/about", status=500, count=2)
    about = await qrs.get("about")
    assert about["schemaPath"] == "About"
    assert len(await sense_control.calls()) == 3


async def test_5xx_beyond_retries_gives_clear_error(qrs, sense_control):
    await sense_control.fault(service="qrs", match="/qrs/task", status=503, body="repository is busy")
    with pytest.raises(QrsError) as caught:
        await qrs.get("task", {"filter": f"id eq {SALES_TASK}"})
    message = str(caught.value)
    assert "QRS GET" in message and f"/qrs/task?filter=id eq {SALES_TASK}" in message
    assert "503" in message and "after 3 attempts" in message and "repository is busy" in message
    assert len(await sense_control.calls()) == 3


async def test_slow_server_times_out_with_clear_error(qrs_factory, sense_control):
    qrs = qrs_factory(timeout=0.2, retries=1)
    await sense_control.fault(service="qrs", match="/qrs/about", delayMs=1000)
    started = time.monotonic()
    with pytest.raises(QrsError) as caught:
        await qrs.get("about")
    assert time.monotonic() - started < 1.5
    assert "no answer within 0.2s" in str(caught.value) and "after 2 attempts" in str(caught.value)


async def test_slow_answer_within_timeout_succeeds(qrs_factory, sense_control):
    qrs = qrs_factory(timeout=2)
    await sense_control.fault(service="qrs", match="/qrs/about", delayMs=300, count=1)
    assert (await qrs.get("about"))["schemaPath"] == "About"


async def test_connection_refused_is_retried_and_reported(qrs_factory):
    from support.net import free_port

    qrs = qrs_factory(port=free_port(), retries=1)
    with pytest.raises(QrsError) as caught:
        await qrs.get("about")
    assert caught.value.status is None
    assert "ConnectError" in str(caught.value) and "after 2 attempts" in str(caught.value)


async def test_server_refuses_a_client_without_certificate(qrs_factory):
    qrs = qrs_factory(butler={"cert": {"clientCert": "", "clientCertKey": ""}}, retries=0)
    with pytest.raises(QrsError) as caught:
        await qrs.get("about")
    assert caught.value.status is None


async def test_server_certificate_is_verified_against_root(qrs_factory, tmp_path):
    from sensesim.certs import ensure_certs

    other = ensure_certs(tmp_path / "other-ca")
    qrs = qrs_factory(butler={"cert": {"clientCertCA": str(other.directory / "root.pem")}}, retries=0)
    with pytest.raises(QrsError) as caught:
        await qrs.get("about")
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
