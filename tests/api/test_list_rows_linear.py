"""Reading a member CSV stays linear in its columns and rows, on uploads of a few MB.

Run in a subprocess with a timeout far above what a linear pass takes (a second or two) and
far below what the quadratic header check took (list.count per column: 400,000 columns is
1.6e11 comparisons, hours): the bound is that gap, not a duration.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from api.list_rows import CsvError, Member, read_members

GENEROUS_SECONDS = 120

WIDE_HEADER = (
    "import io\nfrom api.list_rows import read_members\n"
    "header = ','.join(f'c{n}' for n in range(400_000)) + ',email\\n'\n"
    "row = ','.join('v' for _ in range(400_000)) + ',a@example.com\\n'\n"
    "rows = list(read_members(io.BytesIO((header + row).encode())))\n"
    "assert rows[0].email == 'a@example.com' and len(rows[0].variables) == 400_000\n"
)
MANY_ROWS = (
    "import io\nfrom api.list_rows import read_members\n"
    "body = 'email,name\\n' + ''.join(f'u{n}@example.com,U{n}\\r' for n in range(150_000))\n"
    "assert sum(1 for _ in read_members(io.BytesIO(body.encode()))) == 150_000\n"
)


@pytest.mark.parametrize("script", [WIDE_HEADER, MANY_ROWS], ids=["columns", "rows"])
def test_megabytes_of_csv_are_read_in_linear_time(script: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", script],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=GENEROUS_SECONDS,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]


@pytest.mark.parametrize(
    ("header", "named"),
    [("A,B,b,a,email", "A"), ("x,email,y,Y", "y"), ("Email,x,EMAIL", "Email")],
)
def test_the_first_column_with_a_twin_is_named(header: str, named: str) -> None:
    with pytest.raises(CsvError, match=f"^the CSV has two columns named `{named}`$"):
        list(read_members(io.BytesIO(f"{header}\n".encode())))


def test_a_header_without_twins_reads() -> None:
    rows = list(read_members(io.BytesIO(b"email,Name\nA@Example.com,Ann\n")))
    assert rows == [Member(2, "a@example.com", "Ann", {"Name": "Ann"})]
