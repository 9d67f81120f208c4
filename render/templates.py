"""The entry points: a stored template or inline content rendered, and variables checked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from render.budget import DEFAULT_LIMITS, RenderLimits, budget_scope
from render.errors import RenderError
from render.nested import nested_renderer, no_lookup
from render.parts import one_line, render_inline_part, render_stored, select_content
from render.resolve import declared_names, resolve, too_deep
from render.specs import Rendered, TemplateLookup, TemplateSpec
from render.values import ContextValue
from render.variables import (
    NestedRenderer,
    as_declared,
    check_content,
    check_declared,
    kind_of,
    to_context_value,
)

__all__ = [
    "check_variables",
    "one_line",
    "render_inline",
    "render_template",
    "resolve_variables",
    "select_content",
]


def render_template(
    spec: TemplateSpec,
    variables: Mapping[str, Any],
    *,
    lang: str | None,
    lookup: TemplateLookup,
    limits: RenderLimits = DEFAULT_LIMITS,
) -> Rendered:
    """Render a stored template in ``lang`` (or its master language) with ``variables``.

    The whole render, nested templates included, is bounded by ``limits``; going over them
    is a RenderError.
    """
    with budget_scope(limits):
        content_lang, content = select_content(spec, lang)
        context = resolve_variables(spec, variables, nested_renderer(lookup, lang))
        subject = render_stored(spec, content_lang, "subject", content.subject, context)
        html = render_stored(spec, content_lang, "html", content.html, context)
        text = None
        if content.text is not None:
            text = render_stored(spec, content_lang, "text", content.text, context)
    return Rendered(one_line(subject), html, text)


def render_inline(
    subject: str,
    html: str | None,
    text: str | None,
    variables: Mapping[str, Any],
    *,
    lookup: TemplateLookup | None = None,
    lang: str | None = None,
    limits: RenderLimits = DEFAULT_LIMITS,
) -> Rendered:
    """Render inline content of a send request; nothing is declared, so any variable goes.

    Nested template values need ``lookup`` (rendered in ``lang``, else their master language).
    The whole render is bounded by ``limits``, as for ``render_template``.
    """
    nested = nested_renderer(lookup, lang) if lookup is not None else no_lookup
    with budget_scope(limits):
        context: dict[str, ContextValue] = {}
        for name, value in variables.items():
            if value is not None:  # JSON null means "no value", as for templates
                context[name] = to_context_value(name, value, kind_of(name, value), nested)
        return Rendered(
            one_line(render_inline_part("subject", subject, context)),
            None if html is None else render_inline_part("html", html, context),
            None if text is None else render_inline_part("text", text, context),
        )


def resolve_variables(
    spec: TemplateSpec,
    given: Mapping[str, Any],
    nested: NestedRenderer,
    *,
    may_nest: bool = True,
) -> dict[str, ContextValue]:
    """Check ``given`` against the template's declarations and build the render context.

    A value that carries a format renders in it; a plain value takes the declared type's.
    """
    return resolve(spec, declared_names(spec), given, nested, may_nest)


def check_variables(
    spec: TemplateSpec,
    given: Mapping[str, Any],
    *,
    lookup: TemplateLookup,
    _nested: bool = False,
) -> None:
    """Check `given` against the declarations without rendering (for validating many sends).

    The same errors as `render_template` for names, required values, shapes, formatted
    content (a draft's document included) and nesting, nested templates' values included;
    what only rendering can reveal is left to the render.
    """
    declared = {variable.name: variable for variable in spec.variables}
    for name in given:
        if name not in declared:
            raise RenderError(f"Variable `{name}` not found in template `{spec.id}`")
    for variable in spec.variables:
        value = given.get(variable.name)
        if value is None:
            if variable.default is None and variable.required:
                raise RenderError(f"Variable `{variable.name}` is required by template `{spec.id}`")
            continue
        if variable.type == "template" and _nested:
            raise too_deep(variable.name, spec.id)
        value, kind = as_declared(variable.name, value, variable.type)
        check_declared(variable.name, value, kind, variable.type, spec.id)
        check_content(variable.name, value, kind)
        if variable.type == "template":
            for item in value if isinstance(value, list) else [value]:
                nested_id = str(item.get("templateId"))
                nested = lookup(nested_id)
                if nested is None:
                    raise RenderError(f"Template `{nested_id}` not found")
                variables = item.get("variables") or {}
                if isinstance(variables, Mapping):  # else the render says what is wrong
                    check_variables(nested, variables, lookup=lookup, _nested=True)
