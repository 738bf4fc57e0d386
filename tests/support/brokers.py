"""Real Mosquitto and Redis servers on free loopback ports, owned by the test run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from support.net import free_port, wait_for_port


class ServerProcess:
    """A server binary we start and stop ourselves (restartable on the same port)."""

    def __init__(self, binary: str, workdir: Path):
        path = shutil.which(binary) or (f"/usr/sbin/{binary}" if Path(f"/usr/sbin/{binary}").exists() else None)
        if path is None:
            raise RuntimeError(f"{binary} is not installed; the test command installs it with apt-get")
        self.binary = path
        self.workdir = workdir
        self.host = "127.0.0.1"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.workdir / "server.log", "ab")
        self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                        cwd=self.workdir)
        log.close()
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


class Mosquitto(ServerProcess):
    def __init__(self, workdir: Path):
        super().__init__("mosquitto", workdir)

    def command(self) -> list[str]:
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "log_dest stdout\n", encoding="utf-8")
        return [self.binary, "-c", str(conf)]


class Redis(ServerProcess):
    def __init__(self, workdir: Path):
        super().__init__("redis-server", workdir)

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def command(self) -> list[str]:
        return [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.workdir)]

    def flush(self) -> None:
        subprocess.run([shutil.which("redis-cli") or "redis-cli", "-p", str(self.port), "flushall"],
                       check=True, capture_output=True)
