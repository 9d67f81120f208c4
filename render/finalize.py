"""The last step before sending: brand, inlined CSS and the plain-text alternative."""

from __future__ import annotations

from render.brand import wrap_in_brand
from render.specs import BrandSpec, Rendered
from render.styles import inline_css
from render.text import html_to_text


def finalize(
    rendered: Rendered,
    *,
    brand: BrandSpec | None,
    brand_styles: bool,
    custom_style: str | None,
) -> Rendered:
    """Wrap in the brand (when asked), inline the CSS, and derive the text part if missing."""
    html = rendered.html
    if html is None:
        return rendered  # text-only email: nothing to brand, style or derive from
    css: list[str] = []
    if brand_styles and brand is not None:
        html = wrap_in_brand(html, brand)
        css.append(brand.css)
    if custom_style:
        css.append(custom_style)  # after the brand's CSS so that it wins on equal specificity
    text = rendered.text
    if text is None:
        # Taken before inlining: style= attributes change nothing in the text, and html2text,
        # the slowest step here, then reads a document about half the size.
        text = html_to_text(html)
    return Rendered(rendered.subject, inline_css(html, "\n".join(css)), text)
