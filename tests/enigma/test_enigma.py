"""Runs engine.test.mjs (Qlik's enigma.js, from npm) against a sensesim site with the demo seed.

scripts/test.sh installs the Node packages (`npm ci` here) where Node exists; without Node or
without the installed packages these tests skip and say why.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from sensesim.certs import ensure_certs
from sensesim.server import Site

HERE = Path(__file__).parent
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed: the enigma.js suite needs Node.js 18+"),
    pytest.mark.skipif(
        not (HERE / "node_modules" / "enigma.js").is_dir(),
        reason="enigma.js is not installed: run `npm ci` in tests/enigma (scripts/test.sh does)",
    ),
]


async def test_enigma_js_drives_sensesim(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    ensure_certs(certs)
    async with Site(seed="demo", certs_dir=certs, time_scale=0.02) as site:
        assert NODE is not None
        process = await asyncio.create_subprocess_exec(
            NODE, "--test", "--test-reporter=spec", str(HERE / "engine.test.mjs"),
            cwd=HERE,
            env={
                "PATH": str(Path(NODE).parent),
                "SENSESIM_ENGINE": site.engine_url or "",
                "SENSESIM_QRS": site.qrs_url,
                "SENSESIM_CERTS": str(certs),
            },
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), 120)
    report = output.decode("utf-8", errors="replace")
    assert process.returncode == 0, report
    assert "ℹ fail 0" in report and "ℹ pass 10" in report, report
