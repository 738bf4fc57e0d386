"""Authentication at the right layer (reference §1.2, §1.3, §4): mTLS, xrfkey, X-Qlik-User."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import httpx
import pytest

from sensesim.certs import ensure_certs
from sensesim.qrs import XSRF_BODY, QrsOptions
from sensesim.server import Site
from support.sensesim_support import ADMIN, XRFKEY, Qrs, client_context


async def raw_tls_request(port: int, ctx: ssl.SSLContext) -> bytes:
    """Handshake and send a request with bare asyncio streams; return what the server sends."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost")
    try:
        writer.write(
            f"GET /qrs/about?xrfkey={XRFKEY} HTTP/1.1\r\nHost: x\r\nX-Qlik-Xrfkey: {XRFKEY}\r\n\r\n".encode()
        )
        await writer.drain()
        return await asyncio.wait_for(reader.read(100), 5)
    finally:
        writer.close()


async def test_request_without_client_certificate_fails_the_handshake(site: Site, certs_dir: Path) -> None:
    with pytest.raises((ssl.SSLError, ConnectionError)):
        data = await raw_tls_request(site.qrs_port, client_context(certs_dir, with_cert=False))
        # TLS 1.3 reports the rejection on first read; an empty read also means "no HTTP answer".
        if not data:
            raise ConnectionError("closed without an HTTP response")


async def test_foreign_client_certificate_fails_the_handshake(
    site: Site, certs_dir: Path, tmp_path: Path
) -> None:
    foreign = ensure_certs(tmp_path / "other-site")
    ctx = ssl.create_default_context(cafile=str(certs_dir / "root.pem"))
    ctx.load_cert_chain(foreign.client, foreign.client_key)
    async with httpx.AsyncClient(verify=ctx, headers={"X-Qlik-Xrfkey": XRFKEY}) as client:
        with pytest.raises(httpx.TransportError):
            await client.get(f"{site.qrs_url}/qrs/about", params={"xrfkey": XRFKEY})


async def test_valid_client_certificate_and_server_chain_to_root(site: Site, certs_dir: Path) -> None:
    data = await raw_tls_request(site.qrs_port, client_context(certs_dir))
    assert data.startswith(b"HTTP/1.1 200")


async def test_systeminfo_needs_only_the_certificate(site: Site, certs_dir: Path) -> None:
    async with httpx.AsyncClient(verify=client_context(certs_dir)) as client:
        response = await client.get(f"{site.systeminfo_url}/v1/systeminfo")
    assert response.status_code == 200
    body = response.json()
    assert {"productName", "deploymentType", "version", "releaseLabel", "contentHash", "senseId"} <= set(body)
    async with httpx.AsyncClient(verify=client_context(certs_dir, with_cert=False)) as client:
        with pytest.raises(httpx.TransportError):
            await client.get(f"{site.systeminfo_url}/v1/systeminfo")


@pytest.mark.parametrize(
    ("query", "header"),
    [
        (None, XRFKEY),  # no query parameter
        (XRFKEY, None),  # no header
        (XRFKEY, XRFKEY.upper()),  # values compare case-sensitively
        ("abcdefghij01234", "abcdefghij01234"),  # 15 characters
        ("abcdefghij0123456", "abcdefghij0123456"),  # 17 characters
        ("abcdefghij01234!", "abcdefghij01234!"),  # outside 0-9a-zA-Z
    ],
)
async def test_xrfkey_rejections(site: Site, certs_dir: Path, query: str | None, header: str | None) -> None:
    headers = {"X-Qlik-User": ADMIN}
    if header is not None:
        headers["X-Qlik-Xrfkey"] = header
    params = {"xrfkey": query} if query is not None else {}
    async with httpx.AsyncClient(verify=client_context(certs_dir), headers=headers) as client:
        for method, path in (("GET", "/qrs/about"), ("GET", "/qrs/app"), ("POST", "/qrs/task/start/many")):
            response = await client.request(method, f"{site.qrs_url}{path}", params=params)
            assert response.status_code == 403
            assert response.text == XSRF_BODY
            assert response.headers["content-type"].startswith("text/plain")


async def test_xrfkey_names_are_case_insensitive(site: Site, certs_dir: Path) -> None:
    async with httpx.AsyncClient(
        verify=client_context(certs_dir), headers={"x-qlik-xrfkey": XRFKEY}
    ) as client:
        response = await client.get(f"{site.qrs_url}/qrs/about", params={"Xrfkey": XRFKEY})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        "UserDirectory=Internal;UserId=sa_repository",
        "UserDirectory=INTERNAL; UserId=sa_repository",
        "userdirectory = internal ;  userid = sa_repository",
        "UserDirectory=ACME; UserId=anna",
        "UserDirectory=ACME%20CORP; UserId=j%C3%B6rg",
    ],
)
async def test_user_header_is_parsed_leniently(qrs: Qrs, header: str) -> None:
    response = await qrs.client.get("/qrs/about", params={"xrfkey": XRFKEY}, headers={"X-Qlik-User": header})
    assert response.status_code == 200


async def test_missing_user_header_means_admin_unless_strict(certs_dir: Path) -> None:
    for strict, status in ((False, 200), (True, 403)):
        async with Site(
            seed="minimal", certs_dir=certs_dir, engine=False, qrs=QrsOptions(strict_user=strict)
        ) as site:
            async with httpx.AsyncClient(
                verify=client_context(certs_dir), headers={"X-Qlik-Xrfkey": XRFKEY}
            ) as c:
                response = await c.get(f"{site.qrs_url}/qrs/about", params={"xrfkey": XRFKEY})
            assert response.status_code == status


async def test_unescaped_ampersand_in_a_filter(qrs: Qrs) -> None:
    # The value 'A&B' unencoded splits into "filter=name eq 'A" and "B'".
    response = await qrs.client.get(f"/qrs/app?filter=name%20eq%20'A&B'&xrfkey={XRFKEY}")
    assert response.status_code == 400
    assert response.text == "Missing parameter value(s)"


async def test_control_api_is_plain_http(site: Site) -> None:
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{site.control_url}/health")).json()["status"] == "ok"
