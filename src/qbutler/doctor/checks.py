"""What `qbutler doctor` checks, in order, each a plain result: pass, warn, fail or skip, with
what was found and, when it is not a pass, what to do.

Nothing here sends an alert or changes Sense: chat and webhook URLs get a HEAD request, the SMTP
server a greeting and QUIT, the broker a connect and disconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from qbutler.config import Config
from qbutler.config_check import review

Status = Literal["pass", "warn", "fail", "skip"]
SENSE_SETUP = "docs/sense-setup.md"
EXPIRY_WARNING_DAYS = 30


@dataclass(frozen=True)
class Result:
    name: str
    status: Status
    detail: str
    fix: str = ""


def passed(name: str, detail: str) -> Result:
    return Result(name, "pass", detail)


def warned(name: str, detail: str, fix: str) -> Result:
    return Result(name, "warn", detail, fix)


def failed(name: str, detail: str, fix: str) -> Result:
    return Result(name, "fail", detail, fix)


def skipped(name: str, detail: str) -> Result:
    return Result(name, "skip", detail)


async def run_checks(config: Config, limit: float = 5.0) -> list[Result]:
    """Every check in order; a check that needs an earlier one to pass is skipped when it failed."""
    results = [check_config(config)]
    certificates = check_certificates(config)
    results += certificates
    # With a wrong CA file the connection can still be tried (and says how Sense sees it).
    usable = all(r.status != "fail" for r in certificates if r.name != "CA chain")
    for check in (check_qrs, check_engine):
        if usable:
            results.append(await _bounded(check(config, limit), check.__name__, limit))
        else:
            results.append(skipped(_NAMES[check.__name__], "skipped: fix the certificates first"))
    results += await check_destinations(config, limit)
    results.append(await _bounded(check_mqtt(config, limit), "check_mqtt", limit))
    results.append(await check_udp(config, limit))
    results += check_folders(config)
    results += await check_data(config, limit)
    return results


_NAMES = {"check_qrs": "QRS", "check_engine": "Engine", "check_mqtt": "MQTT broker"}


async def _bounded(check: Awaitable[Result], name: str, limit: float) -> Result:
    # Each check bounds its own calls; this is the backstop so that doctor never hangs.
    try:
        return await asyncio.wait_for(check, limit * 3)
    except TimeoutError:
        return failed(_NAMES.get(name, name), f"no answer within {limit * 3:g} s",
                      "check the address and the firewall between this machine and the server")


# ----------------------------------------------------------------------------- config


def check_config(config: Config) -> Result:
    warnings = [f for f in review(config) if f.level == "warning"]
    if warnings:
        return warned("config", f"valid, {len(warnings)} warning(s): " + "; ".join(map(str, warnings)),
                      "run `qbutler config check --strict` and fix what it lists")
    return passed("config", "valid")


# ----------------------------------------------------------------------------- certificates


def check_certificates(config: Config) -> list[Result]:
    """Files present; certificate and key belong together; the certificate chains to the CA."""
    cert = config.Butler.cert
    files = {"clientCert": cert.clientCert, "clientCertKey": cert.clientCertKey, "clientCertCA": cert.clientCertCA}
    missing: list[str] = []
    for key, value in files.items():
        if not value:
            missing.append(f"Butler.cert.{key} is empty")
        elif not config.resolve_path(value).is_file():
            missing.append(f"Butler.cert.{key}: {config.resolve_path(value)} does not exist")
    export = f"export client.pem, client_key.pem and root.pem in the QMC (Certificates, PEM format; {SENSE_SETUP})"
    if missing:
        return [failed("certificate files", "; ".join(missing), f"{export} and point Butler.cert at them")]
    paths = {key: str(config.resolve_path(value)) for key, value in files.items()}
    results = [passed("certificate files", f"{paths['clientCert']}, {paths['clientCertKey']}, {paths['clientCertCA']}")]
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    try:
        client.load_cert_chain(paths["clientCert"], paths["clientCertKey"])
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc) or "key values mismatch" in str(exc):
            detail = "the key in Butler.cert.clientCertKey does not belong to the certificate in Butler.cert.clientCert"
        else:
            detail = f"cannot read the certificate or key as PEM: {exc.reason or exc}"
        return [*results, failed("certificate and key", detail, f"{export}; take both files from the same export")]
    except OSError as exc:
        return [*results, failed("certificate and key", f"cannot read the files: {exc}",
                                 "give the account qbutler runs as read access to the certificate folder")]
    results.append(passed("certificate and key", "client certificate and key belong together"))
    results.append(_check_chain(paths, client))
    return results


def _check_chain(paths: dict[str, str], client: ssl.SSLContext) -> Result:
    """A TLS handshake in memory whose server side demands a client certificate issued by the CA
    file: OpenSSL's own verification, with no network and no extra library."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.verify_mode = ssl.CERT_REQUIRED
    fix = "root.pem must be the CA of the Sense site that issued client.pem: export all three files together"
    try:
        server.load_verify_locations(paths["clientCertCA"])
        server.load_cert_chain(paths["clientCert"], paths["clientCertKey"])
    except ssl.SSLError as exc:
        return failed("CA chain", f"cannot read Butler.cert.clientCertCA as a PEM certificate: {exc.reason or exc}",
                      fix)
    try:
        peer = _handshake_in_memory(server, client)
    except ssl.SSLCertVerificationError as exc:
        reason = exc.verify_message or exc.reason or str(exc)
        if "expired" in reason:
            return failed("CA chain", f"the client certificate has expired ({reason})",
                          "export a new client certificate from the QMC")
        return failed("CA chain", f"the client certificate was not issued by the CA in "
                                  f"Butler.cert.clientCertCA ({reason})", fix)
    except ssl.SSLError as exc:
        return failed("CA chain", f"TLS handshake with these files failed: {exc.reason or exc}", fix)
    subject = ", ".join(f"{k}={v}" for part in peer.get("subject", ()) for k, v in part)
    expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(peer["notAfter"]), UTC)
    days = (expires - datetime.now(UTC)).days
    detail = f"{subject or 'client certificate'} chains to the CA; valid until {expires:%Y-%m-%d}"
    if days < EXPIRY_WARNING_DAYS:
        return warned("CA chain", f"{detail} ({days} days left)", "export a new client certificate from the QMC soon")
    return passed("CA chain", detail)


