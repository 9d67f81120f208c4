"""Rendering of emails: plain data in, ``Rendered(subject, html, text)`` out.

Templates run in a Jinja2 sandbox; variable values are data (escaped text, cleaned HTML,
Draft.js documents, nested templates one level deep); ``finalize`` adds the brand, inlines
the CSS and derives the text part. Every render is bounded by a ``RenderLimits`` (output,
characters built, operations, wall time: see render/budget.py), a keyword argument of
``render_template``, ``render_inline`` and ``finalize`` with ``DEFAULT_LIMITS`` as default.
Nothing here imports the rest of Mailroom.
"""

from render.budget import DEFAULT_LIMITS, RenderLimits
from render.caches import cache_info, clear_caches
from render.errors import RenderError
from render.finalize import finalize
from render.lru import CacheInfo
from render.source_check import check_template_source
from render.specs import (
    BrandSpec,
    Rendered,
    TemplateContent,
    TemplateLookup,
    TemplateSpec,
    VariableSpec,
    VariableType,
)
from render.templates import check_variables, render_inline, render_template

__all__ = [
    "BrandSpec",
    "CacheInfo",
    "DEFAULT_LIMITS",
    "RenderError",
    "RenderLimits",
    "Rendered",
    "TemplateContent",
    "TemplateLookup",
    "TemplateSpec",
    "VariableSpec",
    "VariableType",
    "cache_info",
    "check_template_source",
    "check_variables",
    "clear_caches",
    "finalize",
    "render_inline",
    "render_template",
]
