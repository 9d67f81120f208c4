"""Nested template values: a template rendered as the value of another's variable.

Two paths give a nested value, with the same output:

- ``_NestedTemplate.render``, the general one: every check a stored template's variables go
  through, the context, then the compiled HTML part. ``nested_renderer`` memoises what it
  gives for small flat variables (bulk sends repeat the same blocks email after email).
- ``_NestedTemplate.render_direct``, for the usual order row: plain values (str, int, float)
  of text and html variables (a string of html cleaned) for an HTML part of literal text and
  ``{{ NAME }}``. It fills the slots of the HTML part in one pass over the variables, with
  neither context nor memo: such a render costs half a memo miss. Its first render goes
  through ``render``, which compiles the HTML part after the checks (errors come in the
  general order), and then works out the slots (a _DirectForm). Anything else it leaves to
  the general path by returning None.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from render.errors import RenderError
from render.html_clean import clean_html
from render.lru import LRU
from render.parts import compiled_part, render_stored, select_content
from render.resolve import PLAIN_SCALARS, declared_names, resolve, too_deep
from render.sandbox import GLOBAL_NAMES, Compiled, escape_str, render_compiled
from render.specs import TemplateLookup, TemplateSpec
from render.values import ContextValue, RichValue
from render.variables import NestedRenderer

# Bulk sends repeat the same nested blocks (product cards, articles) email after email, and a
# nested render is pure given its template version, language and variables; see _memo_key.
NESTED_MEMO = LRU[RichValue](2048)
NESTED_MEMO_MAX_CHARS = 8_192  # per key and per result: 2048 x 16 KB at worst
_FLAT_FORMATS = ("text", "html")  # a tuple: an unhashable "format" must not raise here


def nested_renderer(lookup: TemplateLookup, lang: str | None) -> NestedRenderer:
    """The NestedRenderer of one render: nested values in ``lang``, else their master's."""
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


def no_lookup(name: str, template_id: str, variables: Mapping[str, Any]) -> RichValue:
    """The NestedRenderer of inline content rendered without a template lookup."""
    raise RenderError(
        f"Variable `{name}` holds a nested template, but no template lookup is available"
    )


# What stands for a declared variable that is not given (or given as null), besides a plain
# default: nothing in the context (it prints as "", as Jinja's Undefined), or the general
# path (a required variable, or a default that needs the checks or a conversion).
_LEAVE_OUT = object()
_GENERAL = object()

# (name, the plain default or one of the two above, whether a string is markup) per declared
# variable.
_DirectPlan = tuple[tuple[str, Any, bool], ...]
_DIRECT_TYPES = ("text", "html")


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
        self.declared = declared_names(spec)
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
        context = resolve(self.spec, self.declared, variables, self.refuse, False, clean_memo)
        source = self.html_source
        if "{" not in source:  # as render_stored: nothing to compile or render
            html = source
        else:
            if self.html is None:
                self.html = compiled_part(self.spec, self.lang, "html", source)
            html = render_compiled(self.html, context, self.owner, "html")
        text = self.text
        return RichValue(html) if text is None else _NestedValue(html, text, context)

    def render_direct(self, variables: Mapping[str, Any]) -> RichValue | None:
        """Render plain values without context or memo, or return None for the general path.

        The output is ``render``'s: the slots are filled with the escaping SimpleTemplate
        applies (markupsafe's, on the str, or on ``str()`` of the int or float).
        """
        form = self.form
        if form is None:
            return None if self.direct is None else self._render_first(variables)
        if not variables.keys() <= self.declared:
            return None  # an undeclared name: the general path says which
        # One pass over the variables (see _DirectForm), inlined: a call less per row.
        pieces = form.pieces.copy()
        get = variables.get
        for name, escaped_default, slot, markup in form.steps:
            value: Any = get(name)
            value_type = type(value)
            if value_type is str:
                # An html variable's string is markup, cleaned, as to_context_value makes it.
                escaped = clean_html(value) if markup else escape_str(value)
            elif value_type is int or value_type is float:
                try:
                    escaped = escape_str(str(value))
                except ValueError:  # an int past Python's digit limit: render says so
                    return None
            elif value is None and escaped_default is not None:
                escaped = escaped_default
            else:
                return None  # not a plain value: the general path says what becomes of it
            if slot:
                pieces[slot] = escaped
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

    def _render_first(self, variables: Mapping[str, Any]) -> RichValue | None:
        """The first direct render: through ``render`` (the checks, then the HTML part
        compiled), after which the _DirectForm is worked out, or the direct path given up
        when the HTML part is more than a SimpleTemplate of declared names."""
        plan = self.direct
        assert plan is not None
        if not variables.keys() <= self.declared:
            return None  # an undeclared name: the general path says which
        for name, default, _ in plan:
            value: Any = variables.get(name)
            if type(value) in PLAIN_SCALARS:
                continue
            if value is not None or default is _GENERAL:
                return None  # what the form would not take either
        rendered = self.render(variables)
        source = self.html_source
        if "{" not in source:
            self.form = _DirectForm(plan, source, ())
            return rendered
        compiled = self.html
        assert compiled is not None  # compiled by render
        simple = compiled.simple
        if simple is None or not {name for name, _ in simple.rest} <= self.declared:
            # A Jinja render (an undeclared name prints as Undefined) costs more: the memo
            # pays for itself.
            self.direct = None
            return None
        self.form = _DirectForm(plan, simple.head, simple.rest)
        return rendered


class _DirectForm:
    """A direct render worked out once per nested template: each declared variable in order,
    with the escaped text that stands for it when not given (of a plain default, or "" for
    one left out of the context; None for the general path), the slot it fills among the
    pieces of the HTML part (its literal text, with an empty slot for each name printed), and
    whether a string given for it is markup (an html variable's).
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
            (name, _escaped_default(name, default), slots.get(name, 0), markup)
            for name, default, markup in plan
        )
        self.pieces = pieces
        self.copies = tuple(copies)


def _escaped_default(name: str, default: Any) -> str | None:
    """The escaped text that stands for a variable not given, None for the general path.

    One left out of the context prints as Jinja's Undefined, "", unless its name is a global
    (range, ...), which Jinja would print instead; a default whose ``str()`` fails (an int
    past the digit limit) is left to the general path, which says so.
    """
    if default is _GENERAL:
        return None
    if default is _LEAVE_OUT:
        return None if name in GLOBAL_NAMES else ""
    try:
        return escape_str(default if type(default) is str else str(default))
    except ValueError:
        return None


def _direct_plan(spec: TemplateSpec) -> _DirectPlan | None:
    """Each variable, in declared order, with what stands for it when not given (a plain
    default, _LEAVE_OUT or _GENERAL) and whether it is html; None unless all are text or
    html (a draft variable parses a string, a template one takes none)."""
    plan: list[tuple[str, Any, bool]] = []
    for variable in spec.variables:
        if variable.type not in _DIRECT_TYPES:
            return None
        markup = variable.type == "html"
        default = variable.default
        if default is None:
            plan.append((variable.name, _GENERAL if variable.required else _LEAVE_OUT, markup))
        elif type(default) in PLAIN_SCALARS and not markup:
            plan.append((variable.name, default, markup))  # as resolve puts it in the context
        else:
            plan.append((variable.name, _GENERAL, markup))
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
        return render_stored(self.spec, self.lang, "text", self.source, context)


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
    only if a plain part prints the value, by ``resolve`` (which makes the one the direct
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
        return resolve(template.spec, template.declared, self._variables, template.refuse, False)

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
        raise too_deep(name, template_id)

    return refuse