def _handshake_in_memory(server_context: ssl.SSLContext, client_context: ssl.SSLContext) -> dict[str, Any]:
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    server_in, server_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    server = server_context.wrap_bio(server_in, server_out, server_side=True)
    client = client_context.wrap_bio(to_client, to_server, server_side=False)
    client_done = server_done = False
    for _ in range(10):
        if not client_done:
            with contextlib.suppress(ssl.SSLWantReadError):
                client.do_handshake()
                client_done = True
        server_in.write(to_server.read())
        if not server_done:
            with contextlib.suppress(ssl.SSLWantReadError):
                server.do_handshake()
                server_done = True
        to_client.write(server_out.read())
        if client_done and server_done:
            break
    # TLS 1.3: the server checks the client's certificate after the client has finished.
    with contextlib.suppress(ssl.SSLWantReadError):
        server.read(1)
    return server.getpeercert() or {}


# ----------------------------------------------------------------------------- Sense


def _quick(config: Config, limit: float) -> Config:
    """The config with one attempt per call and the doctor's limit."""
    copy = config.model_copy(deep=True)
    copy.Butler.configQRS.retries = 0
    copy.Butler.configQRS.timeout = limit
    copy.Butler.configEngine.timeout = limit
    return copy


def _user(headers: Any) -> str:
    return next((h.value for h in headers.static if h.name.lower() == "x-qlik-user"), "(no X-Qlik-User header)")


