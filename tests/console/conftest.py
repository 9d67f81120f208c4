"""Fixtures of the console's tests: a test client signed in with every scope."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.conftest import Keys
from tests.support.console_client import Console


@pytest.fixture
def console(app: Flask, keys: Keys) -> Console:
    """Signed in with every scope."""
    return Console(app, keys, "admin")
