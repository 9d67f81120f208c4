"""The fast path for templates of literal text and bare ``{{ NAME }}``: always Jinja's output.

Each case renders the same compiled template three ways: the fast path (SimpleTemplate),
render_compiled's Jinja path (the fast path switched off) and Jinja's own Template.render(),
and compares the results character for character and by type.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jinja2.runtime
import markupsafe
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from render import RenderError, TemplateSpec, VariableSpec, render_inline, render_template
from render.html_clean import clean_html
from render.sandbox import (
    HTML_ENV,
    INLINE,
    PLAIN_ENV,
    TEMPLATES,
    Compiled,
    MailSandbox,
    compile_source,
    render_compiled,
    simple_template,
)
from render.values import RichList, RichValue

ENVS = {"html": HTML_ENV, "text": PLAIN_ENV}
CASES = settings(
    max_examples=750,
    deadline=None,
    database=None,  # nothing written into the working tree
    derandomize=True,  # the same cases on every run, so CI cannot fail by luck
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Names Jinja could treat specially or that shadow a global (range, dict) or a name of its
# generated code (context, missing, escape, l_0_A...); "self" is never simple.
NAMES = [
    "A", "B", "NAME", "x_1", "ñame", "range", "dict", "cycler", "loop", "caller", "super",
    "varargs", "kwargs", "missing", "context", "environment", "undefined", "resolve",
    "escape", "str", "concat", "l_0_A", "t_1", "_",
]  # fmt: skip

# Literal text: everything but "{" (which may open a tag), HTML specials, Jinja's closing
# delimiters, every kind of line break and whitespace, non-ASCII.
TEXT_CHARS = "".join(
    ["<>&\"'; #%}-+=/\\ab", "\n\r\t \u00a0\u2028\u0085\f\v\u200b\x00", "\u00e9\u20ac\U0001f600"]
)
LITERAL = st.text(alphabet=st.sampled_from(TEXT_CHARS) | st.characters(blacklist_characters="{"))
OPENERS = ["{{", "{{ ", "{{- ", "{{  ", "{{-"]
CLOSERS = ["}}", " }}", " -}}", "  }}", "-}}"]

# No lone surrogates: they cannot be encoded, and the API never lets one in (tests/api).
HTML_TEXT = st.text(
    alphabet=st.sampled_from("<>&\"';#ab \n\u00e9") | st.characters(blacklist_categories=["Cs"]),
    max_size=12,
)


class IntLike(int):
    """An int subclass: escape() takes it, not the shortcut for exact ints."""


class StrLike(str):
    """A str subclass without __html__."""


class HtmlObject:
    """Any object with __html__ (and a different __str__)."""

    def __init__(self, html: str) -> None:
        self.html = html

    def __html__(self) -> str:
        return self.html

    def __str__(self) -> str:
        return f"str:{self.html}"


class HtmlGivesMarkup:
    """__html__ returning a Markup, which escape() unwraps once more."""

    def __html__(self) -> Markup:
        return Markup("<i>m</i>")


def _twin(text: str) -> Callable[[], str]:
    return lambda: text


# What a context value can be: the scalars JSON gives (and subclasses), None, Markup, and
# what render.variables builds: RichValue (cleaned html, with or without a text twin, lazy or
# not) and RichList (arrays of nested templates and scalars).
SCALAR_ITEMS = st.one_of(
    HTML_TEXT,
    st.integers(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(),
    st.sampled_from([-0.0, 0.0, 1e16, 1e-7, 1.5, float("inf"), float("-inf"), float("nan")]),
    st.booleans(),
)
SCALARS = SCALAR_ITEMS | st.none()
RICH = st.one_of(
    st.builds(RichValue, HTML_TEXT),
    st.builds(RichValue, HTML_TEXT, HTML_TEXT),
    st.builds(RichValue, HTML_TEXT, HTML_TEXT.map(_twin)),
    HTML_TEXT.map(lambda html: RichValue(clean_html(html))),
)
VALUES = st.one_of(
    SCALARS,
    RICH,
    st.builds(RichList, st.lists(SCALAR_ITEMS | RICH)),
    HTML_TEXT.map(Markup),
    HTML_TEXT.map(markupsafe.escape),
    st.integers().map(IntLike),
    HTML_TEXT.map(StrLike),
    HTML_TEXT.map(HtmlObject),
    st.just(HtmlGivesMarkup()),
    st.builds(list, st.lists(st.integers(), max_size=3)),
    st.builds(dict, st.dictionaries(HTML_TEXT, st.integers(), max_size=2)),
)


@st.composite
def simple_sources(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A source of 0 to 5 ``{{ NAME }}`` between literal texts, and its names."""
    names = draw(st.lists(st.sampled_from(NAMES), max_size=5))
    pieces = [draw(LITERAL)]
    for name in names:
        pieces += [draw(st.sampled_from(OPENERS)), name, draw(st.sampled_from(CLOSERS))]
        pieces.append(draw(LITERAL))
    return "".join(pieces), names


