"""Sanitising of HTML that arrives as variable data (``html`` and ``draft`` values).

Template bodies are written by the account that owns them and are not cleaned; values come
with each request and may hold anything, so they pass through nh3 (ammonia) first.
"""

from __future__ import annotations

import nh3

from render.lru import LRU

# Layout tags email HTML leans on, on top of nh3's defaults (which already drop script, style,
# iframe, object, form and svg).
_EXTRA_TAGS = frozenset({"tfoot", "font"})

# Presentation attributes mail clients still honour; event handlers (on*) are never listed,
# so nh3 removes them.
_GENERIC_ATTRIBUTES = frozenset({"style", "class", "title", "dir", "lang", "align"})
_TABLE_ATTRIBUTES = frozenset(
    {"width", "height", "bgcolor", "valign", "border", "cellpadding", "cellspacing"}
)

# `javascript:`, `data:` and `vbscript:` are absent, so such hrefs and srcs are dropped;
# `cid:` lets a body point at an inline attachment.
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel", "cid"})

# Only properties that cannot load anything: `background`, `background-image`, `behavior` and
# friends can carry url(...) or script in old clients, so they are left out.
_STYLE_PROPERTIES = frozenset(
    {
        "color", "background-color", "font", "font-family", "font-size", "font-style",
        "font-weight", "line-height", "letter-spacing", "text-align", "text-decoration",
        "text-transform", "vertical-align", "white-space", "width", "max-width", "min-width",
        "height", "max-height", "min-height", "margin", "margin-top", "margin-right",
        "margin-bottom", "margin-left", "padding", "padding-top", "padding-right",
        "padding-bottom", "padding-left", "border", "border-top", "border-right",
        "border-bottom", "border-left", "border-color", "border-style", "border-width",
        "border-radius", "border-collapse", "border-spacing", "display",
    }
)  # fmt: skip


def _allowed_attributes() -> dict[str, set[str]]:
    attributes = {tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items()}
    attributes["*"] = set(_GENERIC_ATTRIBUTES)
    for tag in ("table", "td", "th", "tr", "img"):
        attributes.setdefault(tag, set()).update(_TABLE_ATTRIBUTES)
    attributes.setdefault("font", set()).update({"color", "face", "size"})
    return attributes


# One Cleaner for the process: building it parses the whole policy, cleaning with it does not.
_CLEANER = nh3.Cleaner(
    tags=set(nh3.ALLOWED_TAGS | _EXTRA_TAGS),
    attributes=_allowed_attributes(),
    url_schemes=set(URL_SCHEMES),
    filter_style_properties=set(_STYLE_PROPERTIES),
)


# Bulk sends repeat the same values email after email; cleaning is pure, so small results are
# kept. The size bound keeps the memo's memory bounded too.
MEMO_MAX_CHARS = 8_192  # 1024 x 16 KB (markup and result) at worst
MEMO = LRU[str](1024)


def clean_html(markup: str, *, memo: bool = True) -> str:
    """Return ``markup`` without scripts, event handlers, unsafe URLs or unknown tags.

    ``memo=False`` for callers that keep the result themselves.
    """
    if not memo or len(markup) > MEMO_MAX_CHARS:
        return _CLEANER.clean(markup)
    cleaned = MEMO.get(markup)
    if cleaned is None:
        cleaned = _CLEANER.clean(markup)
        MEMO.put(markup, cleaned)
    return cleaned
