"""Text processing in render/ stays linear on inputs of a few MB.

Each case runs in a subprocess with a timeout far above what a linear pass needs (well under
a second here) and far below what the quadratic versions took (40,000 blanks in a <pre> took
1.4 s, 400 kB minutes, so 4 MB would take hours): the bound is that gap, not a duration.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

GENEROUS_SECONDS = 120

CASES = {
    "blanks in a pre": (
        "from render.text import html_to_text\n"
        "assert html_to_text('<pre>' + ' ' * 4_000_000 + 'x</pre>').endswith('x')"
    ),
    "blanks and tabs": (
        "from render.text import html_to_text\n"
        "assert html_to_text('<p>a' + ' \\t' * 2_000_000 + '</p>\\n\\n\\n<p>b</p>') == 'a\\n\\nb'"
    ),
    "body tags without an end": (
        "from render.brand import wrap_in_brand\nfrom render import BrandSpec\n"
        "markup = '<!doctype html>' + '<body' * 800_000\n"
        "assert wrap_in_brand(markup, BrandSpec('b', 'H', 'F', '')) == 'H' + markup + 'F'"
    ),
    "unclosed mapping keys in %-formatting": (
        "from render import render_inline, RenderError\n"
        "try:\n"
        "    render_inline('s', '{{ s % {} }}', None, {'s': '%(' * 1_500_000})\n"
        "except RenderError as err:\n"
        "    assert 'could not be rendered' in err.message, err.message\n"
    ),
    "a long text part derived": (
        "from render import finalize, Rendered\n"
        "html = '<p>' + 'word ' * 600_000 + '</p>'\n"
        "text = finalize(Rendered('s', html, None), brand=None, brand_styles=False,"
        " custom_style=None).text\n"
        "assert text is not None and len(text) == 3_000_000 - 1"
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_megabytes_of_input_are_processed_in_linear_time(case: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", CASES[case]],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=GENEROUS_SECONDS,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
