"""Checks a template's sources before they are saved: syntax, and every variable declared."""

from __future__ import annotations

from collections.abc import Iterable

from jinja2 import TemplateSyntaxError, meta, nodes

from render.errors import RenderError
from render.sandbox import (
    TOO_DEEP_TO_COMPILE,
    environment_for,
    syntax_error_message,
    too_deep_message,
)

_TAG_OF: dict[type[nodes.Node], str] = {
    nodes.Include: "{% include %}",
    nodes.Extends: "{% extends %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from ... import %}",
}
_LOADING_NODES = tuple(_TAG_OF)


def check_template_source(
    subject: str,
    html: str,
    text: str | None,
    declared: Iterable[str],
    *,
    lang: str | None = None,
) -> None:
    """Raise a RenderError naming the part and line of a syntax error or undeclared variable.

    ``lang`` only labels the part in messages ("html (es)") when a translation is checked.
    """
    names = frozenset(declared)
    for part, source in (("subject", subject), ("html", html), ("text", text)):
        if source is not None:
            _check_part(part if lang is None else f"{part} ({lang})", part, source, names)


def _check_part(label: str, part: str, source: str, declared: frozenset[str]) -> None:
    env = environment_for(part)
    try:
        ast = env.parse(source)
        env.compile(ast)  # a few errors only show when compiling, not when parsing
    except TemplateSyntaxError as err:
        raise RenderError(syntax_error_message(f"template {label}", err)) from err
    except TOO_DEEP_TO_COMPILE as err:
        raise RenderError(too_deep_message(f"template {label}")) from err
    # There is no loader: another template can only come in as a nested template value.
    for node in ast.find_all(_LOADING_NODES):
        raise RenderError(
            f"{_TAG_OF[type(node)]} is not available, in {label} at line {node.lineno}: "
            "use a nested template variable instead"
        )
    # Names the template reads but never sets itself (loop variables and {% set %} excluded),
    # less the sandbox's globals such as range().
    unknown = meta.find_undeclared_variables(ast) - declared - env.globals.keys()
    if unknown:
        name, line = min(_first_uses(ast, unknown), key=lambda use: (use[1], use[0]))
        raise RenderError(f"Variable `{name}` is used in {label} at line {line} but not declared")


def _first_uses(ast: nodes.Template, names: frozenset[str] | set[str]) -> list[tuple[str, int]]:
    """Return each name with the first line where the template loads it."""
    first: dict[str, int] = {}
    for node in ast.find_all(nodes.Name):
        if node.ctx == "load" and node.name in names:
            first[node.name] = min(first.get(node.name, node.lineno), node.lineno)
    return list(first.items())
