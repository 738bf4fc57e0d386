"""scripts/bundle.sh: an offline bundle for this Linux machine, installed into a fresh virtual
environment with the package index out of reach (`--no-index`, no pip configuration).

Building the bundle downloads every wheel from the package index (about 30 s here, on one xdist
worker while the other runs the rest); `pytest -m bundle` runs it alone.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from qbutler import __version__

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.bundle


def simulator_only_packages() -> set[str]:
    """Packages of the `sim` extra that the service itself does not depend on (from pyproject.toml)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    def names(requirements: list[str]) -> set[str]:
        return {re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower() for requirement in requirements}

    return names(project["optional-dependencies"]["sim"]) - names(project["dependencies"])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="builds the Linux bundle")
def test_linux_bundle_installs_without_the_index(tmp_path):
    python_version = f"{sys.version_info.major}.{sys.version_info.minor}"
    bundle = tmp_path / "bundle"
    build = subprocess.run(["bash", str(ROOT / "scripts" / "bundle.sh"), "--platform", "manylinux2014_x86_64",
                            "--python", python_version, "--out", str(bundle)],
                           capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stderr[-3000:]
    wheels = {path.name.split("-")[0].lower() for path in (bundle / "wheels").glob("*.whl")}
    assert {"qbutler", "aiohttp", "pydantic_core", "uvloop"} <= wheels
    left_out = simulator_only_packages() | {"pywin32"}
    assert "httpx" in left_out
    assert not wheels & left_out
    assert (tmp_path / "bundle.zip").is_file()
    assert "ExecStart=/opt/qbutler/venv/bin/qbutler serve" in (bundle / "qbutler.service").read_text()

    # No pip configuration (this machine's points at local wheel folders) and an index URL that
    # cannot answer: everything must come from the bundle.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    env.update({"PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": "http://127.0.0.1:9/simple"})
    target = tmp_path / "installed"
    install = subprocess.run(["bash", str(bundle / "install.sh"), str(target), sys.executable],
                             capture_output=True, text=True, env=env, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    version = subprocess.run([str(target / "venv" / "bin" / "qbutler"), "--version"], capture_output=True,
                             text=True, env=env, timeout=60)
    assert version.returncode == 0
    assert version.stdout.strip() == __version__
