"""Shared constants and config builders for the app dump tests (tests/appdump)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support.qbutler import base_config, merge

# The demo seed's richest app: every object type the dump covers.
SALES = "6a2e4c1b-8d3f-4a5e-9b7c-1d2e3f4a5b6c"
UNKNOWN_APP = "00000000-0000-4000-8000-000000000000"
USER = [{"name": "X-Qlik-User", "value": "UserDirectory=Internal;UserId=sa_repository"}]


def engine_connection(certs: Path, port: int, **engine: Any) -> dict[str, Any]:
    """Butler config keys that point the Engine client at `port` with sensesim's certificates."""
    return {
        "cert": {"clientCert": str(certs / "client.pem"), "clientCertKey": str(certs / "client_key.pem"),
                 "clientCertCA": str(certs / "root.pem")},
        "configEngine": {"host": "127.0.0.1", "port": port, "useSSL": True, "rejectUnauthorized": True,
                         "headers": {"static": USER}, **engine},
    }


def service_config(certs: Path, port: int, **butler: Any) -> dict[str, Any]:
    return merge(base_config(), {"Butler": merge(engine_connection(certs, port), butler)})
