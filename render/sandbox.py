"""The Jinja2 sandbox every template runs in, and the cache of compiled templates.

Two environments: HTML parts autoescape, subject and text parts do not (they are plain text
and must not come out HTML-escaped). Both are immutable sandboxes: a template can read its
data but can call no method that changes it, and reaches no attribute starting with "_".
"""

from __future__ import annotations

import operator
from collections.abc import Hashable, Mapping
from typing import Any

from jinja2 import Template, TemplateError, TemplateSyntaxError, Undefined
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from render.errors import RenderError
from render.lru import LRU

# Products a template may build with "*" or "**": past this, "{{ 'x' * 10**9 }}" would let a
# single request exhaust a worker's memory.
MAX_SEQUENCE_PRODUCT = 100_000
MAX_EXPONENT = 100

TEMPLATE_CACHE_SIZE = 1024
INLINE_CACHE_SIZE = 256


class MailSandbox(ImmutableSandboxedEnvironment):
    """Immutable sandbox that refuses unsafe attributes outright and bounds "*" and "**"."""

    intercepted_binops = frozenset({"*", "**"})

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        # Jinja returns an Undefined that prints as "" and fails only when used further; failing
        # at once tells the template's author instead of silently printing nothing.
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe"
        )

    def call_binop(self, context: Context, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "**":
            if isinstance(right, int) and right > MAX_EXPONENT:
                raise SecurityError(f"exponent above {MAX_EXPONENT} is not allowed")
            return operator.pow(left, right)
        _check_product(left, right)
        return operator.mul(left, right)


def _check_product(left: Any, right: Any) -> None:
    for sequence, count in ((left, right), (right, left)):
        if isinstance(sequence, str | list | tuple) and isinstance(count, int):
            if len(sequence) * count > MAX_SEQUENCE_PRODUCT:
                raise SecurityError("the result of '*' would be too long")


def _environment(autoescape: bool) -> MailSandbox:
    # keep_trailing_newline: a text part ends as written, and rendering with or without Jinja
    # (sources without "{" skip it) gives the same output.
    env = MailSandbox(
        autoescape=autoescape, auto_reload=False, cache_size=0, keep_trailing_newline=True
    )
    # Random filler text has no place in an email and lipsum(n=...) is a CPU sink.
    env.globals.pop("lipsum", None)
    return env


HTML_ENV = _environment(autoescape=True)
PLAIN_ENV = _environment(autoescape=False)
_GLOBALS: dict[str, Any] = dict(HTML_ENV.globals)  # the same in both environments


def environment_for(part: str) -> MailSandbox:
    """Return the environment for a part: autoescaping for "html", plain for the others."""
    return HTML_ENV if part == "html" else PLAIN_ENV


class TemplateCache:
    """Compiled templates by key, in a bounded LRU; a changed source under a key recompiles."""

    def __init__(self, max_size: int) -> None:
        self.lru: LRU[tuple[str, Template]] = LRU(max_size)

    def get(self, key: Hashable, source: str, env: MailSandbox, where: str) -> Template:
        """Return ``source`` compiled in ``env``, cached under ``key``; ``where`` names it."""
        entry = self.lru.get(key)
        # The source check guards against a caller that changed content but not version.
        if entry is not None and entry[0] == source:
            return entry[1]
        template = compile_source(source, env, where)
        self.lru.put(key, (source, template))
        return template


TEMPLATES = TemplateCache(TEMPLATE_CACHE_SIZE)
INLINE = TemplateCache(INLINE_CACHE_SIZE)


def compile_source(source: str, env: MailSandbox, where: str) -> Template:
    """Compile ``source``; a syntax error becomes a RenderError naming ``where`` and the line."""
    try:
        return env.from_string(source)
    except TemplateSyntaxError as err:
        raise RenderError(syntax_error_message(where, err)) from err


def syntax_error_message(where: str, err: TemplateSyntaxError) -> str:
    """Return "Syntax error in <where> at line <n>: <reason>"."""
    return f"Syntax error in {where} at line {err.lineno}: {err.message}"


# What a template's own code can raise at run time: undefined attributes, arithmetic on the
# wrong types, too deep recursion of macros. Our errors pass through untouched.
_RUNTIME_ERRORS = (TemplateError, ArithmeticError, TypeError, ValueError, LookupError,
                   RecursionError)  # fmt: skip


def render_compiled(template: Template, context: Mapping[str, Any], owner: str, part: str) -> str:
    """Render a compiled template; sandbox and runtime errors become a RenderError.

    ``owner`` names what is rendered for the message ("Template `x`", "Inline content").
    """
    try:
        # Template.render() minus what it repeats on every call: merging the globals ChainMap
        # into a new dict, and rewriting tracebacks (errors become a RenderError here anyway).
        # Nested templates render by the hundred per email, so this is the hot path.
        # The context is built as Template.new_context(vars, shared=True) builds it, minus the
        # set of the globals' names it takes each time (a third of its cost): Jinja reads
        # those only when one template imports another, which needs a loader we never give.
        env = template.environment
        jinja_context = env.context_class(
            env, {**_GLOBALS, **context}, template.name, template.blocks
        )
        return "".join(template.root_render_func(jinja_context))
    except RenderError:
        raise
    except SecurityError as err:
        raise RenderError(f"{owner} was stopped by the sandbox in its {part}: {err}") from err
    except _RUNTIME_ERRORS as err:
        raise RenderError(f"{owner} could not be rendered ({part}): {err}") from err
