"""qbutler's own records (alert dedup, scheduler reservations) share the store but not the REST API."""

from __future__ import annotations

from pathlib import Path

import pytest

from qbutler.alerts.config import UdpDeduplication
from qbutler.alerts.dedup import NAMESPACE as DEDUP_NAMESPACE
from qbutler.alerts.dedup import Dedup
from qbutler.scheduler.manager import RESERVATION_NAMESPACE
from support.qbutler import running_service

RESERVED = "Namespace {} is reserved for qbutler's internal records (namespaces starting with 'qbutler.')"


async def test_internal_namespaces_are_hidden_and_refused_on_every_backend(kv_config, tmp_path: Path) -> None:
    async with running_service(kv_config(), tmp_path) as running, running.client() as api:
        kv = running.service.kv
        dedup = Dedup(kv, UdpDeduplication())
        assert await dedup.reserve("6c0d4b9e-0000-4000-8000-000000000001")
        assert await kv.set_if_absent(RESERVATION_NAMESPACE, "nightly:2026-01-15T02:00:00.000Z", "instance-a")
        assert (await api.post("/v4/keyvalues/etl", json={"key": "k", "value": "v"})).status_code == 201

        assert (await api.get("/v4/keyvaluesnamespaces")).json() == ["etl"]
        for namespace in (DEDUP_NAMESPACE, RESERVATION_NAMESPACE, "QBUTLER.Scheduler", "qbutler.new"):
            attempts = [
                api.get(f"/v4/keylist/{namespace}"),
                api.get(f"/v4/keyvalues/{namespace}", params={"key": "k"}),
                api.get(f"/v4/keyvalues/{namespace}/keyexists", params={"key": "k"}),
                api.post(f"/v4/keyvalues/{namespace}", json={"key": "k", "value": "v"}),
                api.delete(f"/v4/keyvalues/{namespace}/k"),
                api.delete(f"/v4/keyvalues/{namespace}"),
            ]
            for attempt in attempts:
                response = await attempt
                assert response.status_code == 400
                assert response.json()["message"] == RESERVED.format(namespace)

        # The records are intact: a resent datagram is still a duplicate, the occurrence still taken.
        assert not await dedup.reserve("6c0d4b9e-0000-4000-8000-000000000001")
        assert not await kv.set_if_absent(RESERVATION_NAMESPACE, "nightly:2026-01-15T02:00:00.000Z", "instance-b")
        assert await kv.namespaces() == [DEDUP_NAMESPACE, RESERVATION_NAMESPACE, "etl"]
        assert await kv.count("qbutler.new") == 0


@pytest.mark.parametrize("namespace", ["qbutler-scheduler", "qbutlers", "my.qbutler.ns"])
async def test_only_the_prefix_is_reserved(kv_config, tmp_path: Path, namespace: str) -> None:
    async with running_service(kv_config(), tmp_path) as running, running.client() as api:
        assert (await api.post(f"/v4/keyvalues/{namespace}", json={"key": "k", "value": "v"})).status_code == 201
        assert (await api.get("/v4/keyvaluesnamespaces")).json() == [namespace]
        assert (await api.delete(f"/v4/keyvalues/{namespace}")).status_code == 204
