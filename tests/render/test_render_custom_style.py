"""A caller's customStyle restyles the email and nothing more (docs/reliability.md)."""

from __future__ import annotations

import pytest

from render import BrandSpec, Rendered, RenderError, finalize
from render.styles import check_custom_style

REFUSED = {
    "p { background: url(https://t.example/pixel.gif) }": "url()",
    "p { background: URL( 'x' ) }": "url()",
    "p { background: u\\72l(x) }": "url()",  # a CSS escape of "r"
    "p { background: u\\000072 l(x) }": "url()",  # six digits and the space that ends them
    "p { background: image-set('a.png' 1x) }": "image-set()",
    "p { width: expression(alert(1)) }": "expression()",
    "p { width: exp/**/ression(alert(1)) }": "expression()",
    "@import 'https://evil.example/x.css';": "@import",
    '@IMPORT "x.css"': "@import",
    "a { color: red; x: javascript:alert(1) }": "javascript:",
    "a { x: vbscript:msgbox }": "vbscript:",
    "body { behavior: url(x.htc) }": "url()",
    "body { behavior : x }": "behavior",
    "body { behaviour: x }": "behaviour",
    "body { -moz-binding: x }": "-moz-binding",
    "p {} </style><script>alert(1)</script>": "<",
}

ALLOWED = [
    "p { color: red } .footer > a { text-decoration: none; font: 12px/1.4 Arial, sans-serif }",
    "h1 { color: #333 } /* a comment */ td:first-child { padding: 4px 8px !important }",
    "@media (max-width: 600px) { td { display: block } }",
    "p::before { content: '\\2014' }",
]


@pytest.mark.parametrize("css", list(REFUSED))
def test_styles_that_load_or_run_anything_are_refused(css: str) -> None:
    with pytest.raises(RenderError) as caught:
        check_custom_style(css)
    assert caught.value.message == (
        f"customStyle may not use `{REFUSED[css]}`: styles may not load resources or run script"
    )


@pytest.mark.parametrize("css", ALLOWED)
def test_ordinary_styles_pass(css: str) -> None:
    check_custom_style(css)


def test_finalize_checks_the_custom_style_and_nothing_else() -> None:
    rendered = Rendered("s", "<p>Hi</p>", None)
    with pytest.raises(RenderError, match=r"customStyle may not use `url\(\)`"):
        finalize(rendered, brand=None, brand_styles=False, custom_style="p{background:url(x)}")
    # The brand's CSS is the account's own, not a caller's: not this policy's.
    brand = BrandSpec("b", "", "", "p { background: url(https://cdn.example/b.png) }")
    final = finalize(rendered, brand=brand, brand_styles=True, custom_style="p { color: red }")
    assert final.html is not None and "color: red" in final.html and "url(" in final.html


def test_a_long_custom_style_is_refused_and_checked_in_linear_time() -> None:
    with pytest.raises(RenderError, match="^customStyle is longer than 100,000 characters$"):
        check_custom_style("p{}" * 40_000)
    check_custom_style("/*" * 49_000)  # unclosed comments: one pass, not one per "/*"
    check_custom_style("\\" * 99_000)
