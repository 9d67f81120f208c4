"""The Jinja2 sandbox every template runs in, and the cache of compiled templates.

Two environments: HTML parts autoescape, subject and text parts do not (they are plain text
and must not come out HTML-escaped). Both are immutable sandboxes: a template can read its
data but can call no method that changes it, and reaches no attribute starting with "_".
"""

from __future__ import annotations

import functools
import operator
import types
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any

import jinja2.runtime
from jinja2 import Template, TemplateError, TemplateSyntaxError, Undefined, nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing
from markupsafe import Markup, escape

try:  # what markupsafe.escape applies to a str: its C version, or its pure Python fallback
    from markupsafe._speedups import _escape_inner
except ImportError:  # pragma: no cover
    try:
        from markupsafe._native import _escape_inner
    except ImportError:  # a markupsafe without these private names: the public function

        def _escape_inner(value: str, /) -> str:
            return str(escape(value))


from render.bounds import (
    BoundedEscapeFormatter,
    BoundedFormatter,
    LoopCodeGenerator,
    bounded_filters,
    budget_range,
    check_power,
    check_printf,
    check_product,
    check_str_method,
    check_sum,
    join_values,
)
from render.budget import ACTIVE, DEFAULT_LIMITS, BudgetExceeded, budget_scope, current
from render.errors import RenderError
from render.lru import LRU

# What markupsafe.escape does to a str, as a str rather than a Markup (for the direct path of
# nested templates, which escapes as SimpleTemplate does).
escape_str: Callable[[str], str] = _escape_inner

TEMPLATE_CACHE_SIZE = 1024
INLINE_CACHE_SIZE = 256


