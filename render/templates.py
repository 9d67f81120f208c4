"""Rendering of stored templates and of inline content, nested templates included."""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Mapping
from typing import Any

from render.errors import RenderError
from render.lru import LRU
from render.sandbox import (
    INLINE,
    TEMPLATES,
    Compiled,
    environment_for,
    escape_str,
    render_compiled,
)
from render.specs import Rendered, TemplateContent, TemplateLookup, TemplateSpec
from render.values import ContextValue, RichValue
from render.variables import NestedRenderer, check_declared, kind_of, to_context_value

# Bulk sends repeat the same nested blocks (product cards, articles) email after email, and a
# nested render is pure given its template version, language and variables; see _memo_key.
NESTED_MEMO = LRU[RichValue](2048)
NESTED_MEMO_MAX_CHARS = 8_192  # per key and per result: 2048 x 16 KB at worst
_FLAT_FORMATS = ("text", "html")  # a tuple: an unhashable "format" must not raise here

# Exact types, not isinstance: bool is deliberately left to the general path.
_PLAIN_SCALARS = frozenset({str, int, float})
_TAKE_SCALARS = frozenset({"text", "html"})


def render_template(
    spec: TemplateSpec,
    variables: Mapping[str, Any],
    *,
    lang: str | None,
    lookup: TemplateLookup,
) -> Rendered:
    """Render a stored template in ``lang`` (or its master language) with ``variables``."""
    content_lang, content = select_content(spec, lang)
    context = resolve_variables(spec, variables, _nested_renderer(lookup, lang))
    subject = _render_stored(spec, content_lang, "subject", content.subject, context)
    html = _render_stored(spec, content_lang, "html", content.html, context)
    text = None
    if content.text is not None:
        text = _render_stored(spec, content_lang, "text", content.text, context)
    return Rendered(one_line(subject), html, text)


def render_inline(
    subject: str,
    html: str | None,
    text: str | None,
    variables: Mapping[str, Any],
    *,
    lookup: TemplateLookup | None = None,
    lang: str | None = None,
) -> Rendered:
    """Render inline content of a send request; nothing is declared, so any variable goes.

    Nested template values need ``lookup`` (rendered in ``lang``, else their master language).
    """
    nested = _nested_renderer(lookup, lang) if lookup is not None else _no_lookup
    context: dict[str, ContextValue] = {}
    for name, value in variables.items():
        if value is not None:  # JSON null means "no value", as for templates
            context[name] = to_context_value(name, value, kind_of(name, value), nested)
    return Rendered(
        one_line(_render_inline_part("subject", subject, context)),
        None if html is None else _render_inline_part("html", html, context),
        None if text is None else _render_inline_part("text", text, context),
    )


def select_content(spec: TemplateSpec, lang: str | None) -> tuple[str, TemplateContent]:
    """Return the language used and the content for ``lang``: its translation, else master.

    "es-MX" falls back to "es" before the master language.
    """
    if lang and lang != spec.lang:
        for candidate in (lang, lang.split("-", 1)[0]):
            translation = spec.translations.get(candidate)
            if translation is not None:
                return candidate, translation
    return spec.lang, TemplateContent(spec.subject, spec.html, spec.text)


def resolve_variables(
    spec: TemplateSpec,
    given: Mapping[str, Any],
    nested: NestedRenderer,
    *,
    may_nest: bool = True,
) -> dict[str, ContextValue]:
    """Check ``given`` against the template's declarations and build the render context.

    A string default of an ``html`` variable is markup, since the template's author wrote it
    (it is still cleaned); a string *given* for one is text.
    """
    return _resolve(spec, _declared(spec), given, nested, may_nest)


def _declared(spec: TemplateSpec) -> frozenset[str]:
    return frozenset(variable.name for variable in spec.variables)


