"""Sources nested too deeply for Jinja's parser or Python's compiler are a RenderError."""

from __future__ import annotations

import pytest

from render import RenderError, check_template_source, render_inline

DEEP = {
    "parentheses": "{{ " + "(" * 150 + "1" + ")" * 150 + " }}",  # RecursionError in the parser
    "if blocks": "{% if x %}" * 101 + "{% endif %}" * 101,  # IndentationError in the compiler
    "lists": "{{ " + "[" * 1000 + "]" * 1000 + " }}",
    "sums": "{{ 1" + " + 1" * 20000 + " }}",
}


@pytest.mark.parametrize("shape", list(DEEP))
def test_too_deep_to_compile_is_a_syntax_error(shape: str) -> None:
    expected = "Syntax error in inline html: expressions or blocks are nested too deeply"
    with pytest.raises(RenderError, match=f"^{expected}$"):
        render_inline("s", DEEP[shape], None, {})
    with pytest.raises(RenderError, match="^Syntax error in template html: .* too deeply$"):
        check_template_source("s", DEEP[shape], None, ["x"])


def test_a_depth_templates_use_still_compiles() -> None:
    source = "{% if x %}" * 20 + "{{ " + "(" * 20 + "x" + ")" * 20 + " }}" + "{% endif %}" * 20
    assert render_inline("s", source, None, {"x": 1}).html == "1"
