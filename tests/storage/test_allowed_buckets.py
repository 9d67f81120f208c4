"""AllowedBuckets: every operation of the storage, for keys in the allowed buckets only."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import build_storage
from storage.allowed import BucketNotAllowed


def test_every_operation_is_limited_to_the_allowed_buckets(tmp_path: Path) -> None:
    storage = build_storage("local", local_root=tmp_path, allowed_buckets=("uploads",))
    storage.write("uploads/gomail/1/a.pdf", b"%PDF-1.4")
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "x.pdf").write_bytes(b"secret")

    assert [o.key for o in storage.list("uploads/gomail/")] == ["uploads/gomail/1/a.pdf"]
    storage.delete("uploads/gomail/1/a.pdf")
    assert list(storage.list("uploads/gomail/")) == []
    for call in (
        lambda: storage.stat("private/x.pdf"),
        lambda: storage.read("private/x.pdf"),
        lambda: storage.read_head("private/x.pdf", 1),
        lambda: storage.write("private/y.pdf", b"x"),
        lambda: list(storage.list("private/")),
        lambda: storage.delete("private/x.pdf"),
    ):
        with pytest.raises(BucketNotAllowed, match="bucket `private` is not an allowed bucket"):
            call()
    assert (tmp_path / "private" / "x.pdf").read_bytes() == b"secret"
