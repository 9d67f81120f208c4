"""The templated-email RFC's four example requests, and templates to send them against.

The RFC's variables are ``FormattedVar = {format: "html" | "draft" | "text"; content: string}``
(a draft's content is the JSON text of a Draft.js raw state, as an editor's
``JSON.stringify(convertToRaw(state))`` gives it), a nested template, or an array of them.
``standardWithHtmlVar``'s ``VAR_1`` is the RFC's own; the RFC's text is not in the repository,
so the other three are built from its described shapes (a draft variable, the default of
every variable saved in GO; a nested template; an iterable array of nested templates).

Each example is sent to templates whose ``VAR_1`` is declared ``text``, ``draft``, without a
type, or not at all: the value's format decides how it renders, so the first three deliver the
same HTML, and the last is the contract's unknown-variable error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

# A Draft.js raw state as its JSON text: one paragraph, "test", in bold.
DRAFT_TEST = json.dumps(
    {
        "blocks": [
            {
                "key": "5s7g9",
                "text": "test",
                "type": "unstyled",
                "depth": 0,
                "inlineStyleRanges": [{"offset": 0, "length": 4, "style": "BOLD"}],
                "entityRanges": [],
                "data": {},
            }
        ],
        "entityMap": {},
    }
)

# How VAR_1 is declared: by type, without a type (text, the default), or not at all.
DECLARATIONS: dict[str, list[dict[str, Any]]] = {
    "text": [{"name": "VAR_1", "type": "text"}],
    "draft": [{"name": "VAR_1", "type": "draft"}],
    "untyped": [{"name": "VAR_1"}],
    "undeclared": [],
}


def templates(declared: str, suffix: str = "") -> dict[str, dict[str, Any]]:
    """The bodies of the three templates the examples need, VAR_1 declared as ``declared``.

    ``main`` prints VAR_1; ``nested`` is the template a nested value names (its VAR_1 declared
    the same way); ``parent`` holds the nested value (a variable of type template keeps that
    shape whatever else is declared).
    """
    variables = DECLARATIONS[declared]
    shown = "{{ VAR_1 }}" if variables else "static"
    return {
        "main": {
            "name": f"rfc-{declared}{suffix}",
            "subject": "RFC example",
            "html": f"<div>{shown}</div>",
            "variables": variables,
        },
        "nested": {
            "name": f"rfc-nested-{declared}{suffix}",
            "subject": "-",
            "html": f'<div class="row">{shown}</div>',
            "variables": variables,
        },
        "parent": {
            "name": f"rfc-parent-{declared}{suffix}",
            "subject": "RFC example",
            "html": "<section>{{ VAR_1 }}</section>",
            "variables": [{"name": "VAR_1", "type": "template"}],
        },
    }


def standard(template_id: str) -> dict[str, Any]:
    """The standard request: a draft variable, GO's default format."""
    return {
        "templateId": template_id,
        "from": "sender@example.com",
        "to": "receiver@example.com",
        "variables": {"VAR_1": {"format": "draft", "content": DRAFT_TEST}},
    }


def standard_with_html_var(template_id: str) -> dict[str, Any]:
    """``standardWithHtmlVar``, as the RFC writes it."""
    return {
        "templateId": template_id,
        "from": "sender@example.com",
        "to": "receiver@example.com",
        "variables": {"VAR_1": {"format": "html", "content": "<b>test</b>"}},
    }


def standard_with_nested_template(template_id: str, nested_id: str) -> dict[str, Any]:
    """A nested template whose own VAR_1 is text."""
    return {
        "templateId": template_id,
        "from": "sender@example.com",
        "to": "receiver@example.com",
        "variables": {
            "VAR_1": {
                "templateId": nested_id,
                "variables": {"VAR_1": {"format": "text", "content": "<b>test</b>"}},
            }
        },
    }


def standard_with_iterable_nested_template(template_id: str, nested_id: str) -> dict[str, Any]:
    """An array of nested templates, each with a formatted VAR_1 of its own."""
    return {
        "templateId": template_id,
        "from": "sender@example.com",
        "to": "receiver@example.com",
        "variables": {
            "VAR_1": [
                {
                    "templateId": nested_id,
                    "variables": {"VAR_1": {"format": "html", "content": "<b>test</b>"}},
                },
                {
                    "templateId": nested_id,
                    "variables": {"VAR_1": {"format": "draft", "content": DRAFT_TEST}},
                },
            ]
        },
    }


# Each example's name, how it is built from the ids of (main, nested, parent), which template
# it names, and the HTML body it renders to whatever VAR_1 is declared as.
Example = tuple[Callable[[dict[str, str]], dict[str, Any]], str, str]
EXAMPLES: dict[str, Example] = {
    "standard": (
        lambda ids: standard(ids["main"]),
        "main",
        "<div><p><strong>test</strong></p></div>",
    ),
    "standardWithHtmlVar": (
        lambda ids: standard_with_html_var(ids["main"]),
        "main",
        "<div><b>test</b></div>",
    ),
    "standardWithNestedTemplate": (
        lambda ids: standard_with_nested_template(ids["parent"], ids["nested"]),
        "nested",
        '<section><div class="row">&lt;b&gt;test&lt;/b&gt;</div></section>',
    ),
    "standardWithIterableNestedTemplate": (
        lambda ids: standard_with_iterable_nested_template(ids["parent"], ids["nested"]),
        "nested",
        '<section><div class="row"><b>test</b></div>'
        '<div class="row"><p><strong>test</strong></p></div></section>',
    ),
}


def undeclared_error(example: str, ids: dict[str, str]) -> str:
    """The contract's error for ``example`` sent where VAR_1 is not declared."""
    _, where, _ = EXAMPLES[example]
    return f"Variable `VAR_1` not found in template `{ids[where]}`"
