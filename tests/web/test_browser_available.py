"""Says why the dashboard's browser tests did not run, where they cannot (see conftest.py)."""

import pytest

from support.browser import browser_missing


def test_the_browser_tests_can_run() -> None:
    missing = browser_missing()
    if missing:
        pytest.skip(missing)
