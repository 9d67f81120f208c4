"""Variable values: escaping, cleaning, declared types, defaults and the contract's errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from render import (
    RenderError,
    TemplateSpec,
    VariableSpec,
    check_variables,
    render_inline,
    render_template,
)

MakeTemplate = Callable[..., TemplateSpec]


def no_lookup(template_id: str) -> TemplateSpec | None:
    return None


def render_html(spec: TemplateSpec, variables: dict[str, Any]) -> str:
    html = render_template(spec, variables, lang=None, lookup=no_lookup).html
    assert html is not None
    return html


def test_text_variable_is_escaped_in_html(make_template: MakeTemplate) -> None:
    spec = make_template(html="<p>{{ NAME }}</p>", variables={"NAME": "text"})
    assert render_html(spec, {"NAME": "<b>Bob</b> & co"}) == (
        "<p>&lt;b&gt;Bob&lt;/b&gt; &amp; co</p>"
    )


def test_text_format_value_is_escaped(make_template: MakeTemplate) -> None:
    spec = make_template(html="<p>{{ NAME }}</p>", variables={"NAME": "text"})
    value = {"format": "text", "content": "<b>x</b>"}
    assert render_html(spec, {"NAME": value}) == "<p>&lt;b&gt;x&lt;/b&gt;</p>"


def test_numbers_and_booleans_stay_typed(make_template: MakeTemplate) -> None:
    spec = make_template(
        html="{% if COUNT > 2 %}many{% endif %} {{ COUNT * 2 }} {{ PRICE }}"
        "{% if VIP %} vip{% endif %}",
        variables={"COUNT": "text", "PRICE": "text", "VIP": "text"},
    )
    assert render_html(spec, {"COUNT": 3, "PRICE": 9.5, "VIP": True}) == "many 6 9.5 vip"


def test_html_value_is_cleaned_and_inserted_as_markup(make_template: MakeTemplate) -> None:
    spec = make_template(html="<div>{{ BODY }}</div>", variables={"BODY": "html"})
    dirty = (
        '<p onclick="steal()">Hi <b>there</b> <a href="javascript:alert(1)">x</a> '
        '<a href="https://example.com/a">ok</a></p><script>alert(1)</script>'
        '<img src="x" onerror="alert(1)">'
    )
    html = render_html(spec, {"BODY": {"format": "html", "content": dirty}})
    assert "<b>there</b>" in html
    assert '<a href="https://example.com/a" rel="noopener noreferrer">ok</a>' in html
    for gone in ("<script", "alert(1)", "onclick", "onerror", "javascript:", "steal"):
        assert gone not in html
    assert html.startswith("<div><p>Hi <b>there</b>")


def test_html_value_keeps_email_layout_markup(make_template: MakeTemplate) -> None:
    spec = make_template(html="{{ BODY }}", variables={"BODY": "html"})
    markup = '<table width="100%"><tbody><tr><td style="color:red">cell</td></tr></tbody></table>'
    assert render_html(spec, {"BODY": {"format": "html", "content": markup}}) == markup


def test_plain_string_for_html_variable_is_cleaned_markup(make_template: MakeTemplate) -> None:
    # The declared type is the format of a plain value: html, cleaned as {"format": "html"}.
    spec = make_template(html="{{ BODY }}|{{ N }}", variables={"BODY": "html", "N": "html"})
    given = {"BODY": "<b>bold</b><script>x()</script>", "N": 3}
    assert render_html(spec, given) == "<b>bold</b>|3"


DRAFT = {
    "blocks": [
        {"key": "a", "text": "Hi <you>", "type": "unstyled", "depth": 0,
         "inlineStyleRanges": [{"offset": 0, "length": 2, "style": "BOLD"}], "entityRanges": []},
    ],
    "entityMap": {},
}  # fmt: skip
DRAFT_HTML = "<p><strong>Hi</strong> &lt;you&gt;</p>"


@pytest.mark.parametrize("declared", ["text", "html", "draft"])
@pytest.mark.parametrize(
    ("value", "html"),
    [
        ({"format": "text", "content": "<b>test</b>"}, "&lt;b&gt;test&lt;/b&gt;"),
        ({"format": "html", "content": "<b>test</b><script>x()</script>"}, "<b>test</b>"),
        ({"format": "draft", "content": DRAFT}, DRAFT_HTML),
        ({"format": "draft", "content": json.dumps(DRAFT)}, DRAFT_HTML),
    ],
)
def test_formatted_value_renders_in_its_own_format_whatever_was_declared(
    make_template: MakeTemplate, declared: str, value: dict[str, Any], html: str
) -> None:
    spec = make_template(html="<div>{{ VAR_1 }}</div>", variables={"VAR_1": declared})
    assert render_html(spec, {"VAR_1": value}) == f"<div>{html}</div>"
    check_variables(spec, {"VAR_1": value}, lookup=no_lookup)  # the batch check agrees


def test_plain_string_for_draft_variable_is_the_json_of_a_raw_state(
    make_template: MakeTemplate,
) -> None:
    spec = make_template(html="<div>{{ VAR_1 }}</div>", variables={"VAR_1": "draft"})
    assert render_html(spec, {"VAR_1": json.dumps(DRAFT)}) == f"<div>{DRAFT_HTML}</div>"


NOT_RAW_STATES: list[tuple[Any, str]] = [
    ("plain words", "content is not the JSON text of a Draft.js raw state (Expecting value"),
    (3, "content must be a Draft.js raw state: an object or its JSON text"),
    ({"format": "draft", "content": "[1, 2]"}, "content must be a Draft.js raw state"),
    ({"format": "draft", "content": '{"blocks": 1}'}, "`blocks` must be an array"),
    ({"format": "draft", "content": "[" * 100_000}, "content is nested too deeply"),
]


@pytest.mark.parametrize(
    ("declared", "value", "detail"),
    [("draft", value, detail) for value, detail in NOT_RAW_STATES]
    # A plain value of a text variable is text: only a formatted draft is a draft there.
    + [("text", value, detail) for value, detail in NOT_RAW_STATES if isinstance(value, dict)],
)
def test_draft_that_is_not_a_raw_state_names_the_variable(
    make_template: MakeTemplate, declared: str, value: Any, detail: str
) -> None:
    spec = make_template("welcome", html="{{ VAR_1 }}", variables={"VAR_1": declared})
    prefix = f"Variable `VAR_1` holds an invalid Draft.js document: {detail}"
    with pytest.raises(RenderError) as rendering:
        render_html(spec, {"VAR_1": value})
    assert rendering.value.message.startswith(prefix)
    with pytest.raises(RenderError) as checking:
        check_variables(spec, {"VAR_1": value}, lookup=no_lookup)
    assert checking.value.message == rendering.value.message


def test_batch_check_reads_formatted_content_as_the_render_does(
    make_template: MakeTemplate,
) -> None:
    spec = make_template("welcome", html="{{ A }}{{ B }}", variables={"A": "text", "B": "text"})
    for value, message in [
        ({"format": "html", "content": 3}, "Variable `A` has html content that is not a string"),
        ({"format": "text", "content": [1]}, "Variable `A` has text content that is not a"),
    ]:
        with pytest.raises(RenderError, match=message):
            check_variables(spec, {"A": value}, lookup=no_lookup)


def test_value_with_jinja_syntax_is_printed_literally(make_template: MakeTemplate) -> None:
    spec = make_template(
        subject="{{ NAME }}",
        html="<p>{{ NAME }}</p>{{ BODY }}",
        text="{{ NAME }}",
        variables={"NAME": "text", "BODY": "html"},
    )
    rendered = render_template(
        spec,
        {"NAME": "{{ 7*7 }}", "BODY": {"format": "html", "content": "{% if 1 %}{{ 7*7 }}"}},
        lang=None,
        lookup=no_lookup,
    )
    assert rendered.subject == "{{ 7*7 }}"
    assert rendered.text == "{{ 7*7 }}"
    assert rendered.html == "<p>{{ 7*7 }}</p>{% if 1 %}{{ 7*7 }}"
    assert "49" not in (rendered.html or "")


def test_subject_and_text_are_plain_not_escaped(make_template: MakeTemplate) -> None:
    spec = make_template(subject="Re: {{ NAME }}", text="Hi {{ NAME }}", variables={"NAME": "text"})
    rendered = render_template(spec, {"NAME": "Tom & <Jerry>"}, lang=None, lookup=no_lookup)
    assert rendered.subject == "Re: Tom & <Jerry>"
    assert rendered.text == "Hi Tom & <Jerry>"


def test_html_value_in_plain_parts_becomes_text(make_template: MakeTemplate) -> None:
    spec = make_template(subject="{{ BODY }}", text="Note: {{ BODY }}", variables={"BODY": "html"})
    value = {"format": "html", "content": "<p>Hello <b>you</b></p>"}
    rendered = render_template(spec, {"BODY": value}, lang=None, lookup=no_lookup)
    assert rendered.subject == "Hello you"
    assert rendered.text == "Note: Hello you"


def test_default_used_when_value_missing(make_template: MakeTemplate) -> None:
    spec = make_template(
        html="<p>{{ GREETING }}, {{ NAME }}</p>{{ FOOTER }}",
        variables={
            "GREETING": VariableSpec("GREETING", "text", default="Hello"),
            "NAME": VariableSpec("NAME", "text", default="friend"),
            "FOOTER": VariableSpec("FOOTER", "html", default="<em>Thanks</em><script>x</script>"),
        },
    )
    assert render_html(spec, {"NAME": "Ann"}) == "<p>Hello, Ann</p><em>Thanks</em>"


def test_null_value_counts_as_missing(make_template: MakeTemplate) -> None:
    spec = make_template(
        html="{{ NAME }}", variables={"NAME": VariableSpec("NAME", "text", default="friend")}
    )
    assert render_html(spec, {"NAME": None}) == "friend"


def test_missing_optional_variable_renders_empty(make_template: MakeTemplate) -> None:
    spec = make_template(
        html="<p>[{{ NICK }}]{% if NICK %}x{% endif %}</p>", variables={"NICK": "text"}
    )
    assert render_html(spec, {}) == "<p>[]</p>"


def test_unknown_variable_is_the_contract_error(make_template: MakeTemplate) -> None:
    spec = make_template("welcome", variables={"NAME": "text"})
    with pytest.raises(RenderError) as caught:
        render_html(spec, {"NAME": "a", "CLIENT_NAME": "b"})
    assert caught.value.message == "Variable `CLIENT_NAME` not found in template `welcome`"
    assert str(caught.value) == caught.value.message


def test_required_variable_is_the_contract_error(make_template: MakeTemplate) -> None:
    spec = make_template("welcome", variables={"NAME": VariableSpec("NAME", "text", required=True)})
    with pytest.raises(RenderError) as caught:
        render_html(spec, {})
    assert caught.value.message == "Variable `NAME` is required by template `welcome`"


def test_required_variable_with_default_is_satisfied(make_template: MakeTemplate) -> None:
    spec = make_template(
        html="{{ NAME }}",
        variables={"NAME": VariableSpec("NAME", "text", required=True, default="you")},
    )
    assert render_html(spec, {}) == "you"


@pytest.mark.parametrize(
    ("declared", "value"),
    [
        # Only a template variable keeps its shape, and only it takes a template.
        ("text", [{"templateId": "x"}]),
        ("text", {"templateId": "x"}),
        ("html", {"templateId": "x", "variables": {}}),
        ("draft", [{"format": "draft", "content": "{}"}]),
        ("template", "plain"),
        ("template", {"format": "html", "content": "<p>x</p>"}),
        ("template", [{"templateId": "x"}, "plain"]),
    ],
)
def test_value_of_wrong_type_names_variable_type_and_template(
    make_template: MakeTemplate, declared: str, value: Any
) -> None:
    spec = make_template("welcome", variables={"BODY": declared})
    with pytest.raises(RenderError) as caught:
        render_html(spec, {"BODY": value})
    assert caught.value.message.startswith(
        f"Variable `BODY` of template `welcome` has type `{declared}` and takes "
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"format": "markdown", "content": "x"}, "Variable `V` has an unknown format `markdown`"),
        ({"format": "html"}, "Variable `V` has a format but no content"),
        ({"content": "x"}, "Variable `V` has a value of an unsupported shape"),
        ({"format": "html", "content": 3}, "Variable `V` has html content that is not a string"),
        ({"format": "text", "content": [1]}, "Variable `V` has text content that is not a string"),
        ({"format": ["html"], "content": "x"}, "Variable `V` has an unknown format `['html']`"),
        ({"templateId": 7}, "Variable `V` needs a string `templateId` and an object `variables`"),
        ([["nested"]], "Variable `V` holds an array inside an array"),
    ],
)
def test_malformed_values_are_render_errors(value: Any, message: str) -> None:
    with pytest.raises(RenderError) as caught:
        render_inline("s", "{{ V }}", None, {"V": value})
    assert caught.value.message.startswith(message)


def test_inline_content_takes_any_variable() -> None:
    rendered = render_inline(
        "Hi {{ NAME }}",
        "<p>{{ NAME }}</p>{{ BODY }}",
        "{{ NAME }}",
        {"NAME": "<Ann>", "BODY": {"format": "html", "content": "<i>x</i>"}, "UNUSED": 1},
    )
    assert rendered.subject == "Hi <Ann>"
    assert rendered.html == "<p>&lt;Ann&gt;</p><i>x</i>"
    assert rendered.text == "<Ann>"


def test_inline_html_and_text_may_be_absent() -> None:
    assert render_inline("Hello", None, "Text only", {}).html is None
    assert render_inline("Hello", "<p>x</p>", None, {}).text is None


def test_inline_array_renders_items_in_order_and_loops() -> None:
    rendered = render_inline(
        "s",
        "{{ TAGS }}|{% for tag in TAGS %}[{{ tag }}]{% endfor %}|{{ TAGS|length }}",
        "{{ TAGS|join(', ') }}",
        {"TAGS": ["a<", {"format": "html", "content": "<b>b</b>"}, 3]},
    )
    assert rendered.html == "a&lt;<b>b</b>3|[a&lt;][<b>b</b>][3]|3"
    assert rendered.text == "a<, b, 3"


def test_batch_check_looks_inside_nested_templates(make_template: MakeTemplate) -> None:
    # A batch is checked at the API and rendered by the workers: a nested value's errors are
    # the render's, word for word, so nothing is stored that would fail.
    row = make_template("row", html="{{ N }}", variables={"N": VariableSpec("N", "text", True)})
    deep = make_template("deep", html="{{ T }}", variables={"T": "template"})
    parent = make_template("parent", html="{{ ROWS }}", variables={"ROWS": "template"})
    lookup = {"row": row, "deep": deep}.get
    cases = [
        ([{"templateId": "row", "variables": {"N": 1, "X": 2}}],
         "Variable `X` not found in template `row`"),
        ({"templateId": "row"}, "Variable `N` is required by template `row`"),
        ({"templateId": "row", "variables": {"N": {"format": "draft", "content": "x"}}},
         "Variable `N` holds an invalid Draft.js document"),
        ({"templateId": "deep", "variables": {"T": {"templateId": "row"}}},
         "Variable `T` of nested template `deep` holds a template"),
    ]  # fmt: skip
    for value, message in cases:
        with pytest.raises(RenderError) as checking:
            check_variables(parent, {"ROWS": value}, lookup=lookup)
        with pytest.raises(RenderError) as rendering:
            render_template(parent, {"ROWS": value}, lang=None, lookup=lookup)
        assert checking.value.message == rendering.value.message
        assert checking.value.message.startswith(message)
    check_variables(parent, {"ROWS": [{"templateId": "row", "variables": {"N": 1}}]}, lookup=lookup)
