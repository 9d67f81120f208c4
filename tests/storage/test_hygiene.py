"""Attachments are judged by their bytes as well as their names."""

from __future__ import annotations

import pytest

from storage.hygiene import AttachmentDenied, AttachmentPolicy, sniff_content_type

EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 300
ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 300


def test_bytes_win_over_the_name() -> None:
    assert sniff_content_type(EXE, "invoice.pdf") == "application/x-msdownload"
    assert sniff_content_type(b"%PDF-1.7 ...", "scan.bin") == "application/pdf"
    assert sniff_content_type(b"plain words", "notes.txt") == "text/plain"
    assert sniff_content_type(b"", "data.unknownext") == "application/octet-stream"


@pytest.mark.parametrize("name", ["setup.exe", "invoice.pdf.exe", "run.SH", "macro.vbs", "a.js"])
def test_denied_extensions(name: str) -> None:
    with pytest.raises(AttachmentDenied, match="is not allowed"):
        AttachmentPolicy().check_name(f"b/{name}", name)


def test_allowed_names_and_types_pass() -> None:
    policy = AttachmentPolicy()
    policy.check_name("b/report.pdf", "report.pdf")
    policy.check_type("b/report.pdf", "application/pdf")


@pytest.mark.parametrize("head", [EXE, ELF])
def test_renamed_executables_are_caught_by_type(head: bytes) -> None:
    with pytest.raises(AttachmentDenied, match="is not allowed"):
        AttachmentPolicy().check_type("b/x.pdf", sniff_content_type(head, "x.pdf"))


def test_configured_lists_replace_the_defaults() -> None:
    policy = AttachmentPolicy.from_lists([".PDF"], ["text/csv"])
    policy.check_name("b/setup.exe", "setup.exe")
    with pytest.raises(AttachmentDenied):
        policy.check_name("b/a.pdf", "a.pdf")
    with pytest.raises(AttachmentDenied):
        policy.check_type("b/a.csv", "text/csv")
