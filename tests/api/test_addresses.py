"""Address parsing: the forms the contract allows, and what cannot travel."""

from __future__ import annotations

import pytest

from api.addresses import AddressError, format_address, split_addresses


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


def test_checked_addresses_are_remembered_and_refusals_are_not() -> None:
    from api.addresses import _checked

    _checked.cache_clear()
    assert format_address("Ann <ann@EXAMPLE.com>") == format_address("Ann <ann@EXAMPLE.com>")
    assert _checked.cache_info().hits == 1 and _checked.cache_info().currsize == 1
    for _ in range(2):
        with pytest.raises(AddressError, match="`not-an-address` is not a valid email address"):
            format_address("not-an-address")
    assert _checked.cache_info().currsize == 1
