"""Certificates in the QMC export layout, reused when valid."""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path

from cryptography import x509

from sensesim.certs import ensure_certs, server_ssl_context

FILES = {"client.pem", "client_key.pem", "root.pem", "server.pem", "server_key.pem"}


def test_layout_and_contents(tmp_path: Path) -> None:
    paths = ensure_certs(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == FILES
    client = x509.load_pem_x509_certificate(paths.client.read_bytes())
    assert client.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "QlikClient"
    server = x509.load_pem_x509_certificate(paths.server.read_bytes())
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")} <= set(
        san.get_values_for_type(x509.IPAddress)
    )
    assert paths.client_key.read_bytes().startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    assert (paths.client_key.stat().st_mode & 0o077) == 0


def test_reused_when_valid_and_reissued_when_not(tmp_path: Path) -> None:
    paths = ensure_certs(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    ensure_certs(tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    paths.server.write_text("garbage")
    ensure_certs(tmp_path)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after["root.pem"] != before["root.pem"]  # the whole set is re-issued consistently
    ensure_certs(tmp_path, ("sense.acme.example",))
    server = x509.load_pem_x509_certificate(paths.server.read_bytes())
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "sense.acme.example" in san.get_values_for_type(x509.DNSName)


def test_foreign_set_is_not_accepted_as_valid(tmp_path: Path) -> None:
    ensure_certs(tmp_path / "a")
    ensure_certs(tmp_path / "b")
    # Mixing files from two sites breaks the chain; ensure_certs must notice and re-issue.
    (tmp_path / "a" / "client.pem").write_bytes((tmp_path / "b" / "client.pem").read_bytes())
    old_root = (tmp_path / "a" / "root.pem").read_bytes()
    ensure_certs(tmp_path / "a")
    assert (tmp_path / "a" / "root.pem").read_bytes() != old_root


def test_server_context_requires_client_certificates(tmp_path: Path) -> None:
    ctx = server_ssl_context(tmp_path)
    assert ctx.verify_mode == ssl.CERT_REQUIRED
