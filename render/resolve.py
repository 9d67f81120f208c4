"""A template's declared variables checked against the given ones, and the context built."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from render.errors import RenderError
from render.specs import TemplateSpec
from render.values import ContextValue
from render.variables import NestedRenderer, as_declared, check_declared, to_context_value

# Exact types, not isinstance: bool is deliberately left to the general checks.
PLAIN_SCALARS = frozenset({str, int, float})
# The declared types whose plain values go into the context as they are (Jinja escapes
# them); html and draft give a plain value their format (see as_declared).
TAKE_SCALARS = frozenset({"text"})


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

    ``declared`` is ``declared_names(spec)``, which nested values reuse. A value that
    carries a format renders in it; a plain value given, or a default, takes the declared
    type's (a string of an ``html`` variable is markup, cleaned).
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
        if variable.type == "template" and not may_nest:
            raise too_deep(variable.name, spec.id)
        value, kind = as_declared(variable.name, value, variable.type)
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
