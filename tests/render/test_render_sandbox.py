"""The sandbox: templates reach no Python internals and cannot exhaust a worker."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from render import RenderError, TemplateSpec, render_inline, render_template

MakeTemplate = Callable[..., TemplateSpec]

ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ joiner.__init__.__globals__.os }}",
    "{{ self.__init__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ (1).__class__.__base__ }}",
    "{{ NAME.__class__ }}",
]


def no_lookup(template_id: str) -> TemplateSpec | None:
    return None


@pytest.mark.parametrize("source", ESCAPES)
def test_internals_are_refused_with_a_render_error(
    make_template: MakeTemplate, source: str
) -> None:
    spec = make_template("evil", html=f"<p>{source}</p>", variables={"NAME": "text"})
    with pytest.raises(RenderError) as caught:
        render_template(spec, {"NAME": "x"}, lang=None, lookup=no_lookup)
    message = caught.value.message
    assert message.startswith("Template `evil` was stopped by the sandbox in its html: ")
    assert "is unsafe" in message
    assert "<class" not in message and "subclasses" not in message.split(": ", 1)[0]


@pytest.mark.parametrize(
    "source", ["{{ range.__self__ }}", "{{ NAME.__html__ }}", "{{ NAME.mro }}", "{{ config }}"]
)
def test_attributes_that_do_not_exist_render_nothing(source: str) -> None:
    # Nothing to refuse: no such attribute or name, so Jinja's Undefined prints as empty.
    assert render_inline("s", f"[{source}]", None, {"NAME": "x"}).html == "[]"


@pytest.mark.parametrize("part", ["subject", "html", "text"])
def test_every_part_is_sandboxed(part: str) -> None:
    sources = {"subject": "s", "html": "h", "text": "t"}
    sources[part] = "{{ ''.__class__.__mro__ }}"
    with pytest.raises(RenderError) as caught:
        render_inline(sources["subject"], sources["html"], sources["text"], {})
    assert caught.value.message == (
        f"Inline content was stopped by the sandbox in its {part}: "
        "access to attribute '__class__' of 'str' object is unsafe"
    )


def test_lipsum_is_not_available() -> None:
    # Removed from the globals, so "{{ lipsum.__globals__ }}" finds nothing to climb through.
    with pytest.raises(RenderError) as caught:
        render_inline("s", "{{ lipsum.__globals__ }}", None, {})
    assert (
        caught.value.message == "Inline content could not be rendered (html): 'lipsum' is undefined"
    )
    assert render_inline("s", "[{{ lipsum }}]", None, {}).html == "[]"


def test_templates_cannot_mutate_data() -> None:
    with pytest.raises(RenderError) as caught:
        render_inline("s", "{% set d = {} %}{{ d.update(a=1) }}", None, {})
    assert caught.value.message == (
        "Inline content was stopped by the sandbox in its html: "
        "access to attribute 'update' of 'dict' object is unsafe"
    )
    # Array values are read-only sequences: there is nothing to call.
    with pytest.raises(RenderError, match="has no attribute 'append'"):
        render_inline("s", "{{ ITEMS.append(1) }}", None, {"ITEMS": ["a"]})


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{{ 'x' * 1000000000 }}", "a result longer than 5,000,000 characters"),
        ("{{ [1, 2] * 10000000 }}", "a result longer than 5,000,000 characters"),
        ("{{ 10 ** 100000 }}", "an integer of more than 100,000 bits"),
    ],
)
def test_resource_bombs_are_stopped(source: str, reason: str) -> None:
    with pytest.raises(RenderError) as caught:
        render_inline("s", source, None, {})
    assert caught.value.message.startswith(
        f"Inline content went over its render budget in its html: {reason}"
    )


def test_huge_range_is_refused() -> None:
    with pytest.raises(RenderError) as caught:
        render_inline("s", "{% for i in range(10**7) %}{% endfor %}", None, {})
    assert caught.value.message.startswith(
        "Inline content could not be rendered (html): Range too big."
    )


def test_ordinary_arithmetic_still_works() -> None:
    rendered = render_inline("s", "{{ 'ab' * 3 }} {{ 2 ** 10 }} {{ 6 * 7 }}", None, {})
    assert rendered.html == "ababab 1024 42"


def test_rich_value_internals_are_hidden() -> None:
    value = {"format": "html", "content": "<b>x</b>"}
    with pytest.raises(RenderError, match="is unsafe"):
        render_inline("s", "{{ BODY._html }}", None, {"BODY": value})
    assert render_inline("s", "[{{ BODY.html }}]", None, {"BODY": value}).html == "[]"


@pytest.mark.parametrize(
    "source",
    [
        '{% import "other" as other %}{{ other.x }}',
        '{% from "other" import x %}',
        '{% include "other" %}',
        '{% extends "other" %}',
    ],
)
def test_templates_cannot_load_other_templates(source: str) -> None:
    with pytest.raises(RenderError) as caught:
        render_inline("s", source, None, {})
    assert caught.value.message == (
        "Inline content could not be rendered (html): no loader for this environment specified"
    )


def test_template_scoping_is_per_render(make_template: MakeTemplate) -> None:
    # A context is built per render: what one render sets is gone for the next.
    spec = make_template(
        html="{{ SEEN|default('none') }}{% set SEEN = X %}"
        "{% macro tag(v) %}<{{ v }}>{% endmacro %}{{ tag(X) }}",
        variables={"X": "text"},
    )
    for value in ("a", "b"):
        html = render_template(spec, {"X": value}, lang=None, lookup=no_lookup).html
        assert html == f"none<{value}>"
