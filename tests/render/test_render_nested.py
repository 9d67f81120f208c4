"""Nested template values: looked up, rendered in the same language, one level deep."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from render import (
    RenderError,
    TemplateContent,
    TemplateSpec,
    VariableSpec,
    cache_info,
    render_inline,
    render_template,
)

MakeTemplate = Callable[..., TemplateSpec]


@pytest.fixture
def item(make_template: MakeTemplate) -> TemplateSpec:
    return make_template(
        "item",
        html="<li>{{ NAME }}: {{ PRICE }}</li>",
        text="- {{ NAME }}: {{ PRICE }}",
        variables={"NAME": VariableSpec("NAME", "text", required=True), "PRICE": "text"},
        translations={"es": TemplateContent("s", "<li>{{ NAME }} cuesta {{ PRICE }}</li>", None)},
    )


@pytest.fixture
def order(make_template: MakeTemplate) -> TemplateSpec:
    return make_template(
        "order",
        subject="Order",
        html="<ul>{{ ITEMS }}</ul>",
        text="Items:\n{{ ITEMS }}",
        variables={"ITEMS": "template"},
    )


def nested(template_id: str, **variables: Any) -> dict[str, Any]:
    return {"templateId": template_id, "variables": variables}


def test_nested_template_inserted_as_markup(
    order: TemplateSpec, item: TemplateSpec, lookup_of: Callable[..., Any]
) -> None:
    rendered = render_template(
        order, {"ITEMS": nested("item", NAME="<Tea>", PRICE=3)}, lang=None,
        lookup=lookup_of(item),
    )  # fmt: skip
    assert rendered.html == "<ul><li>&lt;Tea&gt;: 3</li></ul>"
    assert rendered.text == "Items:\n- <Tea>: 3"


def test_array_of_nested_templates_concatenated_in_order(
    order: TemplateSpec, item: TemplateSpec, lookup_of: Callable[..., Any]
) -> None:
    items = [
        nested("item", NAME=name, PRICE=price) for name, price in (("A", 1), ("B", 2), ("C", 3))
    ]
    rendered = render_template(order, {"ITEMS": items}, lang=None, lookup=lookup_of(item))
    assert rendered.html == "<ul><li>A: 1</li><li>B: 2</li><li>C: 3</li></ul>"
    assert rendered.text == "Items:\n- A: 1\n- B: 2\n- C: 3"


def test_parent_can_loop_over_nested_templates(
    make_template: MakeTemplate, item: TemplateSpec, lookup_of: Callable[..., Any]
) -> None:
    spec = make_template(
        html="{% for row in ITEMS %}<div class=n{{ loop.index }}>{{ row }}</div>{% endfor %}",
        variables={"ITEMS": "template"},
    )
    items = [nested("item", NAME="A"), nested("item", NAME="B")]
    rendered = render_template(spec, {"ITEMS": items}, lang=None, lookup=lookup_of(item))
    assert rendered.html == "<div class=n1><li>A: </li></div><div class=n2><li>B: </li></div>"


def test_nested_template_uses_same_language(
    make_template: MakeTemplate, item: TemplateSpec, lookup_of: Callable[..., Any]
) -> None:
    order = make_template(
        "order",
        html="<ul>{{ ITEMS }}</ul>",
        variables={"ITEMS": "template"},
        translations={"es": TemplateContent("Pedido", "<ol>{{ ITEMS }}</ol>", None)},
    )
    rendered = render_template(
        order, {"ITEMS": [nested("item", NAME="Té", PRICE=3)]}, lang="es", lookup=lookup_of(item)
    )
    assert rendered.subject == "Pedido"
    assert rendered.html == "<ol><li>Té cuesta 3</li></ol>"


def test_nested_template_falls_back_to_its_master_language(
    make_template: MakeTemplate, item: TemplateSpec, lookup_of: Callable[..., Any]
) -> None:
    order = make_template(
        "order",
        html="<ul>{{ ITEMS }}</ul>",
        variables={"ITEMS": "template"},
        translations={"fr": TemplateContent("Commande", "<ol>{{ ITEMS }}</ol>", None)},
    )
    rendered = render_template(
        order, {"ITEMS": [nested("item", NAME="Thé", PRICE=3)]}, lang="fr", lookup=lookup_of(item)
    )
    assert rendered.html == "<ol><li>Thé: 3</li></ol>"  # "item" has no French: English


def test_nested_template_not_found_is_the_contract_error(
    order: TemplateSpec, lookup_of: Callable[..., Any]
) -> None:
    with pytest.raises(RenderError) as caught:
        render_template(order, {"ITEMS": [nested("gone")]}, lang=None, lookup=lookup_of())
    assert caught.value.message == "Template `gone` not found"


def test_nested_template_variables_are_checked_against_it(
    order: TemplateSpec, item: TemplateSpec, lookup_of: Callable[..., Any]
) -> None:
    with pytest.raises(RenderError) as caught:
        render_template(order, {"ITEMS": [nested("item", PRICE=1)]}, lang=None,
                        lookup=lookup_of(item))  # fmt: skip
    assert caught.value.message == "Variable `NAME` is required by template `item`"
    with pytest.raises(RenderError) as caught:
        render_template(order, {"ITEMS": [nested("item", NAME="a", SKU=1)]}, lang=None,
                        lookup=lookup_of(item))  # fmt: skip
    assert caught.value.message == "Variable `SKU` not found in template `item`"


def test_two_levels_of_nesting_is_an_error(
    make_template: MakeTemplate, order: TemplateSpec, item: TemplateSpec,
    lookup_of: Callable[..., Any],
) -> None:  # fmt: skip
    middle = make_template("middle", html="{{ INNER }}", variables={"INNER": "template"})
    with pytest.raises(RenderError) as caught:
        render_template(
            order, {"ITEMS": [nested("middle", INNER=nested("item", NAME="x"))]}, lang=None,
            lookup=lookup_of(middle, item),
        )  # fmt: skip
    assert caught.value.message == (
        "Variable `INNER` of nested template `middle` holds a template: "
        "templates nest one level only"
    )


def test_nested_value_in_untyped_slot_of_nested_template_is_refused(
    make_template: MakeTemplate, order: TemplateSpec, item: TemplateSpec,
    lookup_of: Callable[..., Any],
) -> None:  # fmt: skip
    # Declared as text, given a template: a type error, never a second level.
    middle = make_template("middle", html="{{ INNER }}", variables={"INNER": "text"})
    lookup = lookup_of(middle, item)
    with pytest.raises(RenderError) as caught:
        render_template(
            order, {"ITEMS": [nested("middle", INNER=nested("item", NAME="x"))]}, lang=None,
            lookup=lookup,
        )  # fmt: skip
    assert caught.value.message.startswith(
        "Variable `INNER` of template `middle` has type `text` and takes"
    )
    assert lookup.asked == ["middle"]  # the inner template was never rendered


def test_nested_template_with_template_default_is_refused(
    make_template: MakeTemplate, order: TemplateSpec, item: TemplateSpec,
    lookup_of: Callable[..., Any],
) -> None:  # fmt: skip
    middle = make_template(
        "middle",
        html="{{ INNER }}",
        variables={"INNER": VariableSpec("INNER", "template", default={"templateId": "item"})},
    )
    lookup = lookup_of(middle, item)
    with pytest.raises(RenderError, match="templates nest one level only"):
        render_template(order, {"ITEMS": [nested("middle")]}, lang=None, lookup=lookup)
    assert lookup.asked == ["middle"]


def test_inline_nested_template_needs_a_lookup(
    item: TemplateSpec, lookup_of: Callable[..., Any]
) -> None:
    with pytest.raises(RenderError) as caught:
        render_inline("s", "{{ ROW }}", None, {"ROW": nested("item", NAME="a")})
    assert caught.value.message == (
        "Variable `ROW` holds a nested template, but no template lookup is available"
    )
    rendered = render_inline(
        "s", "<ul>{{ ROWS }}</ul>", None,
        {"ROWS": [nested("item", NAME="a"), nested("item", NAME="b")]},
        lookup=lookup_of(item), lang="es",
    )  # fmt: skip
    assert rendered.html == "<ul><li>a cuesta </li><li>b cuesta </li></ul>"


@pytest.fixture
def card(make_template: MakeTemplate) -> TemplateSpec:
    """As ``item``, but its HTML needs Jinja: too costly to render again, so memoised."""
    return make_template(
        "item",
        html="<li>{{ NAME }}: {{ PRICE|string }}</li>",
        variables={"NAME": VariableSpec("NAME", "text", required=True), "PRICE": "text"},
    )


def test_repeated_nested_values_are_rendered_once_but_always_looked_up(
    order: TemplateSpec, card: TemplateSpec, lookup_of: Callable[..., Any]
) -> None:
    lookup = lookup_of(card)
    items = [nested("item", NAME="A", PRICE=1)] * 3 + [nested("item", NAME="A", PRICE=True)]
    rendered = render_template(order, {"ITEMS": items}, lang=None, lookup=lookup)
    assert rendered.html == "<ul>" + "<li>A: 1</li>" * 3 + "<li>A: True</li></ul>"
    # Every value is looked up (the lookup may refuse a template to this caller) ...
    assert lookup.asked == ["item"] * 4
    # ... but the same id, version, language and variables render once: 1 and True differ.
    nested_memo = cache_info()["nested"]
    assert (nested_memo.hits, nested_memo.misses) == (2, 2)


def test_plain_values_of_a_simple_template_are_rendered_each_time(
    order: TemplateSpec, item: TemplateSpec, lookup_of: Callable[..., Any]
) -> None:
    # Literal text and {{ NAME }} with plain values: rendering costs about a memo hit, so
    # they skip the memo (tests/render/test_render_direct.py checks the output is the same).
    lookup = lookup_of(item)
    items = [nested("item", NAME="A", PRICE=1)] * 3 + [nested("item", NAME="A", PRICE=True)]
    rendered = render_template(order, {"ITEMS": items}, lang=None, lookup=lookup)
    assert rendered.html == "<ul>" + "<li>A: 1</li>" * 3 + "<li>A: True</li></ul>"
    assert lookup.asked == ["item"] * 4
    nested_memo = cache_info()["nested"]
    assert (nested_memo.hits, nested_memo.misses) == (0, 1)  # only the bool, which is not plain


def test_memoised_nested_template_still_refused_by_lookup(
    order: TemplateSpec, item: TemplateSpec, lookup_of: Callable[..., Any]
) -> None:
    value = {"ITEMS": [nested("item", NAME="A")]}
    render_template(order, value, lang=None, lookup=lookup_of(item))
    with pytest.raises(RenderError, match="Template `item` not found"):
        render_template(order, value, lang=None, lookup=lookup_of())


@pytest.mark.parametrize("memoised", [True, False])
def test_memo_tells_zero_from_negative_zero(
    order: TemplateSpec, item: TemplateSpec, card: TemplateSpec,
    lookup_of: Callable[..., Any], memoised: bool,
) -> None:  # fmt: skip
    items = [nested("item", NAME="A", PRICE=0.0), nested("item", NAME="A", PRICE=-0.0)] * 2
    lookup = lookup_of(card if memoised else item)
    rendered = render_template(order, {"ITEMS": items}, lang=None, lookup=lookup)
    assert rendered.html == "<ul>" + "<li>A: 0.0</li><li>A: -0.0</li>" * 2 + "</ul>"
    assert cache_info()["nested"].hits == (2 if memoised else 0)


def test_each_value_uses_the_spec_its_lookup_gave(
    make_template: MakeTemplate, order: TemplateSpec
) -> None:
    # Values of one template share its preparation within a render, but only while the
    # lookup gives the same spec: a lookup may hand out another version mid-render.
    versions = iter(
        make_template("item", html=f"<li>v{n} {{{{ NAME }}}}</li>", variables={"NAME": "text"},
                      version=n)
        for n in (1, 2, 2)
    )  # fmt: skip
    items = [nested("item", NAME="a"), nested("item", NAME="b"), nested("item", NAME="c")]
    rendered = render_template(
        order, {"ITEMS": items}, lang=None, lookup=lambda template_id: next(versions)
    )
    assert rendered.html == "<ul><li>v1 a</li><li>v2 b</li><li>v2 c</li></ul>"
