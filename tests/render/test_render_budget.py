"""Every render is bounded in output, characters built, operations and time (RenderLimits).

Each probe below built 100-200 MB or ran for seconds before the budget; here each must stop
with a RenderError naming the limit, having allocated little (tracemalloc's peak, a count of
bytes, not a duration).
"""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest

from render import (
    RenderError,
    RenderLimits,
    TemplateSpec,
    VariableSpec,
    render_inline,
    render_template,
)
from render.budget import ACTIVE, Budget
from render.sandbox import HTML_ENV, INLINE, render_compiled

UNTIMED = RenderLimits(max_seconds=3600)
OUTPUT = "a result longer than 5,000,000 characters (max_output_chars)"
PROBES = {
    "center": ("{{ 'a'|center(10**8) }}", OUTPUT),
    "printf width": ("{{ '%0100000000d' % 1 }}", OUTPUT),
    "printf star": ("{{ '%*d' % (100000000, 1) }}", OUTPUT),
    "format width": ("{{ '{:>100000000}'.format(x) }}", OUTPUT),
    "format map": ("{{ '{a:>100000000}'.format_map({'a': 1}) }}", OUTPUT),
    "ljust": ("{{ 'a'.ljust(10**8) }}", OUTPUT),
    "rjust": ("{{ 'a'.rjust(10**8) }}", OUTPUT),
    "str replace": ("{{ ('a'*100000).replace('a', 'a'*2000) }}", OUTPUT),
    "replace filter": ("{{ ('a'*100000)|replace('a', 'a'*2000) }}", OUTPUT),
    "indent": ("{{ ('\n'*100000)|indent(2000) }}", OUTPUT),
    "join filter": ("{{ ([('a'*100000)]*2000)|join }}", OUTPUT),
    "join of a generator": ("{{ (['a']*99)|map('center', 60000)|join }}", OUTPUT),
    "str join": ("{{ ''.join(['a'*100000]*2000) }}", OUTPUT),
    "repeated field": ("{{ ('{0}'*30000).format('a'*100000) }}", "(max_built_chars)"),
    "printf mapping": ("{{ ('%(a)s'*20000) % {'a': 'a'*100000} }}", OUTPUT),
    "list of big ints": ("{{ [10**4000]*100000 }}", OUTPUT),
    "power tower": ("{{ ((((9**100)**100)**100)**100) }}", "an integer of more than 100,000 bits"),
    "product of ints": ("{% set n = 9**5000 %}{{ n * n * n * n * n * n * n * n * n }}",
                        "an integer of more than 100,000 bits"),  # fmt: skip
    "nested loops": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "more than 1,000,000 operations (max_operations)",
    ),
    "loop over a generator": (
        "{% for i in range(1000) %}{% for j in range(100000)|select %}{% endfor %}"
        "{% endfor %}",
        "(max_operations)",
    ),
    "sum in a loop": (
        "{% for i in range(1000) %}{{ range(100000)|sum }}{% endfor %}", "(max_operations)",
    ),
    "doubling with ~": (
        "{% set ns = namespace(s='ab') %}{% for i in range(40) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
        OUTPUT,
    ),
    "doubling with +": (
        "{% set ns = namespace(s='ab') %}{% for i in range(40) %}"
        "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}",
        OUTPUT,
    ),
    "output of a loop": (
        "{% for i in range(100000) %}{{ x }}{% endfor %}", "output longer than 5,000,000",
    ),
    "macro buffer": (
        "{% macro m() %}{% for i in range(100000) %}{{ x }}{% endfor %}{% endmacro %}{{ m() }}",
        "output longer than 5,000,000",
    ),
    "batch": ("{{ [1]|batch(10**8, 'x')|list }}", OUTPUT),
    "slice": ("{{ [1]|slice(10**8)|list }}", OUTPUT),
}  # fmt: skip


@pytest.mark.parametrize("probe", list(PROBES))
def test_each_probe_is_stopped_before_it_allocates_much(probe: str) -> None:
    source, reason = PROBES[probe]
    variables = {"x": "y" * 100}
    tracemalloc.start()
    try:
        with pytest.raises(RenderError) as caught:
            # No deadline: what stops each probe is the count it is meant to reach.
            render_inline("s", source, None, variables, limits=UNTIMED)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert caught.value.message.startswith(
        "Inline content went over its render budget in its html: "
    ), caught.value.message
    assert reason in caught.value.message
    assert peak < 30_000_000, f"{probe}: {peak:,} bytes"


