"""Reading list members from a CSV upload: streamed, checked row by row, errors by line.

The header row names the columns; the `email` column (any case) is required, every other
column becomes the member's variables, and a `name` column also fills the member's name.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import IO, Any

from email_validator import EmailNotValidError, validate_email

from api.addresses import AddressError, bare_address, format_address
from api.header_text import header_text_error

MAX_NAME = 200

# An unquoted ASCII local part (RFC 5322 dot-atom): email-validator accepts every one of these
# as it is, so such addresses need only their domain checked, and domains repeat in a list.
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


_LONE_CR = re.compile(r"(?<=\r)(?!\n)")


class CsvError(ValueError):
    """The upload cannot be read as a member CSV at all; nothing of it is stored."""


@dataclass(frozen=True)
class Member:
    """One good row: the checked, lower-cased email, the name and the other columns."""

    line: int
    email: str
    name: str | None
    variables: dict[str, Any]


@dataclass(frozen=True)
class RowError:
    """A row left out: its first physical line in the file (the header is line 1) and why."""

    line: int
    error: str


@lru_cache(maxsize=4096)
def _domain(domain: str) -> str | None:
    """The ASCII form of `domain` as email-validator checks it, or None when it is invalid."""
    try:
        checked = validate_email(f"a@{domain}", check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return None
    return (checked.ascii_email or checked.normalized).partition("@")[2]


def member_email(raw: str) -> str:
    """The bare, lower-cased address of `raw`, checked as `/send` checks it.

    Same verdicts as `format_address` (a test holds them together), about twenty times faster
    for the usual `local@domain` shape, which a 100,000-row import needs.
    """
    text = raw.strip()
    local, at, domain = text.rpartition("@")
    if at and len(local) <= 64 and _DOT_ATOM.fullmatch(local) and domain.isascii():
        ascii_domain = _domain(domain)
        if ascii_domain is not None and len(local) + 1 + len(ascii_domain) <= 254:
            return f"{local}@{ascii_domain}".lower()
    return bare_address(format_address(raw))


def read_members(stream: IO[bytes]) -> Iterator[Member | RowError]:
    """The rows of a UTF-8 CSV (a BOM is allowed), one at a time; `CsvError` if unreadable."""
    reader = csv.reader(_lines(stream))
    yield from _rows(reader)


def _lines(stream: IO[bytes]) -> Iterator[str]:
    """The stream's lines as text, decoded one by one so that an encoding error has a line."""
    for number, raw in enumerate(stream, start=1):
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as err:
            raise CsvError(f"line {number} of the CSV is not UTF-8 text") from err
        if "\r" in line:
            # Lines ended by a lone CR (old Mac spreadsheets) are lines too.
            yield from _LONE_CR.split(line)
        else:
            yield line


def _rows(reader: Any) -> Iterator[Member | RowError]:
    header = _header(reader)
    columns = [name.lower() for name in header]
    email_at = columns.index("email")
    name_at = columns.index("name") if "name" in columns else None
    line = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            yield RowError(line, f"unreadable row: {err}")
            line = reader.line_num + 1
            continue
        start, line = line, reader.line_num + 1
        if not row:
            continue  # a blank line
        yield _member(start, header, row, email_at, name_at)


def _header(reader: Any) -> list[str]:
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise CsvError("the CSV is empty") from None
    except csv.Error as err:
        raise CsvError(f"the CSV header cannot be read: {err}") from err
    lowered = [name.lower() for name in header]
    if "email" not in lowered:
        raise CsvError("the CSV has no `email` column")
    # Counted once, by a Counter: list.count per column is quadratic in the number of columns.
    counts = Counter(lowered)
    for name, low in zip(header, lowered, strict=True):
        if counts[low] > 1:
            raise CsvError(f"the CSV has two columns named `{name}`")
    return header


def _member(
    line: int, header: list[str], row: list[str], email_at: int, name_at: int | None
) -> Member | RowError:
    if len(row) != len(header):
        return RowError(line, f"expected {len(header)} fields, found {len(row)}")
    raw = row[email_at].strip()
    if not raw:
        return RowError(line, "the `email` field is empty")
    try:
        email = member_email(raw)
    except AddressError as err:
        return RowError(line, str(err))
    name = row[name_at].strip() or None if name_at is not None else None
    if name is not None and len(name) > MAX_NAME:
        return RowError(line, f"the name is longer than {MAX_NAME} characters")
    if name is not None and (error := header_text_error("name", name)):
        return RowError(line, error)  # it becomes the display name of the member's `To:`
    pairs = enumerate(zip(header, row, strict=True))
    variables = {key: value for at, (key, value) in pairs if at != email_at}
    return Member(line, email, name, variables)