async def check_qrs(config: Config, limit: float) -> Result:
    from qbutler.sense.qrs import QrsClient, QrsError

    qrs_settings = config.Butler.configQRS
    client = QrsClient(_quick(config, limit))
    where = f"{client.base_url}"
    try:
        about = await client.get("about")
    except QrsError as exc:
        return failed("QRS", f"{where}: {exc.detail}", _qrs_fix(exc, qrs_settings))
    finally:
        await client.stop()
    version = about.get("buildVersion", "?") if isinstance(about, dict) else "?"
    verified = "server certificate verified" if qrs_settings.rejectUnauthorized else \
        "server certificate not verified (rejectUnauthorized: false)"
    return passed("QRS", f"{where} answered with mTLS and xrfkey as {_user(qrs_settings.headers)}, "
                         f"repository {version}; {verified}")


def _qrs_fix(exc: Any, settings: Any) -> str:
    detail = str(exc.detail)
    if exc.status in (401, 403):
        return ("QRS refused the client certificate or the user: use the certificate exported from this "
                "site and an X-Qlik-User header with a user that may use the QRS (UserDirectory=Internal;"
                "UserId=sa_repository)")
    if "CERTIFICATE_VERIFY_FAILED" in detail or "certificate verify failed" in detail:
        return ("the Sense server's certificate is not signed by Butler.cert.clientCertCA: use root.pem from "
                "this site's export, or set configQRS.rejectUnauthorized: false")
    return (f"is the Qlik Sense Repository Service running on {settings.host}, and port {settings.port} open "
            f"in the firewall between this machine and it? ({SENSE_SETUP})")


async def check_engine(config: Config, limit: float) -> Result:
    from qbutler.sense.engine import EngineClient, EngineUnavailable

    engine = EngineClient(_quick(config, limit))
    settings = config.Butler.configEngine
    try:
        session = await engine.connect()
    except EngineUnavailable as exc:
        return failed("Engine", f"{exc}", f"is the Qlik Sense Engine Service running on {settings.host}, and port "
                                           f"{settings.port} open in the firewall? ({SENSE_SETUP})")
    try:
        version = await session.engine_version()
    except Exception as exc:
        return warned("Engine", f"{engine.base_url} opened, but EngineVersion failed: {exc}",
                      "check the engine's log for the refused call")
    finally:
        await session.close()
    return passed("Engine", f"{engine.base_url} opened as {_user(settings.headers)}, engine {version}")


# ----------------------------------------------------------------------------- destinations


def _chat_urls(config: Config) -> list[tuple[str, str]]:
    """(config key, URL) of every Slack, Teams and webhook destination in use."""
    butler = config.Butler
    found: list[tuple[str, str]] = []
    for section_name in ("slackNotification", "teamsNotification"):
        section = getattr(butler, section_name)
        if not section.enable:
            continue
        for event_name in ("reloadTaskFailure", "reloadTaskAborted"):
            event = getattr(section, event_name)
            if event.enable and event.webhookURL:
                found.append((f"{section_name}.{event_name}", event.webhookURL))
    # /v4/slackpostmessage posts to restMessage's webhook whether or not Slack alerts are on.
    if butler.restServerEndpointsEnable.slackPostMessage and butler.slackNotification.restMessage.webhookURL:
        found.append(("slackNotification.restMessage", butler.slackNotification.restMessage.webhookURL))
    if butler.webhookNotification.enable:
        for event_name in ("reloadTaskFailure", "reloadTaskAborted"):
            for index, hook in enumerate(getattr(butler.webhookNotification, event_name).webhooks):
                found.append((f"webhookNotification.{event_name}.webhooks[{index}]", hook.webhookURL))
    return found


async def check_destinations(config: Config, limit: float) -> list[Result]:
    results: list[Result] = []
    email = config.Butler.emailNotification
    if email.enable:
        results.append(await _bounded(_check_smtp(config, limit), "SMTP server", limit))
    else:
        results.append(skipped("SMTP server", "email alerts are off (Butler.emailNotification.enable)"))
    urls = _chat_urls(config)
    if not urls:
        results.append(skipped("alert URLs", "no Slack, Teams or webhook alerts are enabled"))
    seen: set[str] = set()
    for key, url in urls:
        if url in seen:
            continue
        seen.add(url)
        results.append(await _bounded(_check_url(key, url, limit), f"alert URL {key}", limit))
    return results