def test_the_limits_are_parameters_of_the_render() -> None:
    source = "{{ 'a'|center(n) }}"
    assert render_inline("s", source, None, {"n": 6_000_000}, limits=RenderLimits(
        max_output_chars=7_000_000)).html == "a".center(6_000_000)  # fmt: skip
    with pytest.raises(RenderError, match=r"longer than 10 characters \(max_output_chars\)"):
        render_inline("s", source, None, {"n": 11}, limits=RenderLimits(max_output_chars=10))
    loop = "{% for i in range(100) %}{{ i }}{% endfor %}"
    render_inline("s", loop, None, {}, limits=RenderLimits(max_operations=300))
    with pytest.raises(RenderError, match=r"more than 50 operations \(max_operations\)"):
        render_inline("s", loop, None, {}, limits=RenderLimits(max_operations=50))


def test_the_clock_is_read_as_operations_go() -> None:
    # max_seconds=0: the deadline has passed by the first reading of the clock.
    loop = "{% for i in range(1000) %}{{ i }}{% endfor %}"
    with pytest.raises(RenderError, match=r"ran longer than 0 s \(max_seconds\)"):
        render_inline("s", loop, None, {}, limits=RenderLimits(max_seconds=0))
    render_inline("s", "{{ 1 + 1 }}", None, {}, limits=RenderLimits(max_seconds=0))  # no clock


def test_nested_templates_share_the_budget_of_their_email() -> None:
    row = TemplateSpec("row", 1, "en", "s", "{% for i in range(50) %}{{ N }}{% endfor %}", None,
                       (VariableSpec("N", "text"),))  # fmt: skip
    parent = TemplateSpec("p", 1, "en", "s", "{{ ITEMS }}", None,
                          (VariableSpec("ITEMS", "template"),))  # fmt: skip
    # 20 x (50 for range() + 50 iterations, and a few more)
    items = [{"templateId": "row", "variables": {"N": n}} for n in range(20)]
    lookup = {"row": row}.get
    # The failing render first: the rows the passing one renders are memoised after it.
    with pytest.raises(RenderError, match=r"\(max_operations\)"):
        render_template(parent, {"ITEMS": items}, lang=None, lookup=lookup,
                        limits=RenderLimits(max_operations=1_500))  # fmt: skip
    render_template(parent, {"ITEMS": items}, lang=None, lookup=lookup,
                    limits=RenderLimits(max_operations=2_500))  # fmt: skip


def test_everyday_templates_stay_far_inside_the_budget() -> None:
    source = (
        "{% for row in rows %}<tr><td>{{ row.name|title }}</td><td>{{ '%.2f' % row.price }}"
        "</td><td>{{ '{:>6}'.format(row.qty) }}</td></tr>{% endfor %}{{ rows|length }}"
        "{{ note|replace('x', 'y')|center(40) }}{{ ' '.join(['a', 'b']) }}{{ 'a' ~ 1 }}"
    )
    rows = [{"name": f"item {i}", "price": i * 1.5, "qty": i} for i in range(200)]
    compiled = INLINE.get("everyday", source, HTML_ENV, "test")
    budget = Budget(RenderLimits())
    token = ACTIVE.set(budget)
    try:
        html = render_compiled(compiled, {"rows": rows, "note": "x"}, "Test", "html")
    finally:
        ACTIVE.reset(token)
    assert html is not None and "<td>Item 199</td><td>298.50</td><td>   199</td>" in html
    assert budget.operations < 2_000 and budget.built < 100_000


class _Exhausting:
    def __html__(self) -> str:
        raise MemoryError


def test_running_out_of_memory_is_a_render_error() -> None:
    compiled = INLINE.get("oom", "<p>{{ A }}{% if A %}!{% endif %}</p>", HTML_ENV, "test")
    context: dict[str, Any] = {"A": _Exhausting()}
    with pytest.raises(RenderError, match=r"^Test ran out of memory in its html$"):
        render_compiled(compiled, context, "Test", "html")


def test_numbers_that_are_values_are_not_taken_for_widths() -> None:
    html = render_inline("s", "{{ '%d items, %s' % (n, 'x') }}", None, {"n": 12_345_678}).html
    assert html == "12345678 items, x"
    assert render_inline("s", "{{ '%*d' % (3, n) }}", None, {"n": 7}).html == "  7"
