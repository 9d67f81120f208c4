"""Fixtures for the storage tests: a GCS emulator shared by the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from storage.gcs import GcsStorage
from tests.support.gcs_emulator import EMULATOR_ENV, GcsEmulator

BUCKET = "attachments"


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[GcsEmulator]:
    """An in-memory GCS emulator with the bucket BUCKET."""
    with GcsEmulator() as emulator:
        emulator.create_bucket(BUCKET)
        yield emulator


@pytest.fixture
def gcs(gcs_emulator: GcsEmulator, monkeypatch: pytest.MonkeyPatch) -> GcsStorage:
    """GcsStorage pointed at the emulator the way operators would: STORAGE_EMULATOR_HOST."""
    monkeypatch.setenv(EMULATOR_ENV, gcs_emulator.url)
    return GcsStorage(timeout=5, retry_deadline=5)
