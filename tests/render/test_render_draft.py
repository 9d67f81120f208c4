"""Draft.js values: exported with draftjs_exporter, then cleaned like any HTML value."""

from __future__ import annotations

import json
from typing import Any

import pytest

from render import RenderError, cache_info, render_inline


def block(text: str, kind: str = "unstyled", depth: int = 0, **ranges: Any) -> dict[str, Any]:
    return {
        "key": text[:5] or "empty",
        "text": text,
        "type": kind,
        "depth": depth,
        "inlineStyleRanges": ranges.get("styles", []),
        "entityRanges": ranges.get("entities", []),
        "data": {},
    }


def document(*blocks: dict[str, Any], entities: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"blocks": list(blocks), "entityMap": entities or {}}


def render_draft(content: Any) -> str:
    html = render_inline("s", "{{ BODY }}", None, {"BODY": {"format": "draft", "content": content}})
    assert html.html is not None
    return html.html


def link(url: str) -> dict[str, Any]:
    return {"type": "LINK", "mutability": "MUTABLE", "data": {"url": url}}


def test_inline_styles() -> None:
    styles = [
        {"offset": 0, "length": 4, "style": "BOLD"},
        {"offset": 5, "length": 6, "style": "ITALIC"},
        {"offset": 12, "length": 9, "style": "UNDERLINE"},
        {"offset": 22, "length": 4, "style": "CODE"},
        {"offset": 27, "length": 6, "style": "STRIKETHROUGH"},
    ]
    html = render_draft(document(block("bold italic underline code struck", styles=styles)))
    assert html == (
        "<p><strong>bold</strong> <em>italic</em> <u>underline</u> <code>code</code> "
        "<s>struck</s></p>"
    )


def test_headers_quote_and_code_block() -> None:
    html = render_draft(
        document(
            block("Title", "header-one"),
            block("Sub", "header-two"),
            block("Six", "header-six"),
            block("Wise words", "blockquote"),
            block("x = 1", "code-block"),
        )
    )
    assert html == (
        "<h1>Title</h1><h2>Sub</h2><h6>Six</h6><blockquote>Wise words</blockquote>"
        "<pre><code>x = 1</code></pre>"
    )


def test_lists_with_nesting_depth() -> None:
    html = render_draft(
        document(
            block("one", "unordered-list-item"),
            block("one.a", "unordered-list-item", depth=1),
            block("two", "unordered-list-item"),
            block("first", "ordered-list-item"),
            block("second", "ordered-list-item"),
        )
    )
    assert html == (
        "<ul><li>one<ul><li>one.a</li></ul></li><li>two</li></ul>"
        "<ol><li>first</li><li>second</li></ol>"
    )


def test_link_entity() -> None:
    html = render_draft(
        document(
            block("Read the docs", entities=[{"offset": 9, "length": 4, "key": 0}]),
            entities={"0": link("https://example.com/docs")},
        )
    )
    assert html == (
        '<p>Read the <a href="https://example.com/docs" rel="noopener noreferrer">docs</a></p>'
    )


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "JavaScript:alert(1)", "java\tscript:alert(1)", "data:text/html,x"],
)
def test_link_with_unsafe_url_keeps_only_the_text(url: str) -> None:
    html = render_draft(
        document(
            block("click me", entities=[{"offset": 0, "length": 5, "key": 0}]),
            entities={"0": link(url)},
        )
    )
    assert html == "<p>click me</p>"


def test_image_entity() -> None:
    image = {"type": "IMAGE", "data": {"src": "https://cdn.example.com/a.png", "alt": "A"}}
    html = render_draft(
        document(block(" ", "atomic", entities=[{"offset": 0, "length": 1, "key": 0}]),
                 entities={"0": image})
    )  # fmt: skip
    assert '<img src="https://cdn.example.com/a.png" alt="A">' in html


def test_text_is_escaped_and_unknown_types_fall_back() -> None:
    html = render_draft(
        document(
            block("<script>alert(1)</script>", "my-custom-block",
                  styles=[{"offset": 0, "length": 8, "style": "SPARKLE"}]),
        )
    )  # fmt: skip
    assert html == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"


