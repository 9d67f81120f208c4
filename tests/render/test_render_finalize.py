"""finalize: brand wrapping, CSS inlined into style= attributes, the text alternative."""

from __future__ import annotations

import pytest

from render import BrandSpec, Rendered, RenderError, finalize

BRAND = BrandSpec(
    name="Acme & Co",
    header='<div class="head"><img src="{{ logoUrl }}" alt="{{ brandName }}"></div>',
    footer='<div class="foot"><p>Acme Ltd</p></div>',
    css="p { color: red } .foot p { font-size: 10px }",
    logo_url="https://cdn.example.com/logo.png",
)


def body(html: str | None = "<p>Hello</p>", text: str | None = None) -> Rendered:
    return Rendered(subject="Hi", html=html, text=text)


def test_brand_wraps_body_and_its_css_is_inlined() -> None:
    final = finalize(body(), brand=BRAND, brand_styles=True, custom_style=None)
    assert final.html == (
        '<div class="head"><img src="https://cdn.example.com/logo.png" alt="Acme &amp; Co"></div>'
        '<p style="color: red;">Hello</p>'
        '<div class="foot"><p style="color: red;font-size: 10px;">Acme Ltd</p></div>'
    )
    assert final.subject == "Hi"
    assert "<style" not in (final.html or "")


def test_brand_is_ignored_without_brand_styles() -> None:
    final = finalize(body(), brand=BRAND, brand_styles=False, custom_style=None)
    assert final.html == "<p>Hello</p>"


def test_brand_styles_without_a_brand_changes_nothing() -> None:
    assert finalize(body(), brand=None, brand_styles=True, custom_style=None).html == "<p>Hello</p>"


def test_custom_style_is_inlined_after_brand_css() -> None:
    final = finalize(
        body('<h1>Title</h1><p class="lead">Hello</p>'),
        brand=BRAND,
        brand_styles=True,
        custom_style="h1 { margin: 0 } p { color: blue }",
    )
    assert '<h1 style="margin: 0;">Title</h1>' in (final.html or "")
    assert '<p class="lead" style="color: blue;">Hello</p>' in (final.html or "")


def test_custom_style_without_brand() -> None:
    final = finalize(body(), brand=None, brand_styles=False, custom_style="p { margin: 0 }")
    assert final.html == '<p style="margin: 0;">Hello</p>'


def test_style_elements_of_the_body_are_inlined() -> None:
    final = finalize(
        body("<style>td { padding: 4px }</style><table><tr><td>x</td></tr></table>"),
        brand=None, brand_styles=False, custom_style=None,
    )  # fmt: skip
    assert final.html == '<table><tbody><tr><td style="padding: 4px;">x</td></tr></tbody></table>'


def test_existing_style_attribute_wins() -> None:
    final = finalize(body('<p style="color: black">x</p>'), brand=BRAND, brand_styles=True,
                     custom_style=None)  # fmt: skip
    assert '<p style="color: black">x</p>' in (final.html or "")


def test_remote_stylesheets_are_not_fetched() -> None:
    final = finalize(
        body('<link rel="stylesheet" href="http://127.0.0.1:9/x.css"><p>x</p>'),
        brand=None, brand_styles=False, custom_style="p { margin: 0 }",
    )  # fmt: skip
    assert final.html == '<p style="margin: 0;">x</p>'


def test_whole_document_keeps_its_structure_and_gets_the_brand_inside_body() -> None:
    document = (
        "<!DOCTYPE html><html><head><title>T</title></head>"
        '<body class="b"><p>Hello</p></body></html>'
    )
    final = finalize(body(document), brand=BRAND, brand_styles=True, custom_style=None)
    html = final.html or ""
    assert html.startswith('<!DOCTYPE html><html><head><title>T</title></head><body class="b">')
    assert html.index('class="head"') < html.index("Hello") < html.index('class="foot"')
    assert html.endswith("</div></body></html>")
    assert '<p style="color: red;">Hello</p>' in html


def test_text_is_derived_from_final_html_when_missing() -> None:
    final = finalize(
        body('<h1>Welcome</h1><p>Read <a href="https://example.com/x_y">the guide</a> - now.</p>'
             "<ul><li>one</li><li>two</li></ul><p>1. numbered</p>"),
        brand=BRAND, brand_styles=True, custom_style=None,
    )  # fmt: skip
    assert final.text == (
        "[Acme & Co]\n\nWelcome\n\nRead [the guide](https://example.com/x_y) - now.\n\n"
        "  * one\n  * two\n\n1. numbered\n\nAcme Ltd"
    )


def test_long_lines_are_not_wrapped() -> None:
    words = " ".join(["word"] * 60)
    final = finalize(body(f"<p>{words}</p>"), brand=None, brand_styles=False, custom_style=None)
    assert final.text == words


def test_given_text_is_kept() -> None:
    final = finalize(body(text="My own text"), brand=BRAND, brand_styles=True, custom_style=None)
    assert final.text == "My own text"


def test_text_only_email_is_left_alone() -> None:
    rendered = body(html=None, text="Only text")
    assert finalize(rendered, brand=BRAND, brand_styles=True, custom_style="p {}") is rendered


def test_brand_header_with_syntax_error_is_a_render_error() -> None:
    broken = BrandSpec("Bad", "{% if %}", "", "", None)
    with pytest.raises(RenderError) as caught:
        finalize(body(), brand=broken, brand_styles=True, custom_style=None)
    assert caught.value.message.startswith("Syntax error in brand header at line 1: ")


def test_the_text_part_keeps_pre_layout_and_tables_readable() -> None:
    html = (
        "<pre>a  b\n  c</pre><table><tr><td>Tea</td><td>3</td></tr></table><p>caf\u00e9 \u20ac</p>"
    )
    final = finalize(body(html), brand=None, brand_styles=False, custom_style=None)
    assert final.text == "a  b\n  c\nTea  3\n\ncaf\u00e9 \u20ac"
