"""The template engine's tests: Handlebars.js is the oracle (tests/handlebars/js, installed by npm ci)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
