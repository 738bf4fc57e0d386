"""`qbutler demo`: the headless check passes, and the live view shows an alert and stops cleanly."""

from __future__ import annotations

import fcntl
import os
import re
import select
import socket
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from support.qbutler import SRC

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def qbutler_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(SRC), "TERM": "xterm-256color", "COLUMNS": "200", "LINES": "50"}


def port_is_closed(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_demo_check_passes_and_cleans_up(tmp_path: Path):
    folder = tmp_path / "demo"
    result = subprocess.run([sys.executable, "-m", "qbutler", "demo", "--check", "--dir", str(folder)],
                            capture_output=True, text=True, env={**qbutler_env(), "COLUMNS": "160"}, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    for capability in ("Start a task over REST", "A schedule fires", "Failure alert on every channel",
                       "Dashboard shows the failures",
                       "Key-value round trip", "File copy in the sandbox", "App dump"):
        assert capability in result.stdout
    assert "FAIL" not in result.stdout
    # --dir keeps what the demo wrote, so it can be inspected afterwards.
    assert (folder / "qbutler.yaml").is_file() and (folder / "schedule.yaml").is_file()


def test_live_view_shows_a_failure_alert_and_ctrl_c_leaves_nothing_running(tmp_path: Path):
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))

    def own_terminal() -> None:
        # Make the pty our controlling terminal, so ^C typed into it becomes SIGINT, as for a user.
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    process = subprocess.Popen([sys.executable, "-m", "qbutler", "demo"], stdin=slave, stdout=slave,
                               stderr=slave, env=qbutler_env(), preexec_fn=own_terminal, close_fds=True)
    os.close(slave)
    screen = b""
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not re.search(rb"Alerts delivered \([1-9]", ANSI.sub(b"", screen)):
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                screen += os.read(master, 65536)
        text = ANSI.sub(b"", screen).decode("utf-8", errors="replace")
        assert re.search(r"Alerts delivered \([1-9]", text), text[-3000:]
        assert "Recruitment Funnel" in text
        rest_port = int(re.search(r"REST API\s+http://127\.0\.0\.1:(\d+)", text).group(1))
        assert re.search(rf"dashboard\s+http://127\.0\.0\.1:{rest_port}/ui/", text), "no dashboard URL printed"
        broker = re.search(r"MQTT broker\s+127\.0\.0\.1:(\d+)", text)
        folder = re.search(r"Folder (\S+)", text).group(1)
        os.write(master, b"\x03")
        # Keep reading: a child writing to a full pty would block and never get to exit.
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                try:
                    screen += os.read(master, 65536)
                except OSError:
                    break
        assert process.wait(5) == 0
        assert b"nothing left running" in ANSI.sub(b"", screen)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    assert port_is_closed(rest_port)
    if broker:
        assert port_is_closed(int(broker.group(1)))
    # Without --dir the demo's temporary folder is removed.
    assert not Path(folder).exists()