def test_draft_value_in_text_part_is_plain_text() -> None:
    content = document(block("Hello", "header-one"), block("world"))
    rendered = render_inline(
        "s", None, "{{ BODY }}", {"BODY": {"format": "draft", "content": content}}
    )
    assert rendered.text == "Hello\n\nworld"


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        ("not a document",
         "content is not the JSON text of a Draft.js raw state (Expecting value: line 1 column 1 "
         "(char 0))"),
        ('"a JSON string"', "content must be a Draft.js raw state: an object or its JSON text, "
                            '{"blocks": [...], "entityMap": {...}}'),
        ('{"blocks": [], "entityMap": []}', "`entityMap` must be an object"),
        ({"entityMap": {}}, "`blocks` must be an array"),
        ({"blocks": [{"type": "unstyled"}]}, "block 0 has no text"),
        ({"blocks": [], "entityMap": []}, "`entityMap` must be an object"),
        ({"blocks": [block("x", depth=99)]}, "block 0 depth must be 0 to 10"),
        (document(block("x", entities=[{"offset": 0, "length": 1, "key": 7}])),
         'Entity "7" does not exist in the entityMap'),
        ({"blocks": [{"text": "x", "inlineStyleRanges": [{"offset": 0}]}]},
         "missing key 'style'"),
    ],
)  # fmt: skip
def test_invalid_document_is_a_render_error(content: Any, detail: str) -> None:
    with pytest.raises(RenderError) as caught:
        render_draft(content)
    assert caught.value.message == f"Variable `BODY` holds an invalid Draft.js document: {detail}"


def test_json_text_of_a_raw_state_renders_as_the_object_does() -> None:
    # The RFC's FormattedVar.content is a string: JSON.stringify(convertToRaw(state)).
    content = document(
        block("Read the docs", "header-two", entities=[{"offset": 9, "length": 4, "key": 0}]),
        entities={"0": link("https://example.com/docs")},
    )
    as_text = render_draft(json.dumps(content))
    assert as_text == render_draft(content)
    assert as_text == (
        '<h2>Read the <a href="https://example.com/docs" rel="noopener noreferrer">docs</a></h2>'
    )
    assert render_draft(json.dumps(content)) == as_text  # the memo, keyed on the text
    assert cache_info()["draft"].hits == 1


def test_same_document_is_exported_once() -> None:
    content = document(block("Hello", "header-one"), block("world"))
    first = render_draft(content)
    assert render_draft(document(block("Hello", "header-one"), block("world"))) == first
    memo = cache_info()["draft"]
    assert (memo.hits, memo.misses) == (1, 1)


def test_memoised_document_is_not_taken_for_one_with_other_types() -> None:
    # Equal as JSON text, not as data: the int key finds no entity, memo or not.
    linked = [{"offset": 0, "length": 5, "key": 0}]
    with_str_key = document(block("Hello", entities=linked), entities={"0": link("https://a.b/")})
    assert render_draft(with_str_key) == (
        '<p><a href="https://a.b/" rel="noopener noreferrer">Hello</a></p>'
    )
    with_int_key = {**with_str_key, "entityMap": {0: link("https://a.b/")}}
    with pytest.raises(RenderError, match='Entity "0" does not exist in the entityMap'):
        render_draft(with_int_key)


def _ranged_block(count: int) -> dict[str, Any]:
    ranges = [{"offset": i * 2, "length": 1, "style": "BOLD"} for i in range(count)]
    return {**block("ab" * count), "inlineStyleRanges": ranges}


def test_style_ranges_are_bounded_per_block_and_per_document() -> None:
    # The exporter's work is quadratic in a block's ranges: 8,000 took most of a second.
    def render(*blocks: dict[str, Any]) -> str | None:
        content = {"blocks": list(blocks), "entityMap": {}}
        return render_inline(
            "s", "{{ D }}", None, {"D": {"format": "draft", "content": content}}
        ).html

    html = render(_ranged_block(1_000))
    assert html is not None and html.count("<strong>a</strong>") == 1_000
    with pytest.raises(RenderError, match="block 0 has more than 1,000 style and entity ranges"):
        render(_ranged_block(1_001))
    with pytest.raises(RenderError, match="the document has more than 10,000 style and entity"):
        render(*[_ranged_block(1_000)] * 11)
