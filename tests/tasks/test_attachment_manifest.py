"""The worker judges attachments by their bytes before anything is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import LocalStorage
from tasks.attachments import AttachmentsRefused, build_manifest

EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 300


def store(root: Path, key: str, data: bytes) -> None:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_manifest_sniffs_types_and_cleans_names(tmp_path: Path) -> None:
    store(tmp_path, "b/scan.bin", b"%PDF-1.7 scanned")
    store(tmp_path, "b/notes.txt", b"plain text")
    manifest = build_manifest(LocalStorage(tmp_path), ["b/scan.bin", "b/notes.txt"], 10_000)
    assert manifest == [
        {"key": "b/scan.bin", "filename": "scan.bin", "contentType": "application/pdf", "size": 16},
        {"key": "b/notes.txt", "filename": "notes.txt", "contentType": "text/plain", "size": 10},
    ]


def test_an_executable_renamed_pdf_is_refused(tmp_path: Path) -> None:
    store(tmp_path, "b/invoice.pdf", EXE)
    with pytest.raises(AttachmentsRefused, match="application/x-msdownload"):
        build_manifest(LocalStorage(tmp_path), ["b/invoice.pdf"], 10_000)


def test_missing_and_oversized(tmp_path: Path) -> None:
    store(tmp_path, "b/a.txt", b"x" * 600)
    store(tmp_path, "b/c.txt", b"x" * 600)
    with pytest.raises(AttachmentsRefused, match="attachment `b/nope.txt` not found"):
        build_manifest(LocalStorage(tmp_path), ["b/nope.txt"], 10_000)
    with pytest.raises(AttachmentsRefused, match="attachments total 1200 bytes"):
        build_manifest(LocalStorage(tmp_path), ["b/a.txt", "b/c.txt"], 1000)
