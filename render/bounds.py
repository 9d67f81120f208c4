"""The sandbox's checks of size before an operation runs, and the hooks that charge the budget.

An operation whose result could be far larger than its operands (``'a'|center(10**8)``,
``'%0100000000d' % 1``, ``'{:>100000000}'.format(x)``, ``s.replace('a', s)``, ``x ** y``)
is refused when a bound on its result is over the limit; others are charged what they
built. Loops charge their length (see LoopCodeGenerator), ``range()`` its length.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import markup_join, str_join
from jinja2.sandbox import SandboxedFormatter, safe_range
from markupsafe import Markup

from render.budget import Budget, BudgetExceeded, current

# The largest integer an operator may produce: (((9**100)**100)**100)**100 has 3e8 bits and
# takes seconds; a number in an email has a few dozen digits.
MAX_INT_BITS = 100_000
LOOP_FILTER = "mailroom_loop"  # wraps each {% for %}'s iterable: see LoopCodeGenerator

# Widths and precisions in %-formatting ("%0100000000d", "%.*f") and in format specs.
# Every quantifier bounded: "[^)]*" would scan to the end from each "%(" that no ")" closes.
# A conversion this misses still counts once, by its "%".
_PRINTF_CONVERSION = re.compile(
    r"%(?:\([^)%]{0,100}\))?[-#0 +]{0,8}(\*|\d{1,12})?(?:\.(\*|\d{1,12}))?"
)
_NUMBER = re.compile(r"\d+")


def weight(value: Any, depth: int = 0) -> int:
    """Roughly how many characters ``value`` prints as: a string its length, a sequence or
    mapping its items' weights plus one each (refs to one string count each time)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, int):
        return value.bit_length() // 3 + 2  # a decimal digit holds 3.3 bits
    if depth > 3:
        return 1
    if isinstance(value, list | tuple):
        return sum(weight(item, depth + 1) + 1 for item in value)
    if isinstance(value, dict):
        return sum(weight(k, depth + 1) + weight(v, depth + 1) + 2 for k, v in value.items())
    return 1


def check_product(budget: Budget, left: Any, right: Any) -> None:
    """Refuse ``left * right`` when it would be too long (a sequence) or too big (an int)."""
    for sequence, count in ((left, right), (right, left)):
        if isinstance(sequence, str | list | tuple) and isinstance(count, int):
            size = weight(sequence) * max(count, 0)
            budget.allow(size)
            if not isinstance(sequence, str):
                budget.spend(len(sequence) * max(count, 0))
            return
    if isinstance(left, int) and isinstance(right, int):
        _check_int_bits(left.bit_length() + right.bit_length())


def check_power(left: Any, right: Any) -> None:
    """Refuse ``left ** right`` for an integer result past MAX_INT_BITS."""
    if isinstance(left, int) and isinstance(right, int) and right > 0:
        _check_int_bits(max(left.bit_length(), 1) * right)


def _check_int_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise BudgetExceeded(f"an integer of more than {MAX_INT_BITS:,} bits")


def check_sum(budget: Budget, left: Any, right: Any) -> None:
    """Charge ``left + right`` of two strings or sequences for what it builds."""
    if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
        budget.allow(weight(left) + weight(right))


def check_printf(budget: Budget, template: Any, args: Any) -> None:
    """Refuse ``template % args`` when a bound on its length is over the limit."""
    if not isinstance(template, str):
        return
    conversions = _PRINTF_CONVERSION.findall(template)
    values = args.values() if isinstance(args, Mapping) else args
    if not isinstance(values, Iterable) or isinstance(values, str):
        values = (args,)
    stars = "*" in template  # a "*" width or precision takes its number from the arguments
    widest = max((_printed(value, stars) for value in values), default=0)
    for width, precision in conversions:
        for number in (width, precision):
            if number.isdigit():
                widest = max(widest, int(number))
    budget.allow(len(template) + len(conversions) * widest)


def _printed(value: Any, stars: bool) -> int:
    if stars and isinstance(value, int) and not isinstance(value, bool):
        return max(value, len(str(value)))
    return weight(value) if isinstance(value, str | list | tuple | dict | int) else 32


def check_str_method(budget: Budget, method: Any, args: tuple[Any, ...]) -> None:
    """Refuse a str method call whose result could be over the limit (padding, replace,
    expandtabs, join), before it runs."""
    owner = getattr(method, "__self__", None)
    if not isinstance(owner, str):
        return
    name = getattr(method, "__name__", "")
    if name in ("center", "ljust", "rjust", "zfill") and args and isinstance(args[0], int):
        budget.allow(max(args[0], len(owner)))
    elif name == "expandtabs":
        size = args[0] if args and isinstance(args[0], int) else 8
        budget.allow(len(owner) + owner.count("\t") * max(size, 0))
    elif name == "replace" and len(args) >= 2:
        budget.allow(_replaced_size(owner, args[0], args[1]))
    elif name == "join" and args and isinstance(args[0], list | tuple):
        budget.allow(weight(args[0]) + len(owner) * len(args[0]))


