"""The simulator's certificates, in the layout the QMC certificate export uses.

A Sense site has its own CA; the QMC exports `client.pem`, `client_key.pem` and `root.pem`
for clients such as Butler.  We write the same three files plus the server pair
(`server.pem`, `server_key.pem`) that QRS, the engine and port 9032 present.  The CA key is
deliberately not kept: if anything is missing or invalid, the whole set is re-issued, which
keeps the files consistent with each other without leaving a signing key on disk.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CLIENT_CN = "QlikClient"
DEFAULT_HOSTNAMES = ("localhost", "127.0.0.1", "::1")
# Re-issue well before expiry so a long-running simulator never serves an expired cert.
_MIN_REMAINING = timedelta(days=7)
_VALIDITY = timedelta(days=3650)


@dataclass(frozen=True)
class CertPaths:
    directory: Path
    root: Path
    client: Path
    client_key: Path
    server: Path
    server_key: Path


def cert_paths(certs_dir: str | Path) -> CertPaths:
    d = Path(certs_dir)
    return CertPaths(
        directory=d,
        root=d / "root.pem",
        client=d / "client.pem",
        client_key=d / "client_key.pem",
        server=d / "server.pem",
        server_key=d / "server_key.pem",
    )


def ensure_certs(certs_dir: str | Path, hostnames: tuple[str, ...] = ()) -> CertPaths:
    """Return the certificate set in `certs_dir`, creating it when absent or invalid.

    `hostnames` are extra names for the server certificate's SAN, beyond localhost,
    127.0.0.1 and ::1; a present set lacking one of them is re-issued.
    """
    paths = cert_paths(certs_dir)
    wanted = tuple(dict.fromkeys((*DEFAULT_HOSTNAMES, *hostnames)))
    if not _valid(paths, wanted):
        paths.directory.mkdir(parents=True, exist_ok=True)
        _issue(paths, wanted)
    return paths


def server_ssl_context(certs_dir: str | Path) -> ssl.SSLContext:
    """TLS server context that demands a client certificate issued by the simulator CA."""
    paths = ensure_certs(certs_dir)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(paths.server, paths.server_key)
    ctx.load_verify_locations(cafile=paths.root)
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_ssl_context(certs_dir: str | Path) -> ssl.SSLContext:
    """TLS client context presenting the exported client cert and trusting only root.pem."""
    paths = ensure_certs(certs_dir)
    ctx = ssl.create_default_context(cafile=str(paths.root))
    ctx.load_cert_chain(paths.client, paths.client_key)
    return ctx


# --------------------------------------------------------------------------- issuing


def _key() -> rsa.RSAPrivateKey:
    # RSA 2048 like QMC exports; clients that only handle RSA keys keep working.
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _san(hostnames: tuple[str, ...]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for host in hostnames:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            entries.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(entries)


def _issue(paths: CertPaths, hostnames: tuple[str, ...]) -> None:
    now = datetime.now(UTC) - timedelta(minutes=5)  # tolerate small clock skew on clients
    ca_key = _key()
    ca_name = _name("sensesim-CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(cn: str, usage: x509.ObjectIdentifier, san: tuple[str, ...]) -> tuple[x509.Certificate, bytes]:
        key = _key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
        )
        if san:
            builder = builder.add_extension(_san(san), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        pem_key = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,  # "BEGIN RSA PRIVATE KEY", as QMC exports
            serialization.NoEncryption(),
        )
        return cert, pem_key

    server, server_key = leaf(hostnames[0], ExtendedKeyUsageOID.SERVER_AUTH, hostnames)
    client, client_key = leaf(CLIENT_CN, ExtendedKeyUsageOID.CLIENT_AUTH, ())
    pem = serialization.Encoding.PEM
    _write(paths.root, ca.public_bytes(pem))
    _write(paths.server, server.public_bytes(pem))
    _write(paths.server_key, server_key, private=True)
    _write(paths.client, client.public_bytes(pem))
    _write(paths.client_key, client_key, private=True)


def _write(path: Path, data: bytes, private: bool = False) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    if private:
        tmp.chmod(0o600)
    tmp.replace(path)  # atomic, so a concurrent reader never sees half a file


# --------------------------------------------------------------------------- validation


def _valid(paths: CertPaths, hostnames: tuple[str, ...]) -> bool:
    try:
        root = x509.load_pem_x509_certificate(paths.root.read_bytes())
        server = x509.load_pem_x509_certificate(paths.server.read_bytes())
        client = x509.load_pem_x509_certificate(paths.client.read_bytes())
        server_key = serialization.load_pem_private_key(
            paths.server_key.read_bytes(), None, unsafe_skip_rsa_key_validation=True
        )
        client_key = serialization.load_pem_private_key(
            paths.client_key.read_bytes(), None, unsafe_skip_rsa_key_validation=True
        )
    except (OSError, ValueError, TypeError):
        return False
    horizon = datetime.now(UTC) + _MIN_REMAINING
    for cert in (root, server, client):
        if cert.not_valid_after_utc < horizon:
            return False
    for cert, key in ((server, server_key), (client, client_key)):
        if not _signed_by(cert, root):
            return False
        if cert.public_key().public_numbers() != key.public_key().public_numbers():  # type: ignore[union-attr]
            return False
    try:
        san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    present = {str(v) for v in san.get_values_for_type(x509.DNSName)} | {
        str(v) for v in san.get_values_for_type(x509.IPAddress)
    }
    return all(str(_normal(h)) in present for h in hostnames)


def _normal(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    public = issuer.public_key()
    if not isinstance(public, rsa.RSAPublicKey) or cert.issuer != issuer.subject:
        return False
    try:
        public.verify(
            cert.signature,
            cert.tbs_certificate_bytes,
            padding.PKCS1v15(),
            cert.signature_hash_algorithm or hashes.SHA256(),
        )
    except InvalidSignature:
        return False
    return True
