"""Brand wrapping: the brand's header and footer put around the body of an email.

Header and footer are sandboxed templates too, so they can use ``{{ brandName }}`` and
``{{ logoUrl }}``.
"""

from __future__ import annotations

import hashlib
import re

from render.sandbox import HTML_ENV, INLINE, render_compiled
from render.specs import BrandSpec
from render.styles import is_document

_BODY_OPEN = re.compile(r"<body", re.IGNORECASE)
_BODY_CLOSE = re.compile(r"</body\s*>", re.IGNORECASE)


def wrap_in_brand(markup: str, brand: BrandSpec) -> str:
    """Return ``markup`` between the brand's rendered header and footer."""
    header = _render_brand_part(brand, "header", brand.header)
    footer = _render_brand_part(brand, "footer", brand.footer)
    if is_document(markup):
        # Inside <body>, so the brand does not land before <!DOCTYPE> or in <head>.
        body_end = _body_start_end(markup)
        closing = _BODY_CLOSE.search(markup)
        if body_end is not None and closing is not None and body_end <= closing.start():
            return (
                markup[:body_end] + header
                + markup[body_end : closing.start()]
                + footer + markup[closing.start() :]
            )  # fmt: skip
    return header + markup + footer


def _body_start_end(markup: str) -> int | None:
    """Where the first ``<body ...>`` tag ends, as ``<body[^>]*>`` finds it, in linear time:
    that regex, searched, scans from every "<body" to the end when no ">" follows."""
    opening = _BODY_OPEN.search(markup)
    if opening is None:
        return None
    end = markup.find(">", opening.end())
    return None if end < 0 else end + 1


def _render_brand_part(brand: BrandSpec, part: str, source: str) -> str:
    if "{" not in source:
        return source
    key = (hashlib.sha256(source.encode()).hexdigest(), "brand", part)
    template = INLINE.get(key, source, HTML_ENV, f"brand {part}")
    context = {"brandName": brand.name, "logoUrl": brand.logo_url or ""}
    return render_compiled(template, context, f"Brand `{brand.name}`", part)
