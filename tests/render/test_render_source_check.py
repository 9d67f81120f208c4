"""check_template_source: what saving a template refuses, with the part and the line."""

from __future__ import annotations

import pytest

from render import RenderError, check_template_source


def test_valid_source_passes() -> None:
    check_template_source(
        "Hi {{ NAME }}",
        "{% for row in ROWS %}{{ loop.index }} {{ row }}{% endfor %}"
        "{% set total = ROWS|length %}{{ total }}{% for i in range(3) %}{{ i }}{% endfor %}"
        "{% macro cell(value) %}<td>{{ value }}</td>{% endmacro %}{{ cell(NAME) }}",
        None,
        ["NAME", "ROWS"],
    )


def test_syntax_error_names_part_and_line() -> None:
    with pytest.raises(RenderError) as caught:
        check_template_source("Hi", "<p>\n\n{{ NAME }</p>", None, ["NAME"])
    assert caught.value.message == "Syntax error in template html at line 3: unexpected '}'"


def test_syntax_error_in_subject_and_text() -> None:
    with pytest.raises(RenderError, match=r"^Syntax error in template subject at line 1: "):
        check_template_source("{% if %}", "", None, [])
    with pytest.raises(RenderError, match=r"^Syntax error in template text at line 2: "):
        check_template_source("s", "", "ok\n{% endfor %}", [])


def test_undeclared_variable_names_part_and_first_line() -> None:
    with pytest.raises(RenderError) as caught:
        check_template_source("Hi", "<p>\n{{ FOO }}\n{{ FOO }}{{ BAR }}</p>", None, ["NAME"])
    assert caught.value.message == "Variable `FOO` is used in html at line 2 but not declared"


def test_undeclared_variable_in_text_and_translation_label() -> None:
    with pytest.raises(RenderError) as caught:
        check_template_source("s", "", "{% if X %}\n{{ Y }}{% endif %}", ["X"], lang="es")
    assert caught.value.message == "Variable `Y` is used in text (es) at line 2 but not declared"


def test_loop_variables_and_sets_are_not_undeclared() -> None:
    check_template_source(
        "{% set who = 'you' %}{{ who }}",
        "{% for a, b in PAIRS %}{{ a }}{{ b }}{% endfor %}{% with x = 1 %}{{ x }}{% endwith %}",
        "{{ namespace(n=1).n }}{{ cycler('a', 'b').next() }}",
        ["PAIRS"],
    )


@pytest.mark.parametrize(
    ("source", "tag"),
    [
        ("{% include 'other' %}", "{% include %}"),
        ("{% extends 'base' %}", "{% extends %}"),
        ("{% import 'macros' as m %}", "{% import %}"),
        ("{% from 'macros' import row %}", "{% from ... import %}"),
    ],
)
def test_loading_other_templates_is_refused(source: str, tag: str) -> None:
    with pytest.raises(RenderError) as caught:
        check_template_source("s", f"<p>\n{source}</p>", None, [])
    assert caught.value.message == (
        f"{tag} is not available, in html at line 2: use a nested template variable instead"
    )