async def _check_smtp(config: Config, limit: float) -> Result:
    import aiosmtplib

    smtp = config.Butler.emailNotification.smtp
    context = ssl.create_default_context()
    if not smtp.tls.rejectUnauthorized:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    client = aiosmtplib.SMTP(hostname=smtp.host, port=smtp.port, use_tls=smtp.secure, timeout=limit,
                             start_tls=False, tls_context=context, validate_certs=smtp.tls.rejectUnauthorized)
    try:
        greeting = await client.connect()
        await client.quit()
    except (aiosmtplib.SMTPException, OSError) as exc:
        return failed("SMTP server", f"{smtp.host}:{smtp.port}: {type(exc).__name__}: {exc}",
                      "check Butler.emailNotification.smtp host and port, and that this machine may reach the "
                      "mail server (firewall, relay permissions)")
    return passed("SMTP server", f"{smtp.host}:{smtp.port} answered: {greeting.code} {greeting.message[:60]}")


async def _check_url(key: str, url: str, limit: float) -> Result:
    import aiohttp

    from qbutler.alerts.http import safe_target

    name = f"alert URL {key}"
    target = safe_target(url)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=limit)) as session, \
                session.head(url, allow_redirects=False) as answer:
            status = answer.status
    except aiohttp.InvalidURL:
        return failed(name, f"{url!r} is not a URL", f"set Butler.{key}.webhookURL to the full https:// URL")
    except aiohttp.ClientConnectorError as exc:
        return failed(name, f"{target}: cannot connect: {exc.os_error or exc}",
                      "check the host name (DNS) and that this machine may reach it (firewall, proxy)")
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return failed(name, f"{target}: {type(exc).__name__}: {exc}",
                      "check the URL and that this machine may reach it (firewall, proxy)")
    return passed(name, f"{target} answered HTTP {status} to HEAD (nothing was posted)")


async def check_mqtt(config: Config, limit: float) -> Result:
    settings = config.Butler.mqttConfig
    if not settings.enable:
        return skipped("MQTT broker", "MQTT is off (Butler.mqttConfig.enable)")
    import aiomqtt

    from qbutler.mqtt import broker_client, broker_tls_context

    where = f"{settings.brokerHost}:{settings.brokerPort}"
    try:
        async with broker_client(config, f"qbutler-doctor-{os.getpid()}", broker_tls_context(config), limit):
            pass
    except (aiomqtt.MqttError, OSError, RuntimeError) as exc:
        return failed("MQTT broker", f"{where}: {exc}",
                      "is the broker running, and Butler.mqttConfig brokerHost/brokerPort (and username, "
                      "password, tls) right?")
    return passed("MQTT broker", f"{where} accepted a connection")


# ----------------------------------------------------------------------------- this machine


async def check_udp(config: Config, limit: float) -> Result:
    settings = config.Butler.udpServerConfig
    if not settings.enable:
        return skipped("UDP task events", "the UDP server is off (Butler.udpServerConfig.enable)")
    where = f"{settings.serverHost}:{settings.portTaskFailure}"
    try:
        infos = socket.getaddrinfo(settings.serverHost, settings.portTaskFailure, socket.AF_INET, socket.SOCK_DGRAM)
        address = infos[0][4]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
            listener.bind(address)
            bound = listener.getsockname()
            # A test datagram round trip over the bound address (loopback when it listens on all).
            target = ("127.0.0.1", bound[1]) if bound[0] == "0.0.0.0" else bound
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                sender.sendto(b"/qbutler-doctor/", target)
            listener.settimeout(min(limit, 2.0))
            data = listener.recv(64)
    except socket.gaierror as exc:
        return failed("UDP task events", f"{settings.serverHost}: cannot resolve: {exc}",
                      "set Butler.udpServerConfig.serverHost to an address of this machine")
    except TimeoutError:
        return warned("UDP task events", f"{where} bound, but a test datagram did not arrive",
                      "check local firewall rules for UDP")
    except OSError as exc:
        return failed("UDP task events", f"cannot listen on {where}: {exc.strerror or exc}",
                      "another program (a running qbutler or Butler?) uses the port: stop it or change "
                      "Butler.udpServerConfig.portTaskFailure (and the appender XML with it)")
    ok = "a test datagram went round" if data else "no data"
    return passed("UDP task events", f"{where} can be listened on; {ok}. Sense nodes must send to this "
                                     "address (qbutler appender)")


