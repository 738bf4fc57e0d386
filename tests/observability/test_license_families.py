"""Token licensing and analyzer capacity, seeded in sensesim, read back from /metrics and from a real
InfluxDB 1.x (`qlik_sense_license` points, butler-monitoring.md §1.7)."""

from __future__ import annotations

from pathlib import Path

from influxkit import field_types, influx_settings, rows_of
from test_metrics import parse

from support.qbutler import running_service
from support.sense import running_site, sense_config
from support.waiting import until

SEED = Path(__file__).parent / "seeds" / "token_licenses.yaml"


async def test_tokens_and_analyzer_capacity_in_metrics_and_influxdb(sense_certs: Path, influxdb, tmp_path: Path):
    async with running_site(sense_certs, seed=SEED) as site:
        config = sense_config(site, influxDb=influx_settings(influxdb.port), qlikSenseLicense={"licenseMonitor": {
            "enable": True, "frequency": "every 1 hours", "destination": {"influxDb": {"enable": True}}}})
        async with running_service(config, tmp_path / "q") as running:
            monitor = running.service.watch.access_licenses
            await until(lambda: monitor.runs >= 1, within=15)
            assert monitor.failures == 0, monitor.last_error
            async with running.client() as client:
                answer = await client.get("/metrics")
            await running.service.influx.wait_idle()
    metrics = parse(answer.text)

    # Analyzer capacity in seconds, Prometheus' base unit (the overview counts minutes).
    assert metrics['qbutler_sense_access_capacity_allocated_seconds{type="analyzer_capacity"}'] == 6000 * 60
    assert metrics['qbutler_sense_access_capacity_used_seconds{type="analyzer_capacity"}'] == 1234 * 60
    assert metrics['qbutler_sense_access_capacity_unavailable_seconds{type="analyzer_capacity"}'] == 30 * 60
    assert metrics['qbutler_sense_access_tokens_allocated{type="token_user"}'] == 700
    assert metrics['qbutler_sense_access_tokens_used{type="token_user"}'] == 650
    assert metrics['qbutler_sense_access_tokens_quarantined{type="token_user"}'] == 12
    assert metrics['qbutler_sense_access_token_cost{type="token_user"}'] == 1  # Qlik's default
    assert metrics['qbutler_sense_access_tokens_allocated{type="token_login"}'] == 60
    assert metrics['qbutler_sense_access_tokens_used{type="token_login"}'] == 42
    assert metrics['qbutler_sense_access_tokens_unavailable{type="token_login"}'] == 6
    assert metrics['qbutler_sense_access_token_cost{type="token_login"}'] == 0.1
    # Tokens allocated to neither access type.
    assert metrics["qbutler_sense_tokens_limit"] == 1000 and metrics["qbutler_sense_tokens_available"] == 240
    assert metrics['qbutler_sense_access_licenses_limit{type="professional"}'] == 10
    assert metrics['qbutler_sense_access_licenses_allocated{type="professional"}'] == 1
    assert metrics['qbutler_sense_access_licenses_limit{type="analyzer"}'] == 20

    # One point per enabled access type, each with its own fields (InfluxDB shows the union).
    usage = {row["license_type"]: row for row in await rows_of(influxdb, "qlik_sense_license")}
    assert set(usage) == {"professional", "analyzer", "analyzer_capacity", "token_login", "token_user",
                          "tokens_available"}
    assert set((await field_types(influxdb, "qlik_sense_license")).values()) == {"float"}

    def fields(license_type: str) -> dict[str, float]:
        return {key: value for key, value in usage[license_type].items()
                if value is not None and key not in ("time", "license_type", "butler_instance")}

    assert fields("analyzer_capacity") == {"allocated_minutes": 6000, "unavailable_minutes": 30,
                                           "used_minutes": 1234}
    assert fields("token_login") == {"allocated_tokens": 60, "token_cost": 0.1, "unavailable_tokens": 6,
                                     "used_tokens": 42}
    assert fields("token_user") == {"allocated_tokens": 700, "quarantined_tokens": 12, "token_cost": 1,
                                    "used_tokens": 650}
    assert fields("tokens_available") == {"available_tokens": 240, "total_tokens": 1000}
    assert fields("professional") == {"allocated": 1, "available": 9, "excess": 0, "quarantined": 0, "total": 10,
                                      "used": 1}
