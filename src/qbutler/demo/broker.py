"""A private Mosquitto broker for the demo, when the `mosquitto` binary is installed."""

from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path


def find_mosquitto() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    # Debian installs it outside a normal user's PATH.
    return "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Broker:
    def __init__(self, binary: str, folder: Path):
        self.binary = binary
        self.folder = folder
        self.port = free_port()
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        conf = self.folder / "mosquitto.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n",
                        encoding="utf-8")
        self._process = await asyncio.create_subprocess_exec(
            self.binary, "-c", str(conf), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        for _ in range(100):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            except OSError:
                if self._process.returncode is not None:
                    raise RuntimeError("mosquitto exited at start") from None
                await asyncio.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening")

    async def stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            try:
                await asyncio.wait_for(self._process.wait(), 5)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
        self._process = None
