"""The plain-text alternative, derived from HTML with html2text."""

from __future__ import annotations

import re

import html2text

# html2text writes Markdown and backslash-escapes characters Markdown would read as syntax
# ("1\. one", "\- dash"); a plain-text reader sees the backslashes, so they are taken back out.
_MARKDOWN_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!>])")
_BLANK_LINES = re.compile(r"\n{3,}")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")


def html_to_text(markup: str) -> str:
    """Return a plain-text rendering of ``markup``: links kept as ``[label](url)``, no wrapping."""
    # HTML2Text is a stateful HTMLParser, so each call needs its own.
    converter = html2text.HTML2Text(bodywidth=0)
    converter.unicode_snob = True  # keep "café" and "€" rather than ASCII look-alikes
    converter.ignore_emphasis = True  # "**" and "_" read as noise in a text part
    converter.images_to_alt = True
    text = converter.handle(markup)
    text = _MARKDOWN_ESCAPE.sub(r"\1", text)
    text = _TRAILING_SPACE.sub("\n", text)
    return _BLANK_LINES.sub("\n\n", text).strip()