def _replaced_size(value: str, old: Any, new: Any) -> int:
    if not isinstance(old, str) or not isinstance(new, str):
        return len(value)
    count = value.count(old) if old else len(value) + 1
    return len(value) + count * max(len(new) - len(old), 0)


class BoundedFormatter(SandboxedFormatter):
    """The sandbox's str.format, with each field's width checked before it is padded and
    what each field prints charged as it goes (the fields are joined at the end)."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        budget = current()
        for number in _NUMBER.findall(format_spec):
            budget.allow(int(number))
        formatted = super().format_field(value, format_spec)
        budget.allow(len(formatted))
        return formatted


class BoundedEscapeFormatter(BoundedFormatter, string.Formatter):
    """BoundedFormatter for Markup.format: each value escaped, as Jinja's escape formatter."""

    def __init__(self, env: Any, escape: Callable[[Any], Markup]) -> None:
        self.escape = escape
        super().__init__(env)

    def format_field(self, value: Any, format_spec: str) -> Any:
        if hasattr(value, "__html_format__"):
            value = value.__html_format__(format_spec)
            format_spec = ""
        elif hasattr(value, "__html__"):
            if format_spec:
                raise ValueError(f"Format specifier {format_spec} given, but {type(value)}")
            value = value.__html__()
        return self.escape(super().format_field(value, str(format_spec)))


def budget_range(*args: int) -> range:
    """The sandbox's range(), charged its length: ``range(100000)|sum`` in a loop adds up."""
    numbers = safe_range(*args)
    current().spend(len(numbers))
    return numbers


def loop_items(value: Any) -> Any:
    """A {% for %}'s iterable, charged its length (or each item, if it has none)."""
    budget = current()
    try:
        length = len(value)
    except TypeError:
        return _counted(value, budget)
    budget.spend(length)
    return value


def _counted(items: Iterable[Any], budget: Budget) -> Iterator[Any]:
    for item in items:
        budget.spend(1)
        yield item


def join_values(values: tuple[Any, ...], autoescape: bool) -> str:
    """``a ~ b``: Jinja's markup_join / str_join, charged for what it builds."""
    joined: str = markup_join(values) if autoescape else str_join(values)
    current().allow(len(joined))
    return joined


# Filters that pad or repeat, with a bound on their result from their arguments.
def _center_bound(value: Any, width: Any = 80) -> int:
    return max(width, 0) if isinstance(width, int) else 0


def _indent_bound(value: Any, width: Any = 4, *args: Any, **kwargs: Any) -> int:
    text = str(value)
    per_line = width if isinstance(width, int) else len(str(width))
    return len(text) + (text.count("\n") + 1) * max(per_line, 0)


def _replace_bound(value: Any, old: Any = "", new: Any = "", *args: Any) -> int:
    return _replaced_size(str(value), old, new)


def _count_bound(value: Any, count: Any = 0, *args: Any, **kwargs: Any) -> int:
    return max(count, 0) if isinstance(count, int) else 0  # batch(linecount), slice(slices)


def _format_bound(value: Any, *args: Any, **kwargs: Any) -> int:
    check_printf(current(), str(value), kwargs or args)
    return 0


_FILTER_BOUNDS: dict[str, Callable[..., int]] = {
    "center": _center_bound,
    "indent": _indent_bound,
    "replace": _replace_bound,
    "batch": _count_bound,
    "slice": _count_bound,
    "format": _format_bound,
}


def bounded_filters(filters: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """Each filter wrapped to spend an operation and check its result's length; the padding
    ones check a bound first. ``join`` gets its items' length checked before joining."""
    wrapped = {name: _charged(name, function) for name, function in filters.items()}
    wrapped[LOOP_FILTER] = loop_items
    return wrapped


def _charged(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    bound = _FILTER_BOUNDS.get(name)
    # pass_context & co. put an argument before the value: skip it to find the value.
    skip = 1 if getattr(function, "jinja_pass_arg", None) is not None else 0
    joins = name == "join"

    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        budget = current()
        budget.spend(1)
        if bound is not None:
            budget.allow(bound(*args[skip:], **kwargs))
        if joins and len(args) > skip:
            items = list(args[skip])
            separator = args[skip + 1] if len(args) > skip + 1 else kwargs.get("d", "")
            budget.spend(len(items))
            budget.allow(weight(items) + len(str(separator)) * len(items))
            args = (*args[:skip], items, *args[skip + 1 :])
        result = function(*args, **kwargs)
        if isinstance(result, str):
            budget.allow(len(result))
        return result

    return run


class LoopCodeGenerator(CodeGenerator):
    """Jinja's code generator, with each {% for %}'s iterable passed through LOOP_FILTER
    (iterations are charged) and ``~`` through join_values (its result is charged)."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        for loop in node.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, LOOP_FILTER, [], [], None, None, lineno=loop.lineno)
        super().visit_Template(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.join_values((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("), context.eval_ctx.autoescape)")
