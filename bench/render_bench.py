"""Throughput of the render layer: a parent template holding 100 nested templates and a Draft.js
document, rendered over and over; then finalize() with a brand on the result.

Run from anywhere: ``python bench/render_bench.py [seconds]``. Prints figures only.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from render import (  # noqa: E402  (import after the sys.path line above)
    BrandSpec,
    CacheInfo,
    Rendered,
    TemplateSpec,
    VariableSpec,
    cache_info,
    finalize,
    render_template,
)

NESTED_COUNT = 100
# More payloads than the memos hold (nested 2048 values, draft 256 documents, html 1024
# values): taken in turn they always miss, which is the cost of content never seen before.
FRESH_PAYLOADS = 300
MEMOS = ("nested", "draft", "html")

ROW = TemplateSpec(
    id="order-row",
    version=1,
    lang="en",
    subject="row",
    html=(
        '<tr><td class="name">{{ NAME }}</td><td class="qty">{{ QTY }}</td>'
        '<td class="price">{{ PRICE }} {{ CURRENCY }}</td></tr>'
    ),
    text="{{ NAME }} x{{ QTY }}: {{ PRICE }} {{ CURRENCY }}",
    variables=(
        VariableSpec("NAME", "text", required=True),
        VariableSpec("QTY", "text", default=1),
        VariableSpec("PRICE", "text", required=True),
        VariableSpec("CURRENCY", "text", default="EUR"),
    ),
)

NOTE = TemplateSpec(
    id="order-note",
    version=1,
    lang="en",
    subject="note",
    html='<tr><td colspan="3">{% if URGENT %}<strong>{{ NOTE }}</strong>{% else %}'
    "{{ NOTE }}{% endif %}</td></tr>",
    text=None,
    variables=(VariableSpec("NOTE", "html", required=True), VariableSpec("URGENT", "text")),
)

PARENT = TemplateSpec(
    id="order",
    version=1,
    lang="en",
    subject="Your order {{ ORDER }}{% if VIP %} (VIP){% endif %}",
    html=(
        "<h1>Hello {{ CUSTOMER }}</h1>{{ INTRO }}"
        "<table>{{ ITEMS }}</table>"
        "<p>{{ ITEMS|length }} lines. Thank you!</p>"
    ),
    text=None,
    variables=(
        VariableSpec("CUSTOMER", "text", required=True),
        VariableSpec("ORDER", "text", required=True),
        VariableSpec("VIP", "text"),
        VariableSpec("INTRO", "draft"),
        VariableSpec("ITEMS", "template"),
    ),
)

BRAND = BrandSpec(
    name="Acme",
    header='<div class="header"><img src="{{ logoUrl }}" alt="{{ brandName }}"></div>',
    footer='<div class="footer"><p>Acme Ltd, 1 Main Street</p></div>',
    css=(
        "body { font-family: Arial, sans-serif } h1 { color: #333; font-size: 22px } "
        "td { padding: 4px 8px } .price { text-align: right } .footer p { color: #999 }"
    ),
    logo_url="https://cdn.example.com/acme.png",
)

TEMPLATES = {spec.id: spec for spec in (ROW, NOTE, PARENT)}


def draft_intro(serial: int) -> dict[str, Any]:
    """A small Draft.js document: header, paragraph with bold and link, a nested list."""
    return {
        "blocks": [
            {"key": "a", "text": "Order confirmed", "type": "header-two", "depth": 0,
             "inlineStyleRanges": [], "entityRanges": []},
            {"key": "b", "text": f"We received order {serial}. Track it here.",
             "type": "unstyled", "depth": 0,
             "inlineStyleRanges": [{"offset": 12, "length": 5, "style": "BOLD"}],
             "entityRanges": [{"offset": 33, "length": 4, "key": 0}]},
            {"key": "c", "text": "Ships in 2 days", "type": "unordered-list-item",
             "depth": 0, "inlineStyleRanges": [], "entityRanges": []},
            {"key": "d", "text": "by courier", "type": "unordered-list-item", "depth": 1,
             "inlineStyleRanges": [{"offset": 3, "length": 7, "style": "ITALIC"}],
             "entityRanges": []},
        ],
        "entityMap": {
            "0": {"type": "LINK", "mutability": "MUTABLE",
                  "data": {"url": f"https://shop.example.com/track/{serial}"}},
        },
    }  # fmt: skip


def variables(serial: int) -> dict[str, Any]:
    """Request variables: 100 nested values (mostly rows, every tenth a note)."""
    items: list[dict[str, Any]] = []
    for line in range(NESTED_COUNT):
        if line % 10 == 9:
            note = {"format": "html", "content": f"<em>Gift wrap</em> {serial}/{line}"}
            items.append({"templateId": "order-note", "variables": {"NOTE": note}})
        else:
            row = {"NAME": f"Item <{line}>", "QTY": line % 3 + 1, "PRICE": f"{serial}.{line:02d}"}
            items.append({"templateId": "order-row", "variables": row})
    return {
        "CUSTOMER": f"Customer {serial}",
        "ORDER": f"#{serial}",
        "VIP": serial % 2 == 0,
        "INTRO": {"format": "draft", "content": draft_intro(serial)},
        "ITEMS": items,
    }


def hit_rate(before: CacheInfo, after: CacheInfo) -> str:
    """Share of lookups that hit between two snapshots of a cache."""
    hits = after.hits - before.hits
    lookups = hits + after.misses - before.misses
    return f"{hits / lookups:4.0%}" if lookups else "  - "


def measure(label: str, seconds: float, work: Callable[[int], object]) -> None:
    """Call ``work`` for about ``seconds``; print calls per second and memo hit rates."""
    work(0)  # warm the caches: compiling is not what is measured
    before = cache_info()
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for _ in range(20):
            work(count)
            count += 1
    elapsed = time.perf_counter() - started
    after = cache_info()
    memos = "  ".join(f"{name} {hit_rate(before[name], after[name])}" for name in MEMOS)
    print(f"{label:<46} {count / elapsed:>7,.0f} /s {elapsed / count * 1e6:>8,.0f} us  {memos}")


def main() -> None:
    """Run the measurements."""
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    lookup = TEMPLATES.get
    fresh = [variables(serial) for serial in range(FRESH_PAYLOADS)]
    same = fresh[0]

    def render_fresh(i: int) -> Rendered:
        return render_template(PARENT, fresh[i % len(fresh)], lang=None, lookup=lookup)

    def render_same(i: int) -> Rendered:
        return render_template(PARENT, same, lang=None, lookup=lookup)

    rendered = render_same(0)
    with_text = Rendered(rendered.subject, rendered.html, "Your order, in plain text.")

    def finalize_derived(i: int) -> Rendered:
        return finalize(rendered, brand=BRAND, brand_styles=True, custom_style="p { margin: 0 }")

    def finalize_given(i: int) -> Rendered:
        return finalize(with_text, brand=BRAND, brand_styles=True, custom_style="p { margin: 0 }")

    print(f"parent + {NESTED_COUNT} nested templates + 1 Draft.js document, one core:")
    print(f"{'':<46} {'':>10} {'':>11}  memo hit rates:")
    measure(f"render_template, {FRESH_PAYLOADS} payloads in turn", seconds, render_fresh)
    measure("render_template, one payload again and again", seconds, render_same)
    print(f"finalize with brand + customStyle, {len(rendered.html or ''):,} chars of HTML:")
    measure("finalize, text part derived with html2text", seconds, finalize_derived)
    measure("finalize, text part given", seconds, finalize_given)


if __name__ == "__main__":
    main()
