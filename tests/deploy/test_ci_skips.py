"""Under CI=true a chaos or service test that skips fails the run; elsewhere it stays a skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.stack import REPO_ROOT

SUITE = """
import pytest

@pytest.fixture
def service():
    pytest.skip("rabbitmq-server is not installed")  # as the chaos fixtures do

@pytest.mark.chaos
def test_chaos_without_services(service):
    pass

@pytest.mark.postgres
def test_service_skipped_in_its_body():
    pytest.skip("no server")

@pytest.mark.integration
@pytest.mark.skipif(True, reason="needs the curl command")
def test_integration_skipped_by_a_mark():
    pass

def test_plain_skip():
    pytest.skip("not a service test")

@pytest.mark.postgres
@pytest.mark.xfail(reason="known")
def test_expected_failure():
    assert False
"""


def run(tmp_path: Path, ci: str | None) -> tuple[int, str]:
    (tmp_path / "test_suite.py").write_text(SUITE)
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nmarkers =\n    chaos: x\n    postgres: x\n    integration: x\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("CI", None)
    if ci is not None:
        env["CI"] = ci
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.support.ci_skips", "-rfsx", "-q",
         "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return done.returncode, done.stdout


def test_under_ci_service_skips_fail(tmp_path: Path) -> None:
    code, out = run(tmp_path, "true")
    assert code == 1, out
    # A skip in a fixture or a skipif mark happens at setup: pytest reports that as an error.
    assert "1 failed, 1 skipped, 1 xfailed, 2 errors" in out, out
    for name, reason in [
        ("ERROR at setup of test_chaos_without_services", "rabbitmq-server is not installed"),
        ("test_service_skipped_in_its_body", "no server"),
        ("ERROR at setup of test_integration_skipped_by_a_mark", "needs the curl command"),
    ]:
        assert name in out, out
        assert f"where every service test must run: {reason}" in out, out


@pytest.mark.parametrize("ci", [None, "false"])
def test_elsewhere_they_stay_skips(tmp_path: Path, ci: str | None) -> None:
    code, out = run(tmp_path, ci)
    assert code == 0, out
    assert "4 skipped, 1 xfailed" in out, out
