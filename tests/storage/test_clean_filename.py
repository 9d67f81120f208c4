"""`clean_filename`: the name a file is stored and attached under, from a key or a client's path."""

from __future__ import annotations

import pytest

from storage import clean_filename


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("invoices/2026/invoice-1042.pdf", "invoice-1042.pdf"),
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\ann\\report.pdf", "report.pdf"),
        ('say "hi"\r\n.txt', "say _hi_.txt"),
        ("bell\x07\x7f.csv", "bell_.csv"),
        ("..", "attachment"),
        (" . ", "attachment"),
        ("", "attachment"),
        ("résumé final.pdf", "résumé final.pdf"),
    ],
)
def test_cleans(given: str, expected: str) -> None:
    assert clean_filename(given) == expected


def test_long_names_are_cut_on_bytes_keeping_the_extension() -> None:
    name = clean_filename("é" * 300 + ".pdf")
    assert name.endswith(".pdf")
    assert len(name.encode()) <= 200
    assert name == "é" * 98 + ".pdf"  # 98 two-byte characters fit in 200 - 4 bytes
    assert clean_filename("x" * 300) == "x" * 200


def test_is_idempotent() -> None:
    for given in ("a/b/c.txt", "C:\\x\\..\\y.pdf", 'q"u\x00o.te', "é" * 300 + ".pdf"):
        once = clean_filename(given)
        assert clean_filename(once) == once
