"""The last step before sending: brand, signature, inlined CSS and the plain-text alternative."""

from __future__ import annotations

from render.brand import wrap_in_brand
from render.budget import DEFAULT_LIMITS, RenderLimits, budget_scope
from render.signature import Signature, append_html, append_text, complete
from render.specs import BrandSpec, Rendered
from render.styles import check_custom_style, inline_css
from render.text import html_to_text


def finalize(
    rendered: Rendered,
    *,
    brand: BrandSpec | None,
    brand_styles: bool,
    custom_style: str | None,
    signature: Signature | None = None,
    limits: RenderLimits = DEFAULT_LIMITS,
    derive_text: bool = True,
) -> Rendered:
    """Sign, wrap in the brand (when asked), inline the CSS, and derive the text part if missing.

    `signature` is the sender's `(html, text)`; a missing half is derived from the other.
    The brand's header and footer render within ``limits``; ``custom_style`` must pass
    ``check_custom_style`` (nothing that loads or runs anything). ``derive_text=False`` leaves
    a missing text part missing, for a caller that shows only the HTML (the API's answer): the
    HTML is the same either way.
    """
    if custom_style:
        check_custom_style(custom_style)
    with budget_scope(limits):
        return _finalize(rendered, brand, brand_styles, custom_style, signature, derive_text)


def _finalize(
    rendered: Rendered,
    brand: BrandSpec | None,
    brand_styles: bool,
    custom_style: str | None,
    signature: Signature | None,
    derive_text: bool,
) -> Rendered:
    sig_html, sig_text = complete(signature)
    html = rendered.html
    if html is None:
        # Text-only email: nothing to brand, style or derive from; only a signature to add.
        if rendered.text is None or sig_text is None:
            return rendered
        return Rendered(rendered.subject, None, append_text(rendered.text, sig_text))
    active = brand if brand_styles else None

    def wrap(markup: str) -> str:
        return markup if active is None else wrap_in_brand(markup, active)

    # The signature belongs to the message, so it goes inside the brand: the footer stays last.
    signed = wrap(append_html(html, sig_html))
    css: list[str] = []
    if active is not None:
        css.append(active.css)
    if custom_style:
        css.append(custom_style)  # after the brand's CSS so that it wins on equal specificity
    text = rendered.text
    if text is None and derive_text:
        # From the unsigned markup, so the signature comes once, after its separator. Taken
        # before inlining: style= attributes change nothing in the text, and inscriptis, the
        # slowest step here, then reads a document about half the size.
        text = html_to_text(signed if sig_html is None else wrap(html))
    final_html = inline_css(signed, "\n".join(css))
    if text is None:
        return Rendered(rendered.subject, final_html, None)
    return Rendered(rendered.subject, final_html, append_text(text, sig_text))
