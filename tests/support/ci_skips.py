"""A pytest plugin: under CI=true, a chaos or service test that skips fails instead.

Tests that need a service or a tool of the machine (RabbitMQ's and PostgreSQL's binaries for
the chaos suite, a running server, curl) skip on a laptop without them; in CI such a skip would
hide that the suite never ran. tests/conftest.py loads this plugin.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

SERVICE_MARKS = ("chaos", "integration", "postgres", "rabbitmq")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under CI=true, turn the skip of a chaos or service test into a failure that says why."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if (
        os.environ.get("CI", "").lower() == "true"
        and report.skipped
        and not hasattr(report, "wasxfail")
        and any(item.get_closest_marker(mark) for mark in SERVICE_MARKS)
    ):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        reason = str(reason).removeprefix("Skipped: ")
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where every service test must run: {reason}"
