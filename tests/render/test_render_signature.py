"""Signatures: inside the HTML body, after the "-- " line in the text, inside the brand."""

from __future__ import annotations

import pytest

from render import BrandSpec, Rendered, finalize
from render.signature import append_html, append_text, complete

SIG = ("<p>Jane Doe<br>Billing</p>", "Jane Doe\nBilling")


def final(html: str | None, text: str | None = None, **kwargs: object) -> Rendered:
    options: dict[str, object] = {"brand": None, "brand_styles": False, "custom_style": None}
    return finalize(Rendered("Hi", html, text), **{**options, **kwargs})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("<p>Hello</p>", "<p>Hello</p><i>sig</i>"),
        (
            "<html><body><p>Hello</p></body></html>",
            "<html><body><p>Hello</p><i>sig</i></body></html>",
        ),
        ("<html><BODY>x</BODY >\n</html>", "<html><BODY>x<i>sig</i></BODY >\n</html>"),
        # The last </body>: an earlier one may sit in a comment or a code sample.
        ("<body><!-- </body> --></body>", "<body><!-- </body> --><i>sig</i></body>"),
    ],
)
def test_html_signature_goes_before_body_end_or_at_the_end(markup: str, expected: str) -> None:
    assert append_html(markup, "<i>sig</i>") == expected


def test_text_signature_follows_the_separator_line() -> None:
    assert append_text("Hello\n\n", "Jane") == "Hello\n\n-- \nJane"
    assert append_text("Hello", "-- \nJane\n") == "Hello\n\n-- \nJane"  # no second separator
    assert append_text("", "Jane") == "\n-- \nJane"
    assert append_text("Hello", None) == "Hello"


def test_missing_halves_are_derived() -> None:
    assert complete(None) == (None, None)
    assert complete(("", "  ")) == (None, None)
    assert complete(("<p>Jane <b>Doe</b></p>", None)) == ("<p>Jane <b>Doe</b></p>", "Jane Doe")
    assert complete((None, "Jane <Doe>\nBilling")) == (
        "<div>Jane &lt;Doe&gt;<br>Billing</div>",
        "Jane <Doe>\nBilling",
    )


def test_finalize_signs_both_parts() -> None:
    signed = final("<html><body><p>Hello</p></body></html>", "Hello", signature=SIG)
    assert signed.html == "<html><body><p>Hello</p><p>Jane Doe<br>Billing</p></body></html>"
    assert signed.text == "Hello\n\n-- \nJane Doe\nBilling"


def test_a_derived_text_part_carries_the_signature_once_after_the_separator() -> None:
    signed = final("<p>Hello</p>", signature=SIG)
    assert signed.text is not None
    body, _, signature = signed.text.partition("\n-- \n")
    assert body.strip() == "Hello"
    assert signature == "Jane Doe\nBilling"


def test_text_only_email_gets_the_text_signature() -> None:
    assert final(None, "Hello", signature=SIG) == Rendered(
        "Hi", None, "Hello\n\n-- \nJane Doe\nBilling"
    )
    assert final(None, "Hello", signature=("<b>Jane</b>", None)).text == "Hello\n\n-- \nJane"


def test_without_a_signature_nothing_changes() -> None:
    assert final("<p>Hello</p>", "Hello") == final("<p>Hello</p>", "Hello", signature=(None, None))
    assert final("<p>Hello</p>", "Hello").text == "Hello"


def test_the_signature_sits_inside_the_brand_before_its_footer_and_is_styled() -> None:
    brand = BrandSpec(
        name="Acme", header="<div>HEAD</div>", footer="<div>FOOT</div>", css="p { color: red }"
    )
    signed = final("<p>Hello</p>", brand=brand, brand_styles=True, signature=SIG)
    assert signed.html == (
        '<div>HEAD</div><p style="color: red;">Hello</p>'
        '<p style="color: red;">Jane Doe<br>Billing</p><div>FOOT</div>'
    )
    assert signed.text is not None
    assert signed.text.endswith("FOOT\n\n-- \nJane Doe\nBilling")
    assert signed.text.count("Jane Doe") == 1
