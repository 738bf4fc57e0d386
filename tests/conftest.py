"""Shared fixtures: free ports, real brokers, and qbutler in-process or as a subprocess."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from support.brokers import Mosquitto, Redis
from support.qbutler import QbutlerProcess, base_config, running_service

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A fresh broker per test (tests restart it to prove reconnects)."""
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def redis_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    server = Redis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_server(redis_session: Redis) -> Redis:
    """The session's Redis, emptied before each test."""
    redis_session.flush()
    return redis_session


@pytest.fixture
def qbutler_config():
    return base_config


@pytest.fixture
def qbutler_service():
    """`async with qbutler_service(config_dict, folder) as running:` → running.url."""
    return running_service


@pytest.fixture
def qbutler_process(tmp_path: Path) -> Iterator:
    """Factory for qbutler subprocesses; every one started is stopped after the test."""
    started: list[QbutlerProcess] = []

    def start(config: dict, folder: Path | None = None) -> QbutlerProcess:
        process = QbutlerProcess(config, folder or tmp_path / f"qbutler{len(started)}")
        started.append(process)
        process.start()
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def shared_reference() -> Path:
    """../shared/reference, skipping the test where it is absent."""
    path = SHARED / "reference"
    if not path.is_dir():
        pytest.skip("../shared/reference is not beside this checkout")
    return path


@pytest.fixture
def butler_template(shared_reference: Path) -> str:
    """Butler's production template with the placeholders an administrator must fill in filled
    (qbutler refuses placeholders in keys it uses)."""
    template = (shared_reference / "butler-production-template.yaml").read_text(encoding="utf-8")
    return (template.replace("<path/to/cert/", "/etc/qbutler/").replace(".pem>", ".pem")
            .replace("<Path to folder under which QVDs are stored>", "/data/qvd"))


@pytest.fixture(scope="session")
def sense_certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One CA and certificate set per test run (issuing them is the slow part of a site)."""
    return tmp_path_factory.mktemp("sense-certs")


@pytest.fixture
async def sense_site(sense_certs: Path):
    """A running sensesim site with the minimal seed and fast task runs."""
    from support.sense import running_site

    async with running_site(sense_certs) as site:
        yield site


@pytest.fixture
async def sense_control(sense_site):
    from support.sense import Control

    control = Control(sense_site)
    yield control
    await control.aclose()
