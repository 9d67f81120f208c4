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


def is_document(markup: str) -> bool:
    """Tell whether ``markup`` is a whole HTML document rather than a fragment."""
    return _DOCUMENT.search(markup) is not None


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