def _resolve(
    spec: TemplateSpec,
    declared: frozenset[str],
    given: Mapping[str, Any],
    nested: NestedRenderer,
    may_nest: bool,
    clean_memo: bool = True,
) -> dict[str, ContextValue]:
    """``resolve_variables`` with the declared names already known (nested values reuse them)."""
    for name in given:
        if name not in declared:
            raise RenderError(f"Variable `{name}` not found in template `{spec.id}`")
    context: dict[str, ContextValue] = {}
    for variable in spec.variables:
        value: Any = given.get(variable.name)
        if type(value) in _PLAIN_SCALARS and variable.type in _TAKE_SCALARS:
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
            if type(value) in _PLAIN_SCALARS and variable.type == "text":
                context[variable.name] = value  # a plain default ("EUR"): what the checks give
                continue
            if variable.type == "html" and isinstance(value, str):
                value = {"format": "html", "content": value}
        if variable.type == "template" and not may_nest:
            raise _too_deep(variable.name, spec.id)
        kind = kind_of(variable.name, value)
        check_declared(variable.name, value, kind, variable.type, spec.id)
        context[variable.name] = to_context_value(
            variable.name, value, kind, nested, clean_memo=clean_memo
        )
    return context


def check_variables(
    spec: TemplateSpec, given: Mapping[str, Any], *, lookup: TemplateLookup
) -> None:
    """Check `given` against the declarations without rendering (for validating many sends).

    The same errors as `render_template` for names, required values and shapes, and nested
    templates must exist; what only rendering can reveal is left to the render.
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
        check_declared(variable.name, value, kind_of(variable.name, value), variable.type, spec.id)
        if variable.type == "template":
            for item in value if isinstance(value, list) else [value]:
                nested_id = str(item.get("templateId"))
                if lookup(nested_id) is None:
                    raise RenderError(f"Template `{nested_id}` not found")


def one_line(subject: str) -> str:
    """Collapse whitespace, line breaks included: a subject is a single header line."""
    return " ".join(subject.split())


def _nested_renderer(lookup: TemplateLookup, lang: str | None) -> NestedRenderer:
    # What the values of one template share within this render (an email holds a hundred rows
    # of the same few templates), by id and tied to the spec object the lookup gave.
    prepared: dict[str, _NestedTemplate] = {}

    def render_nested(name: str, template_id: str, variables: Mapping[str, Any]) -> RichValue:
        # Looked up first, memoised or not: the lookup may also decide who can use which
        # template.
        spec = lookup(template_id)
        if spec is None:
            raise RenderError(f"Template `{template_id}` not found")
        template = prepared.get(template_id)
        if template is None or template.spec is not spec:
            template = prepared[template_id] = _NestedTemplate(spec, lang)
        value = template.render_direct(variables)
        if value is not None:
            return value
        key = _memo_key(spec, lang, variables)
        value = None if key is None else NESTED_MEMO.get(key)
        if value is None:
            value = template.render(variables, clean_memo=key is None)
            if key is not None and len(value.__html__()) <= NESTED_MEMO_MAX_CHARS:
                NESTED_MEMO.put(key, value)
        return value

    return render_nested


# What render_direct does with a declared variable that is not given (or given as null):
# leave it out of the context, or leave the value to the general path (a required variable,
# or a default that needs the checks or a conversion).
_LEAVE_OUT = object()
_GENERAL = object()

# (name, the plain default or one of the two above) per declared variable.
_DirectPlan = tuple[tuple[str, Any], ...]


class _NestedTemplate:
    """A nested template in one language, with what each of its renders would redo.

    The compiled HTML part is fetched on the first render, after that render's variables
    are checked, so errors come in the same order as for a stored template.
    """

    __slots__ = (
        "spec", "lang", "html_source", "text", "declared", "refuse", "owner", "html", "direct",
        "form",
    )  # fmt: skip

    def __init__(self, spec: TemplateSpec, lang: str | None) -> None:
        self.spec = spec
        self.lang, content = select_content(spec, lang)
        self.html_source = content.html
        self.text = None if content.text is None else _TextPart(spec, self.lang, content.text)
        self.declared = _declared(spec)
        self.refuse = _nesting_refused(spec.id)
        self.owner = f"Template `{spec.id}`"
        self.html: Compiled | None = None
        self.direct: _DirectPlan | None = _direct_plan(spec)
        self.form: _DirectForm | None = None  # made by the first direct render

    def render(self, variables: Mapping[str, Any], *, clean_memo: bool = True) -> RichValue:
        """Render through every check a stored template's variables go through.

        ``clean_memo=False`` when the value is memoised as a whole: html content is then
        cleaned without also keeping it in the cleaning memo, where it would only be found
        again by a render the nested memo already answers.
        """
        context = _resolve(self.spec, self.declared, variables, self.refuse, False, clean_memo)
        source = self.html_source
        if "{" not in source:  # as _render_stored: nothing to compile or render
            html = source
        else:
            if self.html is None:
                self.html = _compiled(self.spec, self.lang, "html", source)
            html = render_compiled(self.html, context, self.owner, "html")
        return _value(html, self.text, context)

    def render_direct(self, variables: Mapping[str, Any]) -> RichValue | None:
        """Render a value the memo would not pay for, or return None for ``render``'s path.

        That is a value of plain scalars only (str, int, float; absent ones with a plain
        default) for an HTML part of literal text and ``{{ NAME }}`` (a SimpleTemplate). Such
        a render costs half a memo miss (building the key, then storing the value and later
        evicting it) and a hit saves little of it; order rows are mostly new to the memo.
        The context is the one ``_resolve`` builds for such values, in the same order, and
        the output is ``render``'s.

        The first render goes through ``_render_planned``, which compiles the HTML part after
        the checks and works out the _DirectForm the next ones take (one pass over the
        variables, the context left to the value: see _DirectValue).
        """
        form = self.form
        if form is None:
            return None if self.direct is None else self._render_planned(variables)
        if not variables.keys() <= self.declared:
            return None  # an undeclared name: the general path says which
        # One pass over the variables (see _DirectForm), inlined: a call less per row.
        pieces = form.pieces.copy()
        get = variables.get
        for name, escaped_default, slot in form.steps:
            value: Any = get(name)
            value_type = type(value)
            if value_type is str:
                escaped = escape_str(value)
            elif value_type is int or value_type is float:
                try:
                    escaped = escape_str(str(value))
                except ValueError:  # an int past Python's digit limit: see _DirectForm
                    break
            elif value is None and escaped_default is not None:
                escaped = escaped_default
            else:
                break  # not a plain value: _render_planned says what becomes of it
            if slot:
                pieces[slot] = escaped
        else:
            for first, again in form.copies:
                pieces[again] = pieces[first]
            html = "".join(pieces)
            if self.text is None:
                return RichValue(html)
            # _DirectValue's fields set here rather than by an __init__: a call less per row.
            made = object.__new__(_DirectValue)
            made._html = html
            made._text = None
            made._template = self
            made._variables = variables
            return made
        return self._render_planned(variables)

    def _render_planned(self, variables: Mapping[str, Any]) -> RichValue | None:
        """``render_direct`` on the plan alone: the context, then the SimpleTemplate on it."""
        plan = self.direct
        if plan is None or not variables.keys() <= self.declared:
            return None  # an undeclared name: the general path says which
        context: dict[str, ContextValue] = {}
        for name, default in plan:
            value: Any = variables.get(name)
            if type(value) in _PLAIN_SCALARS:
                context[name] = value
            elif value is not None or default is _GENERAL:
                return None
            elif default is not _LEAVE_OUT:
                context[name] = default
        source = self.html_source
        if "{" not in source:
            html = source
            if self.form is None:
                self.form = _DirectForm(plan, source, ())
        else:
            compiled = self.html
            if compiled is None:  # compiled after the checks, as in render
                compiled = self.html = _compiled(self.spec, self.lang, "html", source)
            simple = compiled.simple
            if simple is None or not {name for name, _ in simple.rest} <= self.declared:
                # A Jinja render (an undeclared name prints as Undefined) costs more: the memo
                # pays for itself.
                self.direct = None
                return None
            if self.form is None:
                self.form = _DirectForm(plan, simple.head, simple.rest)
            html = render_compiled(compiled, context, self.owner, "html")
        text = self.text  # _value inlined: a call less for each of a hundred rows
        return RichValue(html) if text is None else _NestedValue(html, text, context)


class _DirectForm:
    """A direct render worked out once per nested template: each declared variable in order,
    with what stands for it when not given (a plain default, with its escaped text, or
    _LEAVE_OUT or _GENERAL), and the slot it fills among the pieces of the HTML part (its
    literal text, with an empty slot for each name printed).

    ``render_direct`` then makes one pass over the variables: it checks each value and fills
    its slot with its escaped text, with no context (a _DirectValue makes it if a text part
    needs it); building the context and rendering the SimpleTemplate on it would look each
    name up again in a second pass. The escaping is the SimpleTemplate's (markupsafe's, on
    the str, or on ``str()`` of the int or float).
    Any value but plain scalars and plain defaults (an optional variable left out, a null
    for one without a default, a bool, a dict, ...) is left to ``_render_planned``; so is a
    ValueError, which only ``str()`` of an int past Python's digit limit raises there: each
    value is converted, printed or not, and the planned path raises that error, or another
    one first, as the general path does.
    """

    __slots__ = ("steps", "pieces", "copies")

    def __init__(self, plan: _DirectPlan, head: str, rest: tuple[tuple[str, str], ...]) -> None:
        pieces = [head]
        slots: dict[str, int] = {}  # where each name is first printed
        copies: list[tuple[int, int]] = []  # (its first slot, another) for a name printed again
        for name, literal in rest:
            if name in slots:
                copies.append((slots[name], len(pieces)))
            else:
                slots[name] = len(pieces)
            pieces.append("")
            pieces.append(literal)
        # Slot 0 is the literal text before the first name: 0 stands for "not printed".
        self.steps = tuple(
            (name, _escaped_default(default), slots.get(name, 0)) for name, default in plan
        )
        self.pieces = pieces
        self.copies = tuple(copies)


def _escaped_default(default: Any) -> str | None:
    """The escaped text of a plain default, None for _LEAVE_OUT and _GENERAL (or a default
    whose ``str()`` fails: an int past the digit limit, left to ``_render_planned``)."""
    if default is _LEAVE_OUT or default is _GENERAL:
        return None
    try:
        return escape_str(default if type(default) is str else str(default))
    except ValueError:
        return None


def _direct_plan(spec: TemplateSpec) -> _DirectPlan | None:
    """Each variable, in declared order, with what stands for it when not given (a plain
    default, _LEAVE_OUT or _GENERAL); None unless all are text or html (which take scalars
    as they are)."""
    plan: list[tuple[str, Any]] = []
    for variable in spec.variables:
        if variable.type not in _TAKE_SCALARS:
            return None
        default = variable.default
        if default is None:
            plan.append((variable.name, _GENERAL if variable.required else _LEAVE_OUT))
        elif type(default) in _PLAIN_SCALARS and variable.type == "text":
            plan.append((variable.name, default))  # as _resolve puts it in the context
        else:
            plan.append((variable.name, _GENERAL))
    return tuple(plan)


class _TextPart:
    """A nested template's text part: all a value needs to render it later.

    Memoised values keep it, so it holds no compiled template (those are bounded by their
    own cache).
    """

    __slots__ = ("spec", "lang", "source")

    def __init__(self, spec: TemplateSpec, lang: str, source: str) -> None:
        self.spec = spec
        self.lang = lang
        self.source = source

    def render(self, context: Mapping[str, Any]) -> str:
        return _render_stored(self.spec, self.lang, "text", self.source, context)


def _value(html: str, text: _TextPart | None, context: dict[str, ContextValue]) -> RichValue:
    if text is None:
        return RichValue(html)  # its text, if a plain part wants it, comes from the HTML
    return _NestedValue(html, text, context)


class _NestedValue(RichValue):
    """A nested template's value; its text part is rendered only if a plain part prints it
    (most parents have no text part of their own).

    One object rather than a RichValue and a closure (function, cells) over the text part
    and the context: cheaper to make for each of a hundred rows, and less for a memoised
    value to keep.
    """

    __slots__ = ("_text_part", "_context")

    def __init__(self, html: str, text_part: _TextPart, context: dict[str, ContextValue]) -> None:
        self._html = html  # what RichValue.__init__ sets, without calling it: one per row
        self._text = None
        self._text_part = text_part
        self._context = context

    def __str__(self) -> str:
        text = self._text
        if not isinstance(text, str):
            text = self._text = self._text_part.render(self._context)
        return text


class _DirectValue(RichValue):
    """A value of ``render_direct`` with a text part: the context that part needs is made
    only if a plain part prints the value, by ``_resolve`` (which makes the one the direct
    path would: it takes plain values and plain defaults as they are).

    It keeps the variables it was rendered from: it is made and used within one render
    (direct values are not memoised), while they are the request's.
    """

    __slots__ = ("_template", "_variables")

    # Made by render_direct only, which sets _html, _text (None), _template and _variables.
    _template: _NestedTemplate
    _variables: Mapping[str, Any]

    def context(self) -> dict[str, ContextValue]:
        """The context ``render`` would give this value's template."""
        template = self._template
        return _resolve(template.spec, template.declared, self._variables, template.refuse, False)

    def __str__(self) -> str:
        text = self._text
        if not isinstance(text, str):
            text_part = self._template.text
            assert text_part is not None  # render_direct makes a RichValue otherwise
            text = self._text = text_part.render(self.context())
        return text


