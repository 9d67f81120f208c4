"""CSS inlining: mail clients drop <style> elements, so rules go into style= attributes."""

from __future__ import annotations

import re

import css_inline

from render.errors import RenderError

# A whole document keeps its <html>/<head>/<body>; inline_fragment would strip them.
_DOCUMENT = re.compile(r"<html[\s>]|<!doctype\s", re.IGNORECASE)
_STYLE_TAG = re.compile(r"<style[\s>]", re.IGNORECASE)

# Never fetch <link rel="stylesheet"> targets: a template must not make a worker call URLs.
_FRAGMENT_INLINER = css_inline.CSSInliner(load_remote_stylesheets=False)

# A caller's customStyle may restyle the email, nothing more: nothing that loads a resource
# (a tracking pixel, a font from elsewhere, another stylesheet), runs script in old clients,
# or leaves the CSS. Checked on the CSS as a browser would read it: comments out, escapes
# ("u\72l(") decoded, case and whitespace ignored.
MAX_CUSTOM_STYLE_CHARS = 100_000
_REFUSED = (
    ("url(", "url()"),
    ("image-set(", "image-set()"),
    ("expression(", "expression()"),
    ("@import", "@import"),
    ("javascript:", "javascript:"),
    ("vbscript:", "vbscript:"),
    ("behavior:", "behavior"),
    ("behaviour:", "behaviour"),
    ("-moz-binding", "-moz-binding"),
    ("<", "<"),
)
_COMMENT = re.compile(r"/\*.*?(?:\*/|\Z)", re.DOTALL)
_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})[ \t\r\n\f]?|(.))", re.DOTALL)
_WHITESPACE = re.compile(r"[\s\x00]+")


def is_document(markup: str) -> bool:
    """Tell whether ``markup`` is a whole HTML document rather than a fragment."""
    return _DOCUMENT.search(markup) is not None


def check_custom_style(css: str) -> None:
    """Raise a RenderError naming what ``css`` uses that a customStyle may not (see
    docs/reliability.md, "What a caller cannot do")."""
    if len(css) > MAX_CUSTOM_STYLE_CHARS:
        raise RenderError(f"customStyle is longer than {MAX_CUSTOM_STYLE_CHARS:,} characters")
    read = _WHITESPACE.sub("", _ESCAPE.sub(_unescape, _COMMENT.sub("", css))).lower()
    for needle, name in _REFUSED:
        if needle in read:
            raise RenderError(
                f"customStyle may not use `{name}`: styles may not load resources or run script"
            )


def _unescape(match: re.Match[str]) -> str:
    digits, char = match.groups()
    if digits is None:
        return str(char)
    code = int(digits, 16)
    return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"


def inline_css(markup: str, css: str) -> str:
    """Return ``markup`` with ``css`` and its own <style> rules moved into style= attributes."""
    if not css.strip() and _STYLE_TAG.search(markup) is None:
        return markup
    try:
        if is_document(markup):
            # extra_css is a constructor option; building an inliner costs under a microsecond.
            inliner = css_inline.CSSInliner(load_remote_stylesheets=False, extra_css=css)
            return inliner.inline(markup)
        return _FRAGMENT_INLINER.inline_fragment(markup, css)
    except css_inline.InlineError as err:
        raise RenderError(f"Styles could not be inlined: {err}") from err