def _jinja_only(compiled: Compiled) -> Compiled:
    return Compiled(compiled.template, None)


def assert_same_output(compiled: Compiled, context: Mapping[str, Any]) -> bool:
    """The fast path, render_compiled's Jinja path and Template.render() agree exactly.

    Return whether the fast path rendered (rather than leaving a missing name to Jinja).
    """
    simple = compiled.simple
    assert simple is not None
    fast = simple.render(context)
    via_jinja = render_compiled(_jinja_only(compiled), context, "Test", "html")
    assert type(via_jinja) is str
    assert compiled.template.render(dict(context)) == via_jinja
    if fast is None:  # a name is missing: left to Jinja
        assert not all(name in context for name, _ in simple.rest)
    else:
        assert type(fast) is str
        assert fast == via_jinja
    full = render_compiled(compiled, context, "Test", "html")
    assert type(full) is str and full == via_jinja
    return fast is not None


@pytest.mark.parametrize("part", ["html", "text"])
@CASES
@given(data=st.data())
def test_fast_path_renders_exactly_as_jinja(part: str, data: st.DataObject) -> None:
    source, names = data.draw(simple_sources())
    compiled = compile_source(source, ENVS[part], "test")
    if source == "":  # no output node at all: Jinja's (never used: there is no "{")
        assert compiled.simple is None
        return
    assert compiled.simple is not None, source  # the other generated sources are all simple
    # Mostly every name given (the fast path), else one left out (Jinja's, via the fallback).
    left_out = data.draw(st.sampled_from([None] * 5 + names)) if names else None
    context = {name: data.draw(VALUES) for name in names if name != left_out}
    fast = assert_same_output(compiled, context)
    event(f"{len(set(names))} names, " + ("fast path" if fast else "left to Jinja"))


def _edge_values() -> Iterator[Any]:
    yield from ["", "<", "&", "&amp;", "'\"", "<b>x</b>", "é€😀", "\n\r\t", "a\x00b", "{{ A }}"]
    yield from [0, -1, 2**70, -(2**64), True, False, None, IntLike(5)]
    yield from [-0.0, 0.0, 0.1, 1e16, 1e-7, float("inf"), float("-inf"), float("nan")]
    yield from [Markup("<b>"), Markup(""), markupsafe.escape("<&>"), StrLike("<s>")]
    yield from [RichValue("<p>a</p>"), RichValue("", "t"), RichValue("<b>", lambda: "lazy")]
    yield RichList([RichValue("<li>1</li>"), "<x>", 3, -0.0, True])
    yield from [RichList([]), HtmlObject("<q>"), HtmlGivesMarkup(), [1, "<"], {"k": "<"}]


EDGE_SOURCES = [
    "{{ A }}",
    "<p>{{ A }}</p>",
    "{{A}}{{B}}",
    "a &amp; <b>{{ A }}</b>\n{{ B }}\n",
    "  {{- A -}}  \n\n{{ B -}}\r\n x",
    "é€😀 {{ A }} '\" {{ B }} > }} %} #}",
    "{% raw %}{{ A }}{% endraw %} {{ A }}",
    "{# a comment #}{{ A }}{# another #}",
    "literal only {# because of this comment #}",
]


@pytest.mark.parametrize("part", ["html", "text"])
@pytest.mark.parametrize("source", EDGE_SOURCES)
def test_edge_values_render_exactly_as_jinja(part: str, source: str) -> None:
    compiled = compile_source(source, ENVS[part], "test")
    values = list(_edge_values())
    for first in values:
        for second in values:
            assert_same_output(compiled, {"A": first, "B": second})
    assert_same_output(compiled, {})
    assert_same_output(compiled, {"A": "only A"})