def _memo_key(
    spec: TemplateSpec, lang: str | None, variables: Mapping[str, Any]
) -> Hashable | None:
    """Return a key for a nested render, or None when its variables are not worth keeping.

    Only flat values qualify (scalars, text and html formats) and only up to a size, which
    bounds the memo's memory. Types are part of the key: 1, 1.0 and true print differently.
    """
    frozen: list[Hashable] = []
    size = 0
    for name, value in variables.items():
        value_type = type(value)
        if value_type is str:
            size += len(value)
            frozen.append((name, value))
        elif value_type is int or value_type is bool or value is None:
            frozen.append((name, value_type, value))
        elif value_type is float:
            # By its printed form: 0.0 == -0.0, but they print differently.
            frozen.append((name, value_type, repr(value)))
        elif (
            value_type is dict
            and len(value) == 2
            and value.get("format") in _FLAT_FORMATS
            and type(value.get("content")) is str
        ):
            size += len(value["content"])
            frozen.append((name, value["format"], value["content"]))
        else:
            return None
    if size > NESTED_MEMO_MAX_CHARS:
        return None
    # (id, version) stand for the content, as for the compiled-template cache.
    return (spec.id, spec.version, lang, tuple(frozen))


def _nesting_refused(template_id: str) -> NestedRenderer:
    def refuse(name: str, nested_id: str, variables: Mapping[str, Any]) -> RichValue:
        raise _too_deep(name, template_id)

    return refuse


