"""The direct path of nested templates (plain values, SimpleTemplate HTML, no memo): always the
general path's output.

Each case renders one nested value twice, through ``_NestedTemplate.render_direct`` and through
``_NestedTemplate.render`` (every check, as before the direct path existed), and compares the
HTML, the text, the context built and any error. Whole emails are compared with the direct
path switched off.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from render import (
    Rendered,
    RenderError,
    TemplateContent,
    TemplateSpec,
    VariableSpec,
    cache_info,
    clear_caches,
    render_inline,
    render_template,
)
from render.nested import (
    NESTED_MEMO,
    _DirectValue,
    _memo_key,
    _NestedTemplate,
    _NestedValue,
    _TextPart,
)
from render.specs import VariableType
from render.values import RichList, RichValue

CASES = settings(
    max_examples=600,
    deadline=None,
    database=None,  # nothing written into the working tree
    derandomize=True,  # the same cases on every run, so CI cannot fail by luck
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

NAMES = ["A", "B", "C", "D"]
TEXT = st.text(alphabet=st.sampled_from("<>&\"' ab\n\u00e9{}%"), max_size=8)
# What a JSON body gives, and the Python values a caller may pass besides.
PLAIN = st.one_of(
    TEXT,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.sampled_from([-0.0, 0.0, 1e16, float("nan"), float("inf")]),
)
VALUES = st.one_of(
    PLAIN,
    st.booleans(),
    st.none(),
    st.just(10**5000),  # str() of it raises: an error of the render itself
    st.builds(lambda content: {"format": "html", "content": content}, TEXT),
    st.builds(lambda content: {"format": "text", "content": content}, PLAIN),
    st.just({"format": "html"}),
    st.just([1]),
)
DEFAULTS = st.one_of(
    st.none(), st.none(), PLAIN, st.booleans(), TEXT.map(lambda text: f"<b>{text}</b>"),
    st.just([1]),
)  # fmt: skip
SCALAR_TYPES: list[VariableType] = ["text", "html"]
TYPES: list[VariableType] = SCALAR_TYPES * 5 + ["draft", "template"]


@st.composite
def part_sources(draw: st.DrawFn, names: list[str]) -> str:
    """Literal text and names (declared or not); sometimes more than a SimpleTemplate."""
    pieces = [draw(st.sampled_from(["", "<li>", "a & b ", "\n"]))]
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(names * 4 + ["Z"]))
        forms = [f"{{{{ {name} }}}}", f"{{{{- {name} }}}} ", "</li>", " "]
        if draw(st.integers(0, 9)) == 0:  # now and then a template only Jinja renders
            forms = [f"{{{{ {name}|upper }}}}", f"{{% if {name} %}}y{{% endif %}}"]
        pieces.append(draw(st.sampled_from(forms)))
    return "".join(pieces)


@st.composite
def nested_cases(draw: st.DrawFn, plain: bool = False) -> tuple[TemplateSpec, dict[str, Any]]:
    """A nested template of 0 to 4 variables and a value for it; ``plain``: text and html
    variables given plain values only, which the direct path takes unless a name or a
    default is left to the general path."""
    declared = draw(st.lists(st.sampled_from(NAMES), max_size=4, unique=True))
    variables = tuple(
        VariableSpec(
            name,
            draw(st.sampled_from(SCALAR_TYPES if plain else TYPES)),
            required=draw(st.sampled_from([False, False, True])),
            default=draw(DEFAULTS),
        )
        for name in declared
    )
    html = draw(part_sources(declared))
    text = draw(st.none() | part_sources(declared))
    spec = TemplateSpec("row", 1, "en", "s", html, text, variables)
    given_names = draw(st.lists(st.sampled_from(declared * 5 + ["Z"]), max_size=5, unique=True))
    values = PLAIN if plain else st.one_of(PLAIN, PLAIN, PLAIN, VALUES)
    return spec, {name: draw(values) for name in given_names}


Outcome = tuple[str, Any]


def _outcome(render: Callable[[], RichValue | None]) -> Outcome:
    """What a render gives: its HTML, text and context (with types), or its error."""
    try:
        value = render()
    except RenderError as err:
        return ("error", err.message)
    if value is None:
        return ("general", None)
    try:
        text: Outcome = ("ok", str(value))
    except RenderError as err:
        text = ("error", err.message)
    if isinstance(value, _DirectValue):
        context: dict[str, Any] | None = value.context()
    else:
        context = getattr(value, "_context", None)
    context_items = None if context is None else [(k, _typed(v)) for k, v in context.items()]
    # A direct value with a text part is a _DirectValue (its context made when asked for),
    # a value of the general path a _NestedValue: the same to a template.
    value_type = _NestedValue if type(value) is _DirectValue else type(value)
    return ("ok", (value_type, value.__html__(), text, context_items))


def _typed(value: Any) -> tuple[type, object]:
    # 1, 1.0 and True are equal, and nan is not equal to itself: compare types, and floats by
    # their repr (an int of 5,000 digits has none); markup (an html variable's) by itself.
    if isinstance(value, RichValue):
        return (type(value), value.__html__())
    return (type(value), repr(value) if type(value) is float else value)


def _warm(spec: TemplateSpec) -> _NestedTemplate:
    """A _NestedTemplate that has rendered once (a string for each declared variable), so
    its next direct renders take its _DirectForm, if the HTML part gave it one."""
    template = _NestedTemplate(spec, None)
    try:
        template.render_direct({variable.name: "w" for variable in spec.variables})
    except RenderError:
        pass  # a syntax error in the HTML part: no form
    return template


def assert_direct_is_general(spec: TemplateSpec, variables: dict[str, Any]) -> str:
    """render_direct gives render's outcome, or leaves the value to it, on a template's first
    render (through ``render``) and on a later one (its _DirectForm); return which did."""
    general = _outcome(lambda: _NestedTemplate(spec, None).render(variables))
    first = _outcome(lambda: _NestedTemplate(spec, None).render_direct(variables))
    warm = _warm(spec)
    later = _outcome(lambda: warm.render_direct(variables))
    for direct in (first, later):
        if direct[0] != "general":
            assert direct == general, (spec, variables, warm.form is not None)
    if later[0] != "general" and warm.form is not None:
        return "direct, by the form too"
    return "direct" if first[0] != "general" or later[0] != "general" else "general path"


@CASES
@given(case=nested_cases())
def test_direct_path_renders_exactly_as_the_general_path(
    case: tuple[TemplateSpec, dict[str, Any]],
) -> None:
    spec, variables = case
    event(assert_direct_is_general(spec, variables))


@CASES
@given(case=nested_cases(plain=True))
def test_direct_path_renders_plain_values_exactly_as_the_general_path(
    case: tuple[TemplateSpec, dict[str, Any]],
) -> None:
    spec, variables = case
    event(assert_direct_is_general(spec, variables))


def _row(**variables: VariableSpec) -> TemplateSpec:
    return TemplateSpec(
        "row", 1, "en", "s",
        '<tr><td>{{ NAME }}</td><td>{{ QTY }}</td><td>{{ PRICE }} {{ CURRENCY }}</td></tr>',
        "{{ NAME }} x{{ QTY }}: {{ PRICE }} {{ CURRENCY }}",
        tuple(variables.values()),
    )  # fmt: skip


ROW = _row(
    NAME=VariableSpec("NAME", "text", required=True),
    QTY=VariableSpec("QTY", "text", default=1),
    PRICE=VariableSpec("PRICE", "html", required=True),
    CURRENCY=VariableSpec("CURRENCY", "text", default="EUR"),
)


def _edge_values() -> Iterator[Any]:
    yield from ["", "<&>'\"", "{{ A }}", "é€😀", 0, -1, 2**70, 10**5000, True, False, None]
    yield from [0.0, -0.0, 1.5, 1e16, float("nan"), float("inf")]
    yield from [{"format": "html", "content": "<b onclick=x>b</b>"}, {"format": "text"}]


@pytest.mark.parametrize("name", ["NAME", "QTY", "PRICE", "CURRENCY"])
def test_edge_values_in_each_slot(name: str) -> None:
    base = {"NAME": "n", "QTY": 2, "PRICE": "1.00"}
    for value in _edge_values():
        assert_direct_is_general(ROW, {**base, name: value})
    without = {key: value for key, value in base.items() if key != name}
    assert_direct_is_general(ROW, without)  # a default, nothing, or "required"
    assert_direct_is_general(ROW, {**base, "OTHER": "x"})  # not declared


def test_plain_values_take_the_direct_path_and_others_do_not() -> None:
    template = _NestedTemplate(ROW, None)
    value = template.render_direct({"NAME": "<n>", "QTY": 2, "PRICE": 1.5})
    assert isinstance(value, _NestedValue)
    assert value.__html__() == "<tr><td>&lt;n&gt;</td><td>2</td><td>1.5 EUR</td></tr>"
    assert str(value) == "<n> x2: 1.5 EUR"
    others: list[dict[str, Any]] = [
        {"NAME": "n", "PRICE": True},  # bool: the general path (same output, checked above)
        {"NAME": "n", "PRICE": None},  # a required variable given as null
        {"NAME": "n"},  # a required variable missing
        {"NAME": "n", "PRICE": {"format": "html", "content": "<b>1</b>"}},
        {"NAME": "n", "PRICE": "1", "EXTRA": "x"},
    ]
    for variables in others:
        assert template.render_direct(variables) is None
    # A mapping that is not a dict takes it too.
    value = template.render_direct(MappingProxyType({"NAME": "n", "PRICE": "1"}))
    assert value is not None
    assert value.__html__() == "<tr><td>n</td><td>1</td><td>1 EUR</td></tr>"


def test_templates_the_direct_path_does_not_take() -> None:
    jinja = TemplateSpec("j", 1, "en", "s", "<li>{{ A|upper }}</li>", None,
                         (VariableSpec("A", "text"),))  # fmt: skip
    template = _NestedTemplate(jinja, None)
    assert template.render_direct({"A": "x"}) is None  # a Jinja render: left to the memo
    assert template.direct is None  # decided once for the render
    assert template.html is not None  # compiled once, for the general path too
    for variable in (VariableSpec("A", "draft"), VariableSpec("A", "template")):
        spec = TemplateSpec("t", 1, "en", "s", "<li>{{ A }}</li>", None, (variable,))
        assert _NestedTemplate(spec, None).direct is None
    literal = TemplateSpec("l", 1, "en", "s", "<hr>", None, (VariableSpec("A", "text"),))
    value = _NestedTemplate(literal, None).render_direct({"A": 1})
    assert value is not None and value.__html__() == "<hr>"
    assert str(value) == str(_NestedTemplate(literal, None).render({"A": 1}))


def test_errors_come_in_the_general_order() -> None:
    # Variables are checked before the HTML part is compiled, on either path.
    broken = TemplateSpec("b", 1, "en", "s", "<li>{{ A }", None, (VariableSpec("A", "text"),))
    with pytest.raises(RenderError, match="Syntax error in template `b` html"):
        _NestedTemplate(broken, None).render_direct({"A": "x"})
    with pytest.raises(RenderError, match="Variable `Z` not found in template `b`"):
        _NestedTemplate(broken, None).render({"Z": "x"})
    assert _NestedTemplate(broken, None).render_direct({"Z": "x"}) is None
    huge = _NestedTemplate(ROW, None)
    with pytest.raises(RenderError, match=r"could not be rendered \(html\): Exceeds the limit"):
        huge.render_direct({"NAME": "n", "PRICE": 10**5000})


def _order(text: str | None = None) -> TemplateSpec:
    return TemplateSpec(
        "order", 1, "en", "Order {{ N }}",
        "<table>{% for row in ITEMS %}{{ row }}{% endfor %}</table>{{ ITEMS|length }}", text,
        (VariableSpec("N", "text"), VariableSpec("ITEMS", "template")),
        {"es": TemplateContent("Pedido", "<table>{{ ITEMS }}</table>", "{{ ITEMS }}")},
    )  # fmt: skip


NOTE = TemplateSpec(
    "note", 1, "en", "s",
    '<tr><td>{% if URGENT %}<b>{{ NOTE }}</b>{% else %}{{ NOTE }}{% endif %}</td></tr>', None,
    (VariableSpec("NOTE", "html", required=True), VariableSpec("URGENT", "text")),
)  # fmt: skip
ROW_ES = TemplateSpec(
    "row", 1, "en", "s", "<tr>{{ NAME }}</tr>", "{{ NAME }}",
    (VariableSpec("NAME", "text"), VariableSpec("QTY", "text", default=1)),
    {"es": TemplateContent("s", "<tr>{{ NAME }} x{{ QTY }}</tr>", "{{ NAME }} x{{ QTY }}")},
)  # fmt: skip


def _random_items(rng: random.Random, count: int) -> list[dict[str, Any]]:
    values = list(_edge_values())
    items: list[dict[str, Any]] = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.7:
            row = {"NAME": rng.choice(values[:4] + [rng.random()]), "PRICE": rng.choice(values)}
            if rng.random() < 0.5:
                row["QTY"] = rng.choice([1, 2, 2.5, "x", None, True])
            items.append({"templateId": "row", "variables": row})
        elif kind < 0.9:
            note = {"format": "html", "content": f"<em>n{rng.randint(0, 3)}</em>"}
            items.append({"templateId": "note", "variables": {"NOTE": note}})
        else:
            items.append({"templateId": "row-es", "variables": {"NAME": rng.choice(values[:4])}})
    return items


def _render_all(payloads: list[dict[str, Any]], text: str | None) -> list[Any]:
    specs = {"row": ROW, "note": NOTE, "row-es": ROW_ES}
    outcomes: list[Any] = []
    for payload in payloads:
        for lang in (None, "es"):
            try:
                rendered: Rendered | str = render_template(
                    _order(text), payload, lang=lang, lookup=specs.get
                )
            except RenderError as err:
                rendered = err.message
            outcomes.append(rendered)
    return outcomes


@pytest.mark.parametrize("text", [None, "{{ N }}:\n{{ ITEMS }}"])
def test_whole_emails_are_the_same_without_the_direct_path(
    text: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(20241123)
    payloads = [
        {"N": rng.randint(0, 9), "ITEMS": _random_items(rng, rng.randint(0, 12))}
        for _ in range(150)
    ]
    # Twice each: the second pass hits the memos the first one filled.
    direct = _render_all(payloads + payloads, text)
    assert cache_info()["nested"].hits > 0
    clear_caches()
    monkeypatch.setattr(_NestedTemplate, "render_direct", lambda self, variables: None)
    general = _render_all(payloads + payloads, text)
    assert direct == general
    assert sum(isinstance(outcome, Rendered) for outcome in direct) > 200  # not all errors


def test_direct_values_are_not_memoised() -> None:
    items = [{"templateId": "row", "variables": {"NAME": "a", "PRICE": 1}}] * 3
    items += [{"templateId": "note", "variables": {"NOTE": {"format": "html", "content": "n"}}}]
    lookup = {"row": ROW, "note": NOTE}.get
    for _ in range(2):
        rendered = render_template(_order(), {"ITEMS": items}, lang=None, lookup=lookup)
        assert rendered.html is not None and rendered.html.count("<td>a</td>") == 3
    memo = cache_info()["nested"]
    assert (memo.hits, memo.misses, memo.size) == (1, 1, 1)  # the note only


def test_memoised_values_keep_no_compiled_template() -> None:
    # The memo's bound counts values; what each keeps must not grow with compiled templates.
    note = TemplateSpec("note", 1, "en", "s", "<i>{{ A|upper }}</i>", "{{ A|lower }}",
                        (VariableSpec("A", "text"),))  # fmt: skip
    render_template(
        _order("{{ ITEMS }}"), {"ITEMS": [{"templateId": "note", "variables": {"A": "Ab"}}]},
        lang=None, lookup={"note": note}.get,
    )  # fmt: skip
    value = NESTED_MEMO.get(_memo_key(note, None, {"A": "Ab"}))
    assert isinstance(value, _NestedValue)
    assert str(value) == "ab" and value.__html__() == "<i>AB</i>"
    assert isinstance(value._text_part, _TextPart)
    assert not any(hasattr(value._text_part, name) for name in ("html", "template"))


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([{"templateId": 7}], "Variable `V` needs a string `templateId` and an object"),
        ([{"templateId": "row", "variables": [1]}], "Variable `V` needs a string `templateId`"),
        ([{"templateId": "nope"}], "Template `nope` not found"),
        (
            [{"templateId": "row", "variables": {"NAME": "a", "PRICE": 1}}, ["x"]],
            "Variable `V` holds an array inside",
        ),
    ],
)
def test_array_items_are_checked_as_single_values(items: list[Any], message: str) -> None:
    with pytest.raises(RenderError) as caught:
        render_inline("s", "{{ V }}", None, {"V": items}, lookup={"row": ROW}.get)
    assert caught.value.message.startswith(message)


def test_array_items_with_mapping_variables_and_no_variables() -> None:
    items = [
        {"templateId": "row", "variables": MappingProxyType({"NAME": "m", "PRICE": "1"})},
        {"templateId": "row-es"},
        {"templateId": "row-es", "variables": None},
    ]
    rendered = render_inline(
        "s", "{{ V }}", "{{ V }}", {"V": items}, lookup={"row": ROW, "row-es": ROW_ES}.get
    )
    assert rendered.html == "<tr><td>m</td><td>1</td><td>1 EUR</td></tr><tr></tr><tr></tr>"
    assert rendered.text == "m x1: 1 EUR\n\n"


def test_direct_form_fills_repeated_names_and_skips_unprinted_ones() -> None:
    spec = TemplateSpec(
        "rep", 1, "en", "s", "{{ A }}|{{ B }} {x} }|{{ A }}{{ B }}", "{{ C }}",
        (VariableSpec("A", "text", required=True), VariableSpec("B", "text", default=2.5),
         VariableSpec("C", "html", default=None)),
    )  # fmt: skip
    template = _warm(spec)
    assert template.form is not None and template.form.copies  # A and B printed twice
    cases: list[dict[str, Any]] = [
        {"A": "<a>"},
        {"A": 1, "B": "&", "C": "c"},
        {"A": -0.0, "B": None},
        {"A": "a", "C": 10**5000},  # not printed in the HTML: str() of it fails in the text
        {"A": "a", "B": True},
        {"A": None},
    ]
    for variables in cases:
        assert_direct_is_general(spec, variables)
    value = template.render_direct({"A": "<a>"})
    assert value is not None
    assert value.__html__() == "&lt;a&gt;|2.5 {x} }|&lt;a&gt;2.5"
    assert str(value) == ""  # C left out: Undefined


def test_direct_form_leaves_an_int_past_the_digit_limit_to_the_general_path() -> None:
    template = _warm(ROW)
    assert template.form is not None
    assert template.render_direct({"NAME": "n", "PRICE": 10**5000}) is None
    with pytest.raises(RenderError, match=r"could not be rendered \(html\): Exceeds the limit"):
        template.render({"NAME": "n", "PRICE": 10**5000})
    # A variable checked after the one that fails is still checked first, as in the general
    # path (which reports the value of the wrong type, not the conversion).
    assert template.render_direct({"NAME": 10**5000, "PRICE": [1]}) is None
    with pytest.raises(RenderError, match="Variable `PRICE` of template `row` has type"):
        template.render({"NAME": 10**5000, "PRICE": [1]})


def test_direct_values_make_their_context_when_a_plain_part_prints_them() -> None:
    template = _warm(ROW)
    variables = {"NAME": "<n>", "PRICE": 1.5}
    value = template.render_direct(variables)
    assert isinstance(value, _DirectValue)
    assert value._text is None  # nothing rendered for the text part yet
    general = template.render(variables)
    assert isinstance(general, _NestedValue)
    assert list(value.context().items()) == list(general._context.items())
    assert str(value) == str(general) == "<n> x1: 1.5 EUR"
    no_text = TemplateSpec("nt", 1, "en", "s", "<b>{{ A }}</b>", None,
                           (VariableSpec("A", "text"),))  # fmt: skip
    plain = _warm(no_text).render_direct({"A": "a"})
    assert type(plain) is RichValue and plain.__html__() == "<b>a</b>"


def test_rich_values_keep_their_markup_where_rich_list_reads_it() -> None:
    # RichList joins its items' ``_html`` without calling __html__: no subclass overrides it.
    for cls in (RichList, _NestedValue, _DirectValue):
        assert cls.__html__ is RichValue.__html__
    items = RichList([RichValue("<b>x</b>"), "<", 3])
    assert items.__html__() == "<b>x</b>&lt;3"


def test_memoised_nested_values_leave_the_cleaning_memo_alone(
    make_template: Callable[..., TemplateSpec],
) -> None:
    draft = {"format": "draft", "content": {"blocks": [], "entityMap": {}}}
    mixed = TemplateSpec("mixed", 1, "en", "s", "{{ D }}<i>{{ NOTE }}</i>", None,
                         (VariableSpec("D", "draft"), VariableSpec("NOTE", "html")))  # fmt: skip
    parent = make_template(
        html="{{ TOP }}{{ ITEMS }}", variables={"TOP": "html", "ITEMS": "template"}
    )
    lookup = {"note": NOTE, "mixed": mixed}.get
    note = {"format": "html", "content": "<em onclick=x>n</em>"}
    payload = {
        "TOP": note,
        "ITEMS": [
            {"templateId": "note", "variables": {"NOTE": note}},  # memoised: no cleaning memo
            {"templateId": "mixed", "variables": {"D": draft, "NOTE": note}},  # not memoised
        ],
    }
    for _ in range(2):
        rendered = render_template(parent, payload, lang=None, lookup=lookup)
        assert rendered.html == "<em>n</em><tr><td><em>n</em></td></tr><i><em>n</em></i>"
    html_memo, nested_memo = cache_info()["html"], cache_info()["nested"]
    # TOP and the mixed value's NOTE, twice each: one miss, three hits; the note's value
    # comes from the nested memo the second time.
    assert (html_memo.misses, html_memo.hits) == (1, 3)
    assert (nested_memo.misses, nested_memo.hits) == (1, 1)


def test_a_variable_left_out_prints_nothing_on_the_form_unless_a_global_has_its_name() -> None:
    spec = TemplateSpec("o", 1, "en", "s", "<b>{{ A }}|{{ range }}</b>", None,
                        (VariableSpec("A", "text"), VariableSpec("range", "text")))  # fmt: skip
    template = _warm(spec)
    assert template.form is not None
    value = template.render_direct({"range": "r"})  # A left out: "" on the form
    assert value is not None and value.__html__() == "<b>|r</b>"
    assert template.render_direct({"A": "a"}) is None  # Jinja would print the global range
    assert_direct_is_general(spec, {"A": "a"})
