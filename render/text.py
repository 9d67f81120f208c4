"""The plain-text alternative, derived from HTML with inscriptis (Apache-2.0).

inscriptis lays the text out as a browser would (blocks, lists, tables, ``<pre>``), with
links kept as ``[label](url)`` and images as ``[alt]``, and wraps no lines.
"""

from __future__ import annotations

import re

from inscriptis import get_text
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig

# The "strict" profile: no indentation added to every block (the "relaxed" one pads divs).
_CONFIG = ParserConfig(css=CSS_PROFILES["strict"], display_links=True, display_images=True)
_BLANK_LINES = re.compile(r"\n{3,}")


def html_to_text(markup: str) -> str:
    """Return a plain-text rendering of ``markup``: links kept as ``[label](url)``, no wrapping."""
    if not markup.strip():
        return ""  # lxml refuses an empty document
    text = get_text(markup, _CONFIG)
    # Trailing blanks of each line, by line: a regex such as "[ \t]+\n" tries again from
    # every blank of a long run that no newline ends (quadratic in the run's length).
    text = "\n".join(line.rstrip(" \t") for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()