def test_seeded_random_templates_and_values() -> None:
    """Without hypothesis' shrinking: 2,000 random cases, the same on every run."""
    rng = random.Random(20240611)
    values = list(_edge_values())
    text = TEXT_CHARS + "xyz<>&"
    fast = 0
    for case in range(2000):
        names = rng.choices(NAMES, k=rng.randint(0, 5))
        pieces = ["".join(rng.choices(text, k=rng.randint(1, 6)))]  # never an empty source
        for name in names:
            pieces += [rng.choice(OPENERS), name, rng.choice(CLOSERS)]
            pieces.append("".join(rng.choices(text, k=rng.randint(0, 6))))
        env = HTML_ENV if case % 4 else PLAIN_ENV
        compiled = compile_source("".join(pieces), env, "test")
        context = {name: rng.choice(values) for name in names if rng.random() < 0.95}
        fast += assert_same_output(compiled, context)
    assert fast > 1600  # most through the fast path, the others left to Jinja


@pytest.mark.parametrize(
    "source",
    [
        "{{ A|e }}",
        "{{ A|safe }}",
        "{{ A|length }}",
        "{{ A.b }}",
        "{{ A['b'] }}",
        "{{ A[0] }}",
        "{{ A() }}",
        "{{ A is defined }}",
        "{{ A ~ B }}",
        "{{ A + 1 }}",
        "{{ A if B }}",
        "{{ A or B }}",
        "{{ not A }}",
        "{{ -A }}",
        "{{ (A) }}{{ A, B }}",
        "{{ 'A' }}",
        "{{ 1 }}",
        "{{ true }}",
        "{{ none }}",
        "{{ self }}",
        "{{ loop.index }}",
        "{% if A %}{{ A }}{% endif %}",
        "{% for x in A %}{{ x }}{% endfor %}",
        "{% set A = 1 %}{{ A }}",
        "{% autoescape false %}{{ A }}{% endautoescape %}",
        "{% macro m() %}{% endmacro %}{{ A }}",
        "{% filter upper %}{{ A }}{% endfilter %}",
        "{% with B = A %}{{ B }}{% endwith %}",
        "{{ A }}{% if B %}x{% endif %}",
        "{# only a comment #}",
        "{{ range(3) }}",
        "{{ super() }}",
    ],
)
@pytest.mark.parametrize("env", [HTML_ENV, PLAIN_ENV], ids=["html", "text"])
def test_anything_but_names_and_text_is_not_simple(source: str, env: MailSandbox) -> None:
    assert simple_template(source, env) is None
    compiled = compile_source(source, env, "test") if "super" not in source else None
    assert compiled is None or compiled.simple is None


def _sandbox(**options: Any) -> MailSandbox:
    return MailSandbox(cache_size=0, keep_trailing_newline=True, **options)


@pytest.mark.parametrize(
    "env",
    [
        _sandbox(autoescape=True, finalize=lambda value: "" if value is None else value),
        _sandbox(autoescape=lambda name: True),
        _sandbox(autoescape=True, extensions=["jinja2.ext.do"]),
        _sandbox(autoescape=True, enable_async=True),
    ],
    ids=["finalize", "autoescape-per-template", "extension", "async"],
)
def test_environments_that_may_render_otherwise_take_jinja(env: MailSandbox) -> None:
    assert simple_template("<p>{{ A }}</p>", env) is None


def test_jinja_escapes_with_markupsafe() -> None:
    assert getattr(jinja2.runtime, "escape", None) is markupsafe.escape
    assert simple_template("<p>{{ A }}</p>", HTML_ENV) is not None


def test_the_parts_come_from_jinjas_parse() -> None:
    simple = simple_template("a\r\n  {{- A }} < {{ B -}}\n\n b{{ C }}", HTML_ENV)
    assert simple is not None
    assert (simple.head, simple.rest) == ("a", (("A", " < "), ("B", "b"), ("C", "")))


