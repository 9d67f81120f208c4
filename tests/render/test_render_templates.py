"""Stored templates: languages, Jinja logic in every part, and the compiled-template cache."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from render import (
    RenderError,
    TemplateContent,
    TemplateSpec,
    cache_info,
    render_inline,
    render_template,
)
from render.sandbox import TEMPLATES

MakeTemplate = Callable[..., TemplateSpec]


def no_lookup(template_id: str) -> TemplateSpec | None:
    return None


@pytest.fixture
def greeting(make_template: MakeTemplate) -> TemplateSpec:
    return make_template(
        "greeting",
        subject="Hello {{ NAME }}",
        html="<p>Hello {{ NAME }}</p>",
        text="Hello {{ NAME }}",
        variables={"NAME": "text"},
        translations={
            "es": TemplateContent("Hola {{ NAME }}", "<p>Hola {{ NAME }}</p>", "Hola {{ NAME }}"),
            "de": TemplateContent("Hallo {{ NAME }}", "<p>Hallo {{ NAME }}</p>", None),
        },
    )


@pytest.mark.parametrize(
    ("lang", "subject", "html", "text"),
    [
        (None, "Hello Ana", "<p>Hello Ana</p>", "Hello Ana"),
        ("en", "Hello Ana", "<p>Hello Ana</p>", "Hello Ana"),
        ("es", "Hola Ana", "<p>Hola Ana</p>", "Hola Ana"),
        ("es-MX", "Hola Ana", "<p>Hola Ana</p>", "Hola Ana"),
        ("de", "Hallo Ana", "<p>Hallo Ana</p>", None),  # no German text: finalize derives it
        ("ja", "Hello Ana", "<p>Hello Ana</p>", "Hello Ana"),  # missing: master content
    ],
)
def test_language_picks_translation_or_falls_back(
    greeting: TemplateSpec, lang: str | None, subject: str, html: str, text: str | None
) -> None:
    rendered = render_template(greeting, {"NAME": "Ana"}, lang=lang, lookup=no_lookup)
    assert (rendered.subject, rendered.html, rendered.text) == (subject, html, text)


def test_conditionals_and_loops_in_subject_body_and_text(make_template: MakeTemplate) -> None:
    spec = make_template(
        subject="{% if COUNT == 1 %}One item{% else %}{{ COUNT }} items{% endif %} for {{ NAME }}",
        html="<ul>{% for i in range(COUNT) %}<li>{{ loop.index }}</li>{% endfor %}</ul>"
        "{% set total = COUNT * 10 %}<p>{{ total }}</p>",
        text="{% for i in range(COUNT) %}#{{ i }} {% endfor %}",
        variables={"COUNT": "text", "NAME": "text"},
    )
    rendered = render_template(spec, {"COUNT": 3, "NAME": "Li"}, lang=None, lookup=no_lookup)
    assert rendered.subject == "3 items for Li"
    assert rendered.html == "<ul><li>1</li><li>2</li><li>3</li></ul><p>30</p>"
    assert rendered.text == "#0 #1 #2 "
    single = render_template(spec, {"COUNT": 1, "NAME": "Li"}, lang=None, lookup=no_lookup)
    assert single.subject == "One item for Li"


def test_subject_is_one_line(make_template: MakeTemplate) -> None:
    spec = make_template(
        subject="Hi\n{% if NAME %}\n  {{ NAME }}\n{% endif %}", variables={"NAME": "text"}
    )
    rendered = render_template(spec, {"NAME": "Bo\r\nBcc: x@y.z"}, lang=None, lookup=no_lookup)
    assert rendered.subject == "Hi Bo Bcc: x@y.z"


def test_text_part_keeps_its_trailing_newline(make_template: MakeTemplate) -> None:
    spec = make_template(text="Bye {{ NAME }}\n", variables={"NAME": "text"})
    assert render_template(spec, {"NAME": "A"}, lang=None, lookup=no_lookup).text == "Bye A\n"
    plain = make_template(text="Bye\n")
    assert render_template(plain, {}, lang=None, lookup=no_lookup).text == "Bye\n"


def test_runtime_error_in_template_is_a_render_error(make_template: MakeTemplate) -> None:
    spec = make_template("maths", html="{{ 1 / COUNT }}", variables={"COUNT": "text"})
    with pytest.raises(RenderError) as caught:
        render_template(spec, {"COUNT": 0}, lang=None, lookup=no_lookup)
    assert caught.value.message == "Template `maths` could not be rendered (html): division by zero"


def test_stored_template_with_syntax_error_names_it(make_template: MakeTemplate) -> None:
    spec = make_template("broken", html="<p>\n{% if %}</p>")
    with pytest.raises(RenderError) as caught:
        render_template(spec, {}, lang=None, lookup=no_lookup)
    assert caught.value.message == (
        "Syntax error in template `broken` html at line 2: Expected an expression, "
        "got 'end of statement block'"
    )


def test_compiled_template_is_cached_by_id_version_lang_part(
    greeting: TemplateSpec, make_template: MakeTemplate
) -> None:
    key = ("greeting", 1, "en", "html")
    render_template(greeting, {"NAME": "A"}, lang=None, lookup=no_lookup)
    compiled = TEMPLATES.lru.get(key)
    assert cache_info()["templates"].misses == 3  # subject, html and text compiled once each
    for name in ("B", "C"):
        render_template(greeting, {"NAME": name}, lang=None, lookup=no_lookup)
    info = cache_info()["templates"]
    assert (info.misses, info.size) == (3, 3)  # no new compilation
    assert compiled is not None and TEMPLATES.lru.get(key) is compiled  # the same object

    render_template(greeting, {"NAME": "A"}, lang="es", lookup=no_lookup)
    assert cache_info()["templates"].size == 6  # Spanish parts are their own entries

    bumped = make_template(
        "greeting", html="<p>Hey {{ NAME }}</p>", variables={"NAME": "text"}, version=2
    )
    assert render_template(bumped, {"NAME": "A"}, lang=None, lookup=no_lookup).html == (
        "<p>Hey A</p>"
    )


def test_changed_source_under_same_version_is_recompiled(make_template: MakeTemplate) -> None:
    first = make_template(html="<p>{{ X }}</p>", variables={"X": "text"})
    second = make_template(html="<b>{{ X }}</b>", variables={"X": "text"})
    assert render_template(first, {"X": 1}, lang=None, lookup=no_lookup).html == "<p>1</p>"
    assert render_template(second, {"X": 1}, lang=None, lookup=no_lookup).html == "<b>1</b>"


def test_inline_content_is_cached_by_source() -> None:
    for name in ("A", "B", "C"):
        rendered = render_inline("Hi {{ N }}", "<p>{{ N }}</p>", None, {"N": name})
        assert rendered.html == f"<p>{name}</p>"
    info = cache_info()["inline"]
    assert (info.misses, info.hits, info.size) == (2, 4, 2)


def test_cache_is_bounded() -> None:
    from render.lru import LRU

    lru = LRU[int](2)
    for key in "abc":
        lru.put(key, ord(key))
    assert lru.get("a") is None
    assert lru.get("b") == ord("b")
    lru.put("d", 0)  # "c" is now the least recently used
    assert (lru.get("c"), lru.info().size) == (None, 2)
