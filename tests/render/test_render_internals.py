"""The private parts of markupsafe and Jinja2 that render/ relies on are still there and do
what render/ assumes. setup.cfg pins both to the minor versions tested; an upgrade that fails
here must be checked against render/sandbox.py and render/bounds.py before the pin moves.
"""

from __future__ import annotations

import importlib.metadata
import inspect
from typing import cast

import jinja2
import jinja2.runtime
import markupsafe
import pytest
from jinja2 import nodes
from jinja2.compiler import CodeGenerator
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment, SandboxedFormatter, safe_range

from render import sandbox
from render.bounds import LOOP_FILTER, LoopCodeGenerator
from render.sandbox import HTML_ENV, PLAIN_ENV

CHECK = (
    "render/{module} relies on {what} of {package} {version}: check that module against the "
    "new version, then move the pin in setup.cfg"
)
TESTED = {"jinja2": "3.1.", "markupsafe": "3.0."}
SAMPLES = ["", "plain", "<a href=\"x\">'&'</a>", "é€😀\x00", "&amp;" * 50]


def _fail(module: str, what: str, package: str) -> str:
    version = importlib.metadata.version(package)
    return CHECK.format(module=module, what=what, package=package, version=version)


@pytest.mark.parametrize("package", list(TESTED))
def test_the_versions_are_the_minors_tested(package: str) -> None:
    version = importlib.metadata.version(package)
    assert version.startswith(TESTED[package]), _fail("sandbox.py", "internals", package)


def test_markupsafe_escape_inner_is_the_private_function_it_was() -> None:
    module = getattr(sandbox.escape_str, "__module__", "")
    assert module in ("markupsafe._speedups", "markupsafe._native"), _fail(
        "sandbox.py", "markupsafe._speedups/_native._escape_inner", "markupsafe"
    )
    for sample in SAMPLES:
        assert sandbox.escape_str(sample) == str(markupsafe.escape(sample)), _fail(
            "sandbox.py", "_escape_inner giving escape()'s characters", "markupsafe"
        )
    assert markupsafe.Markup("<").escape("<") == "&lt;", _fail(
        "bounds.py", "Markup.escape", "markupsafe"
    )


def test_jinja_escapes_with_markupsafe_escape() -> None:
    # SimpleTemplate renders {{ NAME }} as Jinja's generated code does: with this function.
    assert getattr(jinja2.runtime, "escape", None) is markupsafe.escape, _fail(
        "sandbox.py", "jinja2.runtime.escape being markupsafe.escape", "jinja2"
    )
    assert sandbox._renders_like_jinja(HTML_ENV) and sandbox._renders_like_jinja(PLAIN_ENV)


def test_templates_render_from_their_root_function_and_context_class() -> None:
    template = HTML_ENV.from_string("{% for x in xs %}{{ x }}{% endfor %}")
    for name in ("root_render_func", "blocks", "name"):
        assert hasattr(template, name), _fail("sandbox.py", f"Template.{name}", "jinja2")
    parameters = list(inspect.signature(Context.__init__).parameters)
    assert parameters[:5] == ["self", "environment", "parent", "name", "blocks"], _fail(
        "sandbox.py", "Context(environment, parent, name, blocks)", "jinja2"
    )
    assert (
        sandbox.render_compiled(sandbox.Compiled(template, None), {"xs": [1, 2]}, "Test", "html")
        == "12"
    )


def test_the_parse_simple_template_reads_is_the_one_it_knows() -> None:
    body = HTML_ENV.parse("a{{ B }}c").body
    assert [type(node) for node in body] == [nodes.Output], _fail(
        "sandbox.py", "the parse of literal text and names", "jinja2"
    )
    assert [type(node) for node in cast(nodes.Output, body[0]).nodes] == [
        nodes.TemplateData,
        nodes.Name,
        nodes.TemplateData,
    ]
    assert nodes.Filter.fields == ("node", "name", "args", "kwargs", "dyn_args", "dyn_kwargs"), (
        _fail("bounds.py", "the fields of nodes.Filter", "jinja2")
    )


def test_generated_code_goes_through_the_budget_hooks() -> None:
    # LoopCodeGenerator overrides CodeGenerator.visit_Template and visit_Concat; the code they
    # generate must still reach environment.concat, join_values and the loop filter.
    for name in ("visit_Template", "visit_Concat", "visit_For", "write"):
        assert callable(getattr(CodeGenerator, name, None)), _fail(
            "bounds.py", f"CodeGenerator.{name}", "jinja2"
        )
    source = "{% for x in xs %}{{ x ~ 'a' }}{% endfor %}{% macro m() %}b{% endmacro %}{{ m() }}"
    code = HTML_ENV.compile(source, raw=True)
    for needle in ("concat = environment.concat", "environment.join_values((", LOOP_FILTER):
        assert needle in code, _fail("bounds.py", f"generated code holding {needle!r}", "jinja2")
    assert HTML_ENV.code_generator_class is LoopCodeGenerator


def test_the_sandbox_hooks_are_still_called() -> None:
    # What the budget counts on: calls through call(), "+", "*", "**", "%" through
    # call_binop() (intercepted_binops), str.format through wrap_str_format() and a formatter
    # with format_field(), and range() replaced as a global.
    for name in ("call", "call_binop", "wrap_str_format", "intercepted_binops", "is_safe_callable"):
        assert hasattr(SandboxedEnvironment, name), _fail(
            "sandbox.py", f"SandboxedEnvironment.{name}", "jinja2"
        )
    for name in ("format_field", "vformat", "get_field"):
        assert hasattr(SandboxedFormatter, name), _fail(
            "bounds.py", f"SandboxedFormatter.{name}", "jinja2"
        )
    assert safe_range(3) == range(3)
    calls: list[str] = []

    class Counting(sandbox.MailSandbox):
        def call(self, context: Context, obj: object, /, *args: object, **kwargs: object) -> object:
            calls.append("call")
            return super().call(context, obj, *args, **kwargs)

        def call_binop(
            self, context: Context, operator_: str, left: object, right: object
        ) -> object:
            calls.append(operator_)
            return super().call_binop(context, operator_, left, right)

    env = Counting()
    env.filters = HTML_ENV.filters
    out = env.from_string("{{ 'a'.upper() }}{{ 1 + 1 }}{{ 'b' * 2 }}{{ 2 ** 2 }}{{ '%s' % 1 }}")
    assert out.render() == "A2bb41"
    assert calls == ["call", "+", "*", "**", "%"], _fail(
        "sandbox.py", "the sandbox's hooks", "jinja2"
    )