def _writable(folder: Path) -> str | None:
    """Why `folder` cannot take a new file, or None."""
    if not folder.exists():
        return "does not exist"
    if not folder.is_dir():
        return "is not a folder"
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return f"is not writable ({exc.strerror or exc})"
    return None


def check_folders(config: Config) -> list[Result]:
    butler = config.Butler
    folders: list[tuple[str, str]] = []
    for key in ("fileCopyApprovedDirectories", "fileMoveApprovedDirectories"):
        for index, pair in enumerate(getattr(butler, key)):
            folders += [(f"{key}[{index}].fromDirectory", pair.fromDirectory),
                        (f"{key}[{index}].toDirectory", pair.toDirectory)]
    folders += [(f"fileDeleteApprovedDirectories[{i}]", d) for i, d in enumerate(butler.fileDeleteApprovedDirectories)]
    if butler.configDirectories.qvdPath:
        folders.append(("configDirectories.qvdPath", butler.configDirectories.qvdPath))
    if not folders:
        return [skipped("approved folders", "no file-operation folders configured")]
    problems = []
    for key, value in folders:
        path = config.resolve_path(value)
        why = _writable(path)
        if why:
            problems.append(failed("approved folders", f"Butler.{key}: {path} {why}",
                                   "create the folder, or give the account qbutler runs as write access to it"))
    return problems or [passed("approved folders", f"{len(folders)} folder(s) exist and are writable")]


async def check_data(config: Config, limit: float) -> list[Result]:
    folder = config.data_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return [failed("data directory", f"cannot create {folder}: {exc.strerror or exc}",
                       "set Butler.qbutler.dataDirectory to a folder the qbutler account may write")]
    why = _writable(folder)
    if why:
        return [failed("data directory", f"{folder} {why}",
                       "give the account qbutler runs as write access to Butler.qbutler.dataDirectory")]
    results = [passed("data directory", f"{folder} is writable")]
    settings = config.Butler.keyValueStore
    if settings.backend == "sqlite":
        from qbutler.kv import sqlite_path
        from qbutler.kv.filelock import FileLock

        path = sqlite_path(config)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(path.with_name(path.name + ".lock"))
        if lock.acquire():
            lock.release()
            results.append(passed("key-value store", f"sqlite {path}: free"))
        else:
            results.append(warned("key-value store", f"sqlite {path} is in use by a running qbutler",
                                  "expected while the service runs; otherwise stop the other qbutler process"))
    elif settings.backend == "redis":
        results.append(await _check_redis(settings.redis.url, limit))
    return results


async def _check_redis(url: str, limit: float) -> Result:
    from qbutler.kv.redis import RedisStore, redacted
    from qbutler.kv.store import StoreUnavailable

    store = RedisStore(url)
    started = time.monotonic()
    try:
        await asyncio.wait_for(store.start(), limit)
    except (StoreUnavailable, TimeoutError) as exc:
        return failed("key-value store", f"redis {redacted(url)}: {exc or 'no answer'}",
                      "is Redis running, and Butler.keyValueStore.redis.url right?")
    finally:
        await store.stop()
    return passed("key-value store", f"redis {redacted(url)} answered in {(time.monotonic() - started) * 1000:.0f} ms")