def _too_deep(name: str, template_id: str) -> RenderError:
    return RenderError(
        f"Variable `{name}` of nested template `{template_id}` holds a template: "
        "templates nest one level only"
    )


def _no_lookup(name: str, template_id: str, variables: Mapping[str, Any]) -> RichValue:
    raise RenderError(
        f"Variable `{name}` holds a nested template, but no template lookup is available"
    )


def _render_stored(
    spec: TemplateSpec, lang: str, part: str, source: str, context: Mapping[str, Any]
) -> str:
    if "{" not in source:  # no Jinja syntax at all: nothing to compile or render
        return source
    return render_compiled(
        _compiled(spec, lang, part, source), context, f"Template `{spec.id}`", part
    )


def _compiled(spec: TemplateSpec, lang: str, part: str, source: str) -> Compiled:
    return TEMPLATES.get(
        (spec.id, spec.version, lang, part), source, environment_for(part),
        f"template `{spec.id}` {part}",
    )  # fmt: skip


def _render_inline_part(part: str, source: str, context: Mapping[str, Any]) -> str:
    if "{" not in source:
        return source
    key = (hashlib.sha256(source.encode()).hexdigest(), part)
    template = INLINE.get(key, source, environment_for(part), f"inline {part}")
    return render_compiled(template, context, "Inline content", part)
