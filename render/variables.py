"""Request values (JSON data) turned into what a template sees, checked against declared types.

Values are data and never templates: nothing here compiles or evaluates them, so "{{ 7*7 }}"
inside a value is printed as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from render.draft import DraftError, check_document, draft_to_html
from render.errors import RenderError
from render.html_clean import clean_html
from render.specs import VariableType
from render.values import ContextValue, RichList, RichValue, Scalar

# Renders a nested template value: (variable name, template id, its variables) -> its HTML.
NestedRenderer = Callable[[str, str, Mapping[str, Any]], RichValue]

Kind = Literal["scalar", "text", "html", "draft", "template", "array"]

# Which value shapes each declared type takes. The value's format decides how it renders: a
# variable declared text, html or draft takes any FormattedVar (the RFC's standardWithHtmlVar
# sends {"format": "html"} whatever the template says), and its declared type is only the
# format of plain values (see as_declared). A template variable keeps its shape.
_FORMATTED: frozenset[Kind] = frozenset({"scalar", "text", "html", "draft"})
ACCEPTS: Mapping[VariableType, frozenset[Kind]] = {
    "text": _FORMATTED,
    "html": _FORMATTED,
    "draft": _FORMATTED,
    "template": frozenset({"template", "array"}),
}

_FORMATTED_EXPECTED = 'a string, a number or {"format": "text"|"html"|"draft", "content": "..."}'
_EXPECTED: Mapping[VariableType, str] = {
    "text": _FORMATTED_EXPECTED,
    "html": _FORMATTED_EXPECTED,
    "draft": _FORMATTED_EXPECTED,
    "template": '{"templateId": ..., "variables": {...}} or an array of them',
}

_FORMAT_KEYS = frozenset({"format", "content"})
_TEMPLATE_KEYS = frozenset({"templateId", "variables"})


def kind_of(name: str, value: object) -> Kind:
    """Classify a JSON value by shape; anything unrecognised is a RenderError."""
    # Tuples of types, not unions: isinstance takes them without a detour through the union.
    if isinstance(value, (str, int, float)):  # bool is an int: JSON true/false are scalars
        return "scalar"
    if isinstance(value, (list, tuple)):
        return "array"
    # type() first: JSON gives plain dicts, and the ABC check of Mapping is slow for the
    # hundreds of nested values an email can hold.
    if type(value) is dict or isinstance(value, Mapping):
        if "templateId" in value and value.keys() <= _TEMPLATE_KEYS:
            return "template"
        if "format" in value and value.keys() <= _FORMAT_KEYS:
            fmt = value["format"]
            if fmt in ("text", "html", "draft"):
                if "content" not in value:
                    raise RenderError(f"Variable `{name}` has a format but no content")
                return fmt  # type: ignore[no-any-return]
            raise RenderError(
                f"Variable `{name}` has an unknown format `{fmt}` (use text, html or draft)"
            )
    raise RenderError(f"Variable `{name}` has a value of an unsupported shape")


def as_declared(name: str, value: Any, declared: VariableType) -> tuple[Any, Kind]:
    """Classify ``value`` for a variable declared ``declared``, giving a plain value the
    declared format: a string of an html variable is markup (cleaned), a plain value of a
    draft variable the JSON text of a Draft.js raw state; a text variable takes it as it is.

    Numbers and booleans of an html variable stay what they are: they print the same either
    way, and ``{% if COUNT %}`` keeps meaning the number.
    """
    kind = kind_of(name, value)
    if kind == "scalar" and (declared == "draft" or declared == "html" and isinstance(value, str)):
        return {"format": declared, "content": value}, declared
    return value, kind


def check_declared(
    name: str, value: Any, kind: Kind, declared: VariableType, template_id: str
) -> None:
    """Raise a RenderError unless ``value`` (of ``kind``) fits a variable of type ``declared``."""
    fits = kind in ACCEPTS[declared]
    if fits and kind == "array":
        for item in value:  # _is_template, with its usual case inlined: once per row
            if not (type(item) is dict and "templateId" in item or _is_template(item)):
                fits = False
                break
    if not fits:
        raise RenderError(
            f"Variable `{name}` of template `{template_id}` has type `{declared}` "
            f"and takes {_EXPECTED[declared]}"
        )


def to_context_value(
    name: str, value: Any, kind: Kind, nested: NestedRenderer, *, clean_memo: bool = True
) -> ContextValue:
    """Turn one value of a known ``kind`` into what the template sees.

    ``clean_memo=False`` cleans html content without the cleaning memo, for a caller that
    keeps what it renders from the value itself.
    """
    if kind == "scalar":
        return value  # type: ignore[no-any-return]
    if kind == "text":
        return _text_content(name, value["content"])
    if kind == "html":
        return RichValue(clean_html(_html_content(name, value["content"]), memo=clean_memo))
    if kind == "draft":
        try:
            return RichValue(draft_to_html(value["content"]))
        except DraftError as err:
            raise _invalid_draft(name, err) from err
    if kind == "template":
        return _nested_template(name, value, nested)
    return _array(name, value, nested)


def check_content(name: str, value: Any, kind: Kind) -> None:
    """Raise the RenderError ``to_context_value`` would for a formatted value's content,
    without rendering it (a batch is checked at the API and rendered by the workers)."""
    if kind == "text":
        _text_content(name, value["content"])
    elif kind == "html":
        _html_content(name, value["content"])
    elif kind == "draft":
        try:
            check_document(value["content"])
        except DraftError as err:
            raise _invalid_draft(name, err) from err


def _text_content(name: str, content: object) -> Scalar:
    if isinstance(content, (str, int, float)):  # a tuple, as in kind_of
        return content
    raise RenderError(f"Variable `{name}` has text content that is not a string or a number")


def _html_content(name: str, content: object) -> str:
    if isinstance(content, str):
        return content
    raise RenderError(f"Variable `{name}` has html content that is not a string")


def _invalid_draft(name: str, err: DraftError) -> RenderError:
    return RenderError(f"Variable `{name}` holds an invalid Draft.js document: {err.detail}")


def _nested_template(name: str, value: Mapping[str, Any], nested: NestedRenderer) -> RichValue:
    template_id = value["templateId"]
    variables = value.get("variables") or {}
    if type(template_id) is not str or not (
        type(variables) is dict or isinstance(variables, Mapping)
    ):
        raise RenderError(
            f"Variable `{name}` needs a string `templateId` and an object `variables`"
        )
    return nested(name, template_id, variables)


def _is_template(value: object) -> bool:
    return (type(value) is dict or isinstance(value, Mapping)) and "templateId" in value


def _array(name: str, items: Sequence[Any], nested: NestedRenderer) -> RichList:
    values: list[Scalar | RichValue] = []
    append = values.append
    for item in items:
        # The usual array, with _nested_template's checks inlined for the usual values. The
        # keys are templateId, and variables or nothing else: as kind_of's check, cheaper.
        if (
            type(item) is dict
            and "templateId" in item
            and (len(item) == 1 or len(item) == 2 and "variables" in item)
        ):
            template_id = item["templateId"]
            variables = item.get("variables") or {}
            if type(template_id) is str and type(variables) is dict:
                append(nested(name, template_id, variables))
            else:
                append(_nested_template(name, item, nested))
            continue
        kind = kind_of(name, item)
        if kind == "array":
            raise RenderError(f"Variable `{name}` holds an array inside an array")
        append(to_context_value(name, item, kind, nested))
    return RichList(values)
