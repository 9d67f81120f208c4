"""A template's declared variables checked against the given ones, and the context built."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from render.errors import RenderError
from render.specs import TemplateSpec
from render.values import ContextValue
from render.variables import NestedRenderer, check_declared, kind_of, to_context_value

# Exact types, not isinstance: bool is deliberately left to the general checks.
PLAIN_SCALARS = frozenset({str, int, float})
TAKE_SCALARS = frozenset({"text", "html"})


def declared_names(spec: TemplateSpec) -> frozenset[str]:
    """The names of the variables ``spec`` declares."""
    return frozenset(variable.name for variable in spec.variables)


def resolve(
    spec: TemplateSpec,
    declared: frozenset[str],
    given: Mapping[str, Any],
    nested: NestedRenderer,
    may_nest: bool,
    clean_memo: bool = True,
) -> dict[str, ContextValue]:
    """Check ``given`` against the template's declarations and build the render context.

    ``declared`` is ``declared_names(spec)``, which nested values reuse. A string default of
    an ``html`` variable is markup, since the template's author wrote it (it is still
    cleaned); a string *given* for one is text.
    """
    for name in given:
        if name not in declared:
            raise RenderError(f"Variable `{name}` not found in template `{spec.id}`")
    context: dict[str, ContextValue] = {}
    for variable in spec.variables:
        value: Any = given.get(variable.name)
        if type(value) in PLAIN_SCALARS and variable.type in TAKE_SCALARS:
            context[variable.name] = value  # the common case, without the general checks
            continue
        if value is None:
            value = variable.default
            if value is None:
                if variable.required:
                    raise RenderError(
                        f"Variable `{variable.name}` is required by template `{spec.id}`"
                    )
                continue  # optional and absent: Jinja's Undefined prints nothing
            if type(value) in PLAIN_SCALARS and variable.type == "text":
                context[variable.name] = value  # a plain default ("EUR"): what the checks give
                continue
            if variable.type == "html" and isinstance(value, str):
                value = {"format": "html", "content": value}
        if variable.type == "template" and not may_nest:
            raise too_deep(variable.name, spec.id)
        kind = kind_of(variable.name, value)
        check_declared(variable.name, value, kind, variable.type, spec.id)
        context[variable.name] = to_context_value(
            variable.name, value, kind, nested, clean_memo=clean_memo
        )
    return context


def too_deep(name: str, template_id: str) -> RenderError:
    """The error for a template value inside a nested template."""
    return RenderError(
        f"Variable `{name}` of nested template `{template_id}` holds a template: "
        "templates nest one level only"
    )
