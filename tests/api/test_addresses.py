"""Address parsing: the forms the contract allows, and what cannot travel."""

from __future__ import annotations

import pytest

from api.addresses import AddressError, split_addresses


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("a@x.com, b@y.com c@z.org", ["a@x.com", "b@y.com", "c@z.org"]),
        (["Ann <ann@x.com>", "b@y.com c@d.com"], ["Ann <ann@x.com>", "b@y.com", "c@d.com"]),
        ('"Lee, Ann" <ann@x.com>', ['"Lee, Ann" <ann@x.com>']),
        ("José <jose@example.com>", ["José <jose@example.com>"]),
        ("ann@bücher.de", ["ann@xn--bcher-kva.de"]),
        ("a@x.com a@x.com", ["a@x.com"]),
        (["a@x.com, Bob <b@y.org>"], ["a@x.com", "Bob <b@y.org>"]),
    ],
)
def test_accepted_forms(given: str | list[str], stored: list[str]) -> None:
    assert split_addresses(given) == stored


@pytest.mark.parametrize("bad", ["jösé@example.com", "a@", "x@y..com", "a@b.com\r\nBcc: c@d.com"])
def test_refused(bad: str) -> None:
    with pytest.raises(AddressError, match="is not a valid email address"):
        split_addresses(bad)
