"""Plain data the render layer takes in and gives back; callers build these from their DB rows."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

VariableType = Literal["text", "html", "draft", "template"]


@dataclass(frozen=True)
class Rendered:
    """A rendered email body: the subject line, the HTML part and the plain-text part."""

    subject: str
    html: str | None
    text: str | None


@dataclass(frozen=True)
class VariableSpec:
    """A variable a template declares; ``default`` is used when the caller gives no value."""

    name: str
    type: VariableType
    required: bool = False
    default: Any = None


@dataclass(frozen=True)
class TemplateContent:
    """The three sources of one language of a template."""

    subject: str
    html: str
    text: str | None


@dataclass(frozen=True)
class TemplateSpec:
    """A stored template: master content in ``lang`` plus translations keyed by language.

    ``(id, version)`` must change whenever the content does: compiled templates are cached
    under ``(id, version, lang, part)``.
    """

    id: str
    version: int
    lang: str
    subject: str
    html: str
    text: str | None
    variables: tuple[VariableSpec, ...] = ()
    translations: Mapping[str, TemplateContent] = field(default_factory=dict)


@dataclass(frozen=True)
class BrandSpec:
    """A brand: HTML put around the body, CSS inlined into it, and an optional logo."""

    name: str
    header: str
    footer: str
    css: str
    logo_url: str | None = None


TemplateLookup = Callable[[str], TemplateSpec | None]
