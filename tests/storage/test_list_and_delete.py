"""Listing under a prefix and deleting: what the retention purge uses, on both backends."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage import LocalStorage
from storage.base import ObjectNotFound, ObjectStorage
from storage.gcs import GcsStorage
from tests.storage.conftest import BUCKET


@pytest.fixture(params=["local", "gcs"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStorage:
    """Each backend, on bucket BUCKET (the emulator's is shared: each test has its own folder)."""
    if request.param == "local":
        return LocalStorage(tmp_path / "root")
    gcs: GcsStorage = request.getfixturevalue("gcs")
    return gcs


@pytest.fixture
def top() -> str:
    """A folder of BUCKET no other test writes in."""
    return f"{BUCKET}/{uuid.uuid4().hex}"


def test_list_finds_only_what_lies_under_the_prefix(storage: ObjectStorage, top: str) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    for key in ("gomail/a/1.pdf", "gomail/a/2.pdf", "gomail/b/x.txt", "gomailx/c.txt", "other"):
        storage.write(f"{top}/{key}", b"data")

    listed = list(storage.list(f"{top}/gomail/"))

    assert sorted(o.key for o in listed) == [
        f"{top}/gomail/a/1.pdf",
        f"{top}/gomail/a/2.pdf",
        f"{top}/gomail/b/x.txt",
    ]
    assert all(before <= o.updated <= datetime.now(UTC) + timedelta(seconds=5) for o in listed)
    assert list(storage.list(f"{top}/nothing-here/")) == []


def test_delete_removes_the_object_and_tolerates_a_missing_one(
    storage: ObjectStorage, top: str
) -> None:
    storage.write(f"{top}/gomail/a/1.pdf", b"data")
    storage.write(f"{top}/gomail/a/2.pdf", b"data")

    storage.delete(f"{top}/gomail/a/1.pdf")
    storage.delete(f"{top}/gomail/a/1.pdf")  # already gone: no error

    with pytest.raises(ObjectNotFound):
        storage.stat(f"{top}/gomail/a/1.pdf")
    assert [o.key for o in storage.list(f"{top}/gomail/")] == [f"{top}/gomail/a/2.pdf"]


def test_local_delete_leaves_no_empty_folders_behind(tmp_path: Path) -> None:
    local = LocalStorage(tmp_path)
    local.write("uploads/gomail/a/1.pdf", b"data")
    local.write("uploads/keep.txt", b"data")

    local.delete("uploads/gomail/a/1.pdf")

    assert not (tmp_path / "uploads" / "gomail").exists()
    assert (tmp_path / "uploads" / "keep.txt").exists()