@pytest.mark.parametrize(
    ("value", "errors"),
    [
        # str() of an int this long raises ValueError, in escape() as in str().
        (10**5000, {"html": "(html): Exceeds the limit (4300 digits)", "text": "(text): Exceeds"}),
        # The text twin is computed (and fails) only in a plain part.
        (RichValue("<b>", lambda: str(1 / 0)), {"html": None, "text": "(text): division by zero"}),
    ],
    ids=["huge-int", "failing-text"],
)
@pytest.mark.parametrize("part", ["html", "text"])
def test_errors_of_a_value_are_the_same(
    value: object, errors: dict[str, str | None], part: str
) -> None:
    compiled = compile_source("<p>{{ A }}</p>", ENVS[part], "test")
    outcomes = []
    for candidate in (compiled, _jinja_only(compiled)):
        try:
            outcomes.append(("ok", render_compiled(candidate, {"A": value}, "Template `t`", part)))
        except RenderError as err:
            outcomes.append(("error", err.message))
    assert outcomes[0] == outcomes[1]
    expected = errors[part]
    if expected is None:
        assert outcomes[0] == ("ok", "<p><b></p>")
    else:
        assert outcomes[0][0] == "error"
        assert outcomes[0][1].startswith(f"Template `t` could not be rendered {expected}")


def test_render_error_of_a_nested_text_passes_through(
    make_template: Callable[..., TemplateSpec], lookup_of: Callable[..., Any]
) -> None:
    row = make_template(
        "row", html="<li>{{ X }}</li>", text="{{ X|nope }}", variables={"X": "text"}
    )
    order = make_template(
        "order", html="<ul>{{ ITEMS }}</ul>", text="{{ ITEMS }}",
        variables={"ITEMS": VariableSpec("ITEMS", "template")},
    )  # fmt: skip
    with pytest.raises(RenderError) as caught:
        render_template(
            order, {"ITEMS": [{"templateId": "row", "variables": {"X": "a"}}]}, lang=None,
            lookup=lookup_of(row),
        )  # fmt: skip
    assert caught.value.message == (
        "Syntax error in template `row` text at line 1: No filter named 'nope'."
    )


def test_stored_inline_and_nested_templates_take_the_fast_path(
    make_template: Callable[..., TemplateSpec], lookup_of: Callable[..., Any]
) -> None:
    row = make_template(
        "row", html="<li>{{ NAME }}: {{ QTY }}</li>", text="{{ NAME }} x{{ QTY }}",
        variables={"NAME": "text", "QTY": "text"},
    )  # fmt: skip
    order = make_template(
        "order", subject="Order {{ N }}", html="<ul>{{ ITEMS }}</ul>", text="{{ ITEMS }}",
        variables={"N": "text", "ITEMS": "template"},
    )  # fmt: skip
    items = [{"templateId": "row", "variables": {"NAME": "<T&a>", "QTY": q}} for q in (1, 2.5)]
    rendered = render_template(order, {"N": 7, "ITEMS": items}, lang=None, lookup=lookup_of(row))
    assert rendered.subject == "Order 7"
    assert rendered.html == "<ul><li>&lt;T&amp;a&gt;: 1</li><li>&lt;T&amp;a&gt;: 2.5</li></ul>"
    assert rendered.text == "<T&a> x1\n<T&a> x2.5"
    for part in ("subject", "html", "text"):
        entry = TEMPLATES.lru.get(("order", 1, "en", part))
        assert entry is not None and entry[1].simple is not None
    for part in ("html", "text"):
        entry = TEMPLATES.lru.get(("row", 1, "en", part))
        assert entry is not None and entry[1].simple is not None

    inline = render_inline("Hi {{ N }}", "<p>{{ N }}</p>", "{{ N }}", {"N": "<&>"})
    assert (inline.subject, inline.html, inline.text) == ("Hi <&>", "<p>&lt;&amp;&gt;</p>", "<&>")
    assert all(entry[1].simple is not None for entry in INLINE.lru._entries.values())


def test_a_missing_name_renders_as_jinja_does() -> None:
    # Not given: Jinja's Undefined prints nothing, and a global prints as itself.
    rendered = render_inline("s", "[{{ config }}|{{ range }}|{{ A }}]", None, {"A": "<"})
    assert rendered.html == f"[|{markupsafe.escape(HTML_ENV.globals['range'])}|&lt;]"
    assert "budget_range" in (rendered.html or "")
