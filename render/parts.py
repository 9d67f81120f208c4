"""One part (subject, html or text) of a template rendered: which language's content, its
compiled form in the cache, and the render itself."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from render.sandbox import INLINE, TEMPLATES, Compiled, environment_for, render_compiled
from render.specs import TemplateContent, TemplateSpec


def select_content(spec: TemplateSpec, lang: str | None) -> tuple[str, TemplateContent]:
    """Return the language used and the content for ``lang``: its translation, else master.

    "es-MX" falls back to "es" before the master language.
    """
    if lang and lang != spec.lang:
        for candidate in (lang, lang.split("-", 1)[0]):
            translation = spec.translations.get(candidate)
            if translation is not None:
                return candidate, translation
    return spec.lang, TemplateContent(spec.subject, spec.html, spec.text)


def render_stored(
    spec: TemplateSpec, lang: str, part: str, source: str, context: Mapping[str, Any]
) -> str:
    """Render one part of a stored template, compiled once per (id, version, lang, part)."""
    if "{" not in source:  # no Jinja syntax at all: nothing to compile or render
        return source
    return render_compiled(
        compiled_part(spec, lang, part, source), context, f"Template `{spec.id}`", part
    )


def compiled_part(spec: TemplateSpec, lang: str, part: str, source: str) -> Compiled:
    """Return one part of a stored template compiled, from the cache when it is there."""
    return TEMPLATES.get(
        (spec.id, spec.version, lang, part), source, environment_for(part),
        f"template `{spec.id}` {part}",
    )  # fmt: skip


def render_inline_part(part: str, source: str, context: Mapping[str, Any]) -> str:
    """Render one part of inline content, compiled once per source."""
    if "{" not in source:
        return source
    key = (hashlib.sha256(source.encode()).hexdigest(), part)
    template = INLINE.get(key, source, environment_for(part), f"inline {part}")
    return render_compiled(template, context, "Inline content", part)


def one_line(subject: str) -> str:
    """Collapse whitespace, line breaks included: a subject is a single header line."""
    return " ".join(subject.split())