class MailSandbox(ImmutableSandboxedEnvironment):
    """Immutable sandbox that refuses unsafe attributes outright and charges every call,
    filter, operator, loop and output to the render's Budget (see render.budget)."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = LoopCodeGenerator
    join_values = staticmethod(join_values)  # what LoopCodeGenerator compiles "~" to

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        # Jinja returns an Undefined that prints as "" and fails only when used further; failing
        # at once tells the template's author instead of silently printing nothing.
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe"
        )

    def call_binop(self, context: Context, operator_: str, left: Any, right: Any) -> Any:
        budget = current()
        budget.spend(1)
        if operator_ == "**":
            check_power(left, right)
            return operator.pow(left, right)
        if operator_ == "*":
            check_product(budget, left, right)
            return operator.mul(left, right)
        if operator_ == "+":
            check_sum(budget, left, right)
            return operator.add(left, right)
        check_printf(budget, left, right)
        return operator.mod(left, right)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Call ``obj`` from a template: an operation, and a str method's result bounded."""
        budget = current()
        budget.spend(1)
        check_str_method(budget, obj, args)
        return super().call(context, obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """str.format and format_map through BoundedFormatter (Jinja's wrapper, whose
        formatter is not a setting)."""
        if not isinstance(value, types.MethodType | types.BuiltinMethodType) or (
            value.__name__ not in ("format", "format_map")
        ):
            return None
        owner: Any = value.__self__
        if not isinstance(owner, str):
            return None
        formatter: BoundedFormatter
        if isinstance(owner, Markup):
            formatter = BoundedEscapeFormatter(self, escape=owner.escape)
        else:
            formatter = BoundedFormatter(self)
        is_format_map = value.__name__ == "format_map"
        str_type = type(owner)

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_format_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                kwargs, args = args[0], ()
            return str_type(formatter.vformat(owner, args, kwargs))

        return functools.update_wrapper(wrapper, value)

    def concat(self, pieces: Iterable[str]) -> str:
        """Join a template's output (the whole of it, or a buffer: a macro, a block), checking
        its length as it grows."""
        budget = current()
        limit = budget.limits.max_output_chars
        joined: list[str] = []
        append = joined.append
        size = 0
        for piece in pieces:
            size += len(piece)
            if size > limit:
                raise BudgetExceeded(f"output longer than {limit:,} characters (max_output_chars)")
            append(piece)
        budget.allow(size)
        return "".join(joined)


def _environment(autoescape: bool) -> MailSandbox:
    # keep_trailing_newline: a text part ends as written, and rendering with or without Jinja
    # (sources without "{" skip it) gives the same output.
    env = MailSandbox(
        autoescape=autoescape, auto_reload=False, cache_size=0, keep_trailing_newline=True
    )
    # Random filler text has no place in an email and lipsum(n=...) is a CPU sink.
    env.globals.pop("lipsum", None)
    env.globals["range"] = budget_range
    env.filters = bounded_filters(env.filters)
    return env


HTML_ENV = _environment(autoescape=True)
PLAIN_ENV = _environment(autoescape=False)
_GLOBALS: dict[str, Any] = dict(HTML_ENV.globals)  # the same in both environments
GLOBAL_NAMES = frozenset(_GLOBALS)


def environment_for(part: str) -> MailSandbox:
    """Return the environment for a part: autoescaping for "html", plain for the others."""
    return HTML_ENV if part == "html" else PLAIN_ENV


class SimpleTemplate:
    """A template that is literal text and bare ``{{ NAME }}`` only, rendered without Jinja.

    Jinja compiles such a template to: each name resolved from the context, then its literal
    text as written and each value as ``escape(value)`` (autoescape) or ``str(value)``, joined
    with ``"".join``. This does the same, minus Jinja's context and the Markup objects.
    """

    __slots__ = ("head", "rest", "convert")

    def __init__(
        self, head: str, rest: tuple[tuple[str, str], ...], convert: Callable[[Any], str]
    ) -> None:
        self.head = head  # the text before the first name
        self.rest = rest  # (name, the text after it) in order
        self.convert = convert

    def render(self, context: Mapping[str, Any]) -> str | None:
        """Return the output, or None when a name is not in ``context`` (Jinja's job then).

        A missing name may still be a global (range, ...) or print as Undefined. The values
        before it may already be converted by then: Jinja converts them again, in the same
        order, and a conversion caches what it computes (RichValue text), so the output and
        any error are the same.
        """
        parts = [self.head]
        append = parts.append
        get = context.get
        convert = self.convert
        if convert is _escaped_text:
            # _escaped_text inlined for the common types: a call per value is a good part of
            # rendering a row of a hundred-row email.
            for name, literal in self.rest:
                value = get(name, missing)
                value_type = type(value)
                if value_type is str:
                    append(_escape_inner(value))
                elif value is missing:
                    return None
                elif value_type is int or value_type is float or value_type is bool:
                    append(_escape_inner(str(value)))
                else:
                    append(escape(value))
                append(literal)
        else:
            for name, literal in self.rest:
                value = get(name, missing)
                if value is missing:
                    return None
                append(convert(value))
                append(literal)
        return "".join(parts)


def _escaped_text(value: Any) -> str:
    """``str(markupsafe.escape(value))`` without building the Markup for common types.

    escape() gives ``Markup(_escape_inner(value))`` for a str and ``Markup(_escape_inner(
    str(value)))`` for an object without ``__html__`` (exact int, float and bool have none);
    a Markup made from a str holds the same characters. Anything else goes through escape().
    """
    value_type = type(value)
    if value_type is str:
        return _escape_inner(value)
    if value_type is int or value_type is float or value_type is bool:
        return _escape_inner(str(value))
    return escape(value)


def _renders_like_jinja(env: MailSandbox) -> bool:
    """Whether ``env`` compiles ``{{ NAME }}`` as SimpleTemplate renders it.

    Anything that could change that output (a finalize, autoescape decided per template,
    extensions, another code generator or context class, async rendering) leaves Jinja to it.
    """
    return (
        env.finalize is None
        and type(env.autoescape) is bool
        and not env.extensions
        and not env.is_async
        and env.code_generator_class is LoopCodeGenerator
        and env.context_class is Context
        and getattr(jinja2.runtime, "escape", None) is escape
    )


def simple_template(source: str, env: MailSandbox) -> SimpleTemplate | None:
    """Return ``source`` as a SimpleTemplate, or None unless Jinja's own parse of it is one
    output of literal text (TemplateData) and names read from the context (Name), nothing else.

    The literal text is taken from the parse, after Jinja's lexer has applied whitespace
    control and newline handling. ``source`` must compile in ``env`` (it is parsed again).
    """
    if not _renders_like_jinja(env):
        return None
    body = env.parse(source).body
    if len(body) != 1 or type(body[0]) is not nodes.Output:
        return None
    names: list[str] = []
    literals: list[list[str]] = [[]]  # the text before the first name, then after each name
    for child in body[0].nodes:
        if type(child) is nodes.TemplateData and type(child.data) is str:
            literals[-1].append(child.data)
        # "self" at the top of a template is Jinja's reference to it, not a context value.
        elif type(child) is nodes.Name and child.ctx == "load" and child.name != "self":
            names.append(child.name)
            literals.append([])
        else:
            return None
    head, *after = ("".join(texts) for texts in literals)
    rest = tuple(zip(names, after, strict=True))
    return SimpleTemplate(head, rest, _escaped_text if env.autoescape else str)


class Compiled:
    """A compiled template, with its SimpleTemplate form when it has one."""

    __slots__ = ("template", "simple")

    def __init__(self, template: Template, simple: SimpleTemplate | None) -> None:
        self.template = template
        self.simple = simple


class TemplateCache:
    """Compiled templates by key, in a bounded LRU; a changed source under a key recompiles."""

    def __init__(self, max_size: int) -> None:
        self.lru: LRU[tuple[str, Compiled]] = LRU(max_size)

    def get(self, key: Hashable, source: str, env: MailSandbox, where: str) -> Compiled:
        """Return ``source`` compiled in ``env``, cached under ``key``; ``where`` names it."""
        entry = self.lru.get(key)
        # The source check guards against a caller that changed content but not version.
        if entry is not None and entry[0] == source:
            return entry[1]
        compiled = compile_source(source, env, where)
        self.lru.put(key, (source, compiled))
        return compiled


TEMPLATES = TemplateCache(TEMPLATE_CACHE_SIZE)
INLINE = TemplateCache(INLINE_CACHE_SIZE)


def compile_source(source: str, env: MailSandbox, where: str) -> Compiled:
    """Compile ``source``; a syntax error becomes a RenderError naming ``where`` and the line."""
    try:
        template = env.from_string(source)
    except TemplateSyntaxError as err:
        raise RenderError(syntax_error_message(where, err)) from err
    except TOO_DEEP_TO_COMPILE as err:
        raise RenderError(too_deep_message(where)) from err
    return Compiled(template, simple_template(source, env))


# What Jinja's parser and code generator raise for a source nested too deeply: its parser
# recurses (150 parentheses), and Python refuses the code it generates for 100 nested blocks
# (IndentationError: "too many levels of indentation", a SyntaxError).
TOO_DEEP_TO_COMPILE = (RecursionError, SyntaxError, MemoryError)


def too_deep_message(where: str) -> str:
    """Return the message for a source nested too deeply to compile."""
    return f"Syntax error in {where}: expressions or blocks are nested too deeply"


def syntax_error_message(where: str, err: TemplateSyntaxError) -> str:
    """Return "Syntax error in <where> at line <n>: <reason>"."""
    return f"Syntax error in {where} at line {err.lineno}: {err.message}"


# What a template's own code can raise at run time: undefined attributes, arithmetic on the
# wrong types, too deep recursion of macros. Our errors pass through untouched.
_RUNTIME_ERRORS = (TemplateError, ArithmeticError, TypeError, ValueError, LookupError,
                   RecursionError)  # fmt: skip


def render_compiled(compiled: Compiled, context: Mapping[str, Any], owner: str, part: str) -> str:
    """Render a compiled template; sandbox and runtime errors become a RenderError.

    ``owner`` names what is rendered for the message ("Template `x`", "Inline content").
    """
    try:
        # Inside the try: a value's conversion fails as it would in Jinja, with the same error.
        simple = compiled.simple
        if simple is not None:
            rendered = simple.render(context)
            if rendered is not None:
                return rendered
        if ACTIVE.get() is not None:  # the budget of the render_template (&c.) call
            return _render_jinja(compiled.template, context)
        with budget_scope(DEFAULT_LIMITS):
            return _render_jinja(compiled.template, context)
    except RenderError:
        raise
    except BudgetExceeded as err:
        raise RenderError(f"{owner} went over its render budget in its {part}: {err}") from err
    except SecurityError as err:
        raise RenderError(f"{owner} was stopped by the sandbox in its {part}: {err}") from err
    except MemoryError as err:
        raise RenderError(f"{owner} ran out of memory in its {part}") from err
    except _RUNTIME_ERRORS as err:
        raise RenderError(f"{owner} could not be rendered ({part}): {err}") from err


def _render_jinja(template: Template, context: Mapping[str, Any]) -> str:
    """Render ``template`` with Jinja, without what Template.render() repeats per call."""
    # Template.render() minus what it repeats on every call: merging the globals ChainMap
    # into a new dict, and rewriting tracebacks (errors become a RenderError here anyway).
    # Nested templates render by the hundred per email, so this is the hot path.
    # The context is built as Template.new_context(vars, shared=True) builds it, minus the
    # set of the globals' names it takes each time (a third of its cost): Jinja reads
    # those only when one template imports another, which needs a loader we never give.
    env = template.environment
    jinja_context = env.context_class(env, {**_GLOBALS, **context}, template.name, template.blocks)
    return env.concat(template.root_render_func(jinja_context))
