"""`Butler.qbutler.api`: who may call the REST API, and the audit trail (all qbutler's own keys)."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import Field, field_validator

from qbutler.auth.scopes import SCOPES, unknown_scopes
from qbutler.config_types import NullableList, Section

HASH_PREFIX = "qbk1"


def _checked_scopes(value: list[str]) -> list[str]:
    unknown = unknown_scopes(value)
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(SCOPES)} or '*'")
    return value


class ApiKeyConfig(Section):
    # Shown in the audit trail and logs instead of the key.
    name: str = Field(min_length=1)
    # `qbutler apikey new` prints it: qbk1$<key id>$<salt>$<sha-256>. The key itself is never stored.
    hash: str = ""
    # Or: the name of an environment variable holding the key itself.
    env: str = ""
    scopes: list[str] = Field(min_length=1)

    _scopes = field_validator("scopes")(_checked_scopes)

    @field_validator("hash")
    @classmethod
    def _hash_format(cls, value: str) -> str:
        if value and (not value.startswith(HASH_PREFIX + "$") or value.count("$") != 3):
            raise ValueError("expected the hash `qbutler apikey new` printed (qbk1$...$...$...)")
        return value


class AddressRule(Section):
    name: str = ""
    # Addresses or networks (CIDR), IPv4 or IPv6.
    addresses: list[str] = Field(min_length=1)
    scopes: list[str] = Field(min_length=1)

    _scopes = field_validator("scopes")(_checked_scopes)

    @field_validator("addresses")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for text in value:
            try:
                ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise ValueError(f"{text!r} is not an IP address or network (CIDR)") from None
        return value


class CertificateRule(Section):
    # The client certificate's subject as RFC 4514 writes it, e.g. "CN=etl-runner,O=Example".
    subject: str = Field(min_length=1)
    scopes: list[str] = Field(min_length=1)

    _scopes = field_validator("scopes")(_checked_scopes)


class AuditConfig(Section):
    enable: bool = True
    # Daily files older than this many days are deleted.
    retentionDays: int = Field(90, ge=1)


class ApiAccessConfig(Section):
    # false (default): Butler's behaviour, anyone who reaches the port may call every enabled endpoint.
    requireAuth: bool = False
    keys: Annotated[list[ApiKeyConfig], NullableList] = []
    # Clients identified by their address alone (e.g. the Sense nodes running load scripts).
    allowedClients: Annotated[list[AddressRule], NullableList] = []
    # Client certificates (restServerConfig.tls with a ca) identified by their subject.
    clientCertificates: Annotated[list[CertificateRule], NullableList] = []
    # Host header values accepted (names or addresses, no port). Empty: serverHost plus the loopback
    # names, or any host when serverHost binds every interface.
    allowedHosts: Annotated[list[str], NullableList] = []
    # Paths reachable without a key even when requireAuth is true, e.g. /v4/butlerping.
    publicEndpoints: Annotated[list[str], NullableList] = []
    audit: AuditConfig = AuditConfig()
