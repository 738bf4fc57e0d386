"""Who a request comes from: an API key, a client certificate, or the client's address.

A request that sends a key is judged by that key alone (a wrong key is refused even from an
allowed address, so a misconfigured client is noticed). Without a key, a mapped certificate
subject and then the first address rule that holds the client's address decide.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping

from qbutler.auth.config import ApiAccessConfig
from qbutler.auth.keys import Identity, KeyRing
from qbutler.auth.scopes import expand

log = logging.getLogger("qbutler.auth")

# Names a browser on the server itself uses; always accepted when serverHost is specific.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
EVERY_INTERFACE = ("", "0.0.0.0", "::", "*")
_ADDRESS_CACHE_SIZE = 4096


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key from `Authorization: Bearer <key>` or `X-API-Key: <key>` (lower-case header names)."""
    authorization = headers.get("authorization")
    if authorization is not None:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = headers.get("x-api-key")
    return key.strip() if key is not None and key.strip() else None


class Guard:
    def __init__(self, access: ApiAccessConfig, environ: Mapping[str, str] | None = None):
        self.keys = KeyRing(access.keys, environ)
        self._subjects = {rule.subject: Identity(f"certificate:{rule.subject}", expand(rule.scopes), "certificate")
                          for rule in access.clientCertificates}
        self._networks = [
            (ipaddress.ip_network(text, strict=False),
             Identity(f"address:{rule.name or ','.join(rule.addresses)}", expand(rule.scopes), "address"))
            for rule in access.allowedClients for text in rule.addresses]
        self._by_address: dict[str, Identity | None] = {}

    def identify(self, headers: Mapping[str, str], client: str, cert_subject: str | None) -> Identity | None:
        key = presented_key(headers)
        if key is not None:
            return self.keys.identify(key)
        if cert_subject is not None:
            identity = self._subjects.get(cert_subject)
            if identity is not None:
                return identity
        return self.by_address(client)

    def by_address(self, client: str) -> Identity | None:
        try:
            return self._by_address[client]
        except KeyError:
            pass
        identity = None
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            address = None
        if address is not None:
            if address.version == 6 and address.ipv4_mapped is not None:
                address = address.ipv4_mapped
            identity = next((found for network, found in self._networks if address in network), None)
        if len(self._by_address) >= _ADDRESS_CACHE_SIZE:
            self._by_address.clear()
        self._by_address[client] = identity
        return identity


def host_name(header: str) -> str:
    """The Host header without its port, lower case; IPv6 literals lose their brackets."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def allowed_hosts(server_host: str, configured: list[str]) -> frozenset[str] | None:
    """The Host values to accept, or None for any (logged as a warning)."""
    if configured:
        return frozenset(host_name(name) for name in configured)
    if server_host.strip() in EVERY_INTERFACE:
        log.warning("REST API: serverHost %r binds every interface, so any Host header is accepted. List the "
                    "names clients use in Butler.qbutler.api.allowedHosts to refuse DNS-rebinding requests",
                    server_host)
        return None
    return frozenset({host_name(server_host), *LOOPBACK_HOSTS})
