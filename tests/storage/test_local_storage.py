"""LocalStorage: keys map to files under one root, and nothing escapes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import LocalStorage, build_storage
from storage.base import InvalidKey, ObjectInfo, ObjectNotFound


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The storage root, inside a folder that also holds a file it must never reach."""
    (tmp_path / "secret.txt").write_text("outside the root")
    folder = tmp_path / "root"
    folder.mkdir()
    return folder


@pytest.fixture
def local(root: Path) -> LocalStorage:
    """Local storage on `root`."""
    return LocalStorage(root)


def test_write_then_stat_and_read(local: LocalStorage, root: Path) -> None:
    info = local.write("brand/logos/logo.png", b"\x89PNG data", content_type="image/png")

    assert info == ObjectInfo(key="brand/logos/logo.png", size=9, content_type="image/png")
    assert (root / "brand" / "logos" / "logo.png").read_bytes() == b"\x89PNG data"
    assert local.read("brand/logos/logo.png") == b"\x89PNG data"
    # The type of a file on disk is guessed from its name.
    assert local.stat("brand/logos/logo.png") == ObjectInfo(
        key="brand/logos/logo.png", size=9, content_type="image/png"
    )


def test_a_missing_file_is_not_found_with_the_contract_text(local: LocalStorage) -> None:
    for call in (local.stat, local.read):
        with pytest.raises(ObjectNotFound) as caught:
            call("docs/missing.pdf")
        assert str(caught.value) == "attachment `docs/missing.pdf` not found"
        assert caught.value.key == "docs/missing.pdf"


def test_a_folder_is_not_an_object(local: LocalStorage) -> None:
    local.write("docs/sub/file.txt", b"x")

    for call in (local.stat, local.read):
        with pytest.raises(ObjectNotFound):
            call("docs/sub")


@pytest.mark.parametrize(
    "key",
    [
        "../secret.txt",
        "root/../../secret.txt",
        "docs/../../secret.txt",
        "docs/./file",
        "docs\\..\\..\\secret.txt",
        "/etc/passwd",
        "docs",
        "docs/",
        "docs/a\nb",
    ],
)
def test_keys_that_could_leave_the_root_are_refused(
    local: LocalStorage, root: Path, key: str
) -> None:
    for call in (local.stat, local.read):
        with pytest.raises(InvalidKey):
            call(key)
    with pytest.raises(InvalidKey):
        local.write(key, b"overwritten")

    assert (root.parent / "secret.txt").read_text() == "outside the root"
    assert list(root.iterdir()) == []


def test_a_write_replaces_the_file_and_leaves_no_temporary_behind(
    local: LocalStorage, root: Path
) -> None:
    local.write("docs/report.txt", b"first")
    local.write("docs/report.txt", b"second")

    assert local.read("docs/report.txt") == b"second"
    assert [p.name for p in (root / "docs").iterdir()] == ["report.txt"]


def test_a_failed_write_keeps_the_old_file_whole(local: LocalStorage, root: Path) -> None:
    local.write("docs/report.txt", b"the old, complete version")

    with pytest.raises(TypeError):
        local.write("docs/report.txt", "not bytes")  # type: ignore[arg-type]

    assert local.read("docs/report.txt") == b"the old, complete version"
    assert [p.name for p in (root / "docs").iterdir()] == ["report.txt"]


def test_build_storage_defaults_to_local(root: Path) -> None:
    storage = build_storage("local", local_root=root)

    assert isinstance(storage, LocalStorage) and storage.root == root.resolve()


def test_delete_removes_the_file_and_its_empty_folder(local: LocalStorage, root: Path) -> None:
    local.write("uploads/gomail/e1/a.pdf", b"a")
    local.write("uploads/gomail/e1/b.pdf", b"b")

    local.delete("uploads/gomail/e1/a.pdf")
    assert not (root / "uploads/gomail/e1/a.pdf").exists()
    assert (root / "uploads/gomail/e1/b.pdf").read_bytes() == b"b"  # the folder is not empty
    local.delete("uploads/gomail/e1/b.pdf")
    local.delete("uploads/gomail/e1/b.pdf")  # already gone: not an error

    assert not (root / "uploads/gomail/e1").exists()
    with pytest.raises(ObjectNotFound):
        local.stat("uploads/gomail/e1/b.pdf")
