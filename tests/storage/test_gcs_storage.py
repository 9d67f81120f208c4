"""GcsStorage against gcp-storage-emulator, through the real google-cloud-storage client."""

from __future__ import annotations

import contextlib
import socket
import threading
import uuid
from pathlib import Path

import pytest
from google.api_core.exceptions import NotFound, RetryError

from storage import BucketNotAllowed, build_storage
from storage.base import InvalidKey, ObjectInfo, ObjectNotFound, StorageError
from storage.gcs import GcsStorage
from tests.storage.conftest import BUCKET
from tests.support.gcs_emulator import EMULATOR_ENV, GcsEmulator


def unique_key(name: str) -> str:
    """A key no other test uses, in the shared bucket."""
    return f"{BUCKET}/{uuid.uuid4().hex}/{name}"


def test_an_object_put_elsewhere_can_be_stated_and_read(
    gcs: GcsStorage, gcs_emulator: GcsEmulator
) -> None:
    key = unique_key("invoice.pdf")
    gcs_emulator.put(key, b"%PDF-1.4 invoice", content_type="application/pdf")

    assert gcs.stat(key) == ObjectInfo(key=key, size=16, content_type="application/pdf")
    assert gcs.read(key) == b"%PDF-1.4 invoice"


def test_written_objects_round_trip_and_replace(gcs: GcsStorage, gcs_emulator: GcsEmulator) -> None:
    key = unique_key("logo.png")

    info = gcs.write(key, b"first", content_type="image/png")
    gcs.write(key, b"second version", content_type="image/png")

    assert info == ObjectInfo(key=key, size=5, content_type="image/png")
    assert gcs_emulator.get(key) == b"second version"
    assert gcs.stat(key).size == len(b"second version")


def test_delete_removes_the_object_and_a_missing_one_is_no_error(gcs: GcsStorage) -> None:
    key = unique_key("upload.pdf")
    gcs.write(key, b"%PDF-1.4")

    gcs.delete(key)
    gcs.delete(key)

    with pytest.raises(ObjectNotFound):
        gcs.stat(key)


def test_binary_content_is_kept_byte_for_byte(gcs: GcsStorage) -> None:
    key = unique_key("blob.bin")
    data = bytes(range(256)) * 64

    gcs.write(key, data)

    assert gcs.read(key) == data
    assert gcs.stat(key).content_type == "application/octet-stream"


@pytest.mark.parametrize("key", [f"{BUCKET}/missing.pdf", "no-such-bucket/file.pdf"])
def test_a_missing_object_is_not_found_with_the_contract_text(gcs: GcsStorage, key: str) -> None:
    for call in (gcs.stat, gcs.read):
        with pytest.raises(ObjectNotFound) as caught:
            call(key)
        assert str(caught.value) == f"attachment `{key}` not found"
        assert caught.value.key == key


def test_writing_to_a_missing_bucket_is_an_error_not_a_missing_object(gcs: GcsStorage) -> None:
    with pytest.raises(StorageError) as caught:
        gcs.write("no-such-bucket/file.txt", b"x")

    assert not isinstance(caught.value, ObjectNotFound)
    assert caught.value.key == "no-such-bucket/file.txt"


@pytest.mark.parametrize("key", ["no-slash", "bucket/", "/path", "bucket/../etc/passwd", "b//x"])
def test_a_bad_key_is_refused(gcs: GcsStorage, key: str) -> None:
    for call in (gcs.stat, gcs.read):
        with pytest.raises(InvalidKey):
            call(key)
    with pytest.raises(InvalidKey):
        gcs.write(key, b"x")


class HangUp:
    """A listener that accepts each connection and closes it at once, counting them."""

    def __init__(self) -> None:
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):  # closed by stop()
            while True:
                conn, _ = self._listener.accept()
                self.connections += 1
                conn.close()

    def stop(self) -> None:
        self._listener.close()
        self._thread.join(timeout=5)


def test_an_unreachable_service_is_a_bounded_storage_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = HangUp()
    monkeypatch.setenv(EMULATOR_ENV, f"http://127.0.0.1:{service.port}")
    storage = GcsStorage(timeout=1, retry_deadline=2)

    try:
        with pytest.raises(StorageError) as caught:
            storage.read(f"{BUCKET}/anything.pdf")
    finally:
        service.stop()

    assert not isinstance(caught.value, ObjectNotFound)
    # The library retried the dropped connections, and what ended it was our retry deadline
    # (2 s, not the library's 120 s default).
    assert service.connections >= 2
    assert isinstance(caught.value.__cause__, RetryError)
    assert "Timeout of 2.0s exceeded" in str(caught.value.__cause__)


def test_build_storage_knows_gcs(gcs_emulator: GcsEmulator, tmp_path: Path) -> None:
    storage = build_storage("gcs", local_root=tmp_path, gcs_project="mailroom-test")

    assert isinstance(storage, GcsStorage) and storage.project == "mailroom-test"
    with pytest.raises(StorageError, match="known: local, gcs"):
        build_storage("s3", local_root=tmp_path)


def test_allowed_buckets_refuse_any_other_before_asking_gcs(
    gcs_emulator: GcsEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(EMULATOR_ENV, gcs_emulator.url)
    gcs_emulator.create_bucket("elsewhere")
    gcs_emulator.put("elsewhere/secret.pdf", b"%PDF-1.4 secret", content_type="application/pdf")
    key = unique_key("ok.pdf")
    gcs_emulator.put(key, b"%PDF-1.4 ok", content_type="application/pdf")
    storage = build_storage(
        "gcs", local_root=tmp_path, gcs_project="mailroom-test", allowed_buckets=(BUCKET,)
    )

    assert storage.read(key) == b"%PDF-1.4 ok"
    for call in (storage.stat, storage.read):
        with pytest.raises(BucketNotAllowed) as caught:
            call("elsewhere/secret.pdf")
        assert str(caught.value) == (
            "attachment `elsewhere/secret.pdf`: bucket `elsewhere` is not an allowed bucket"
        )
    with pytest.raises(BucketNotAllowed):
        storage.write("elsewhere/planted.pdf", b"x")
    with pytest.raises(NotFound):
        gcs_emulator.get("elsewhere/planted.pdf")
