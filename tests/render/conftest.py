"""Builders for the render tests: templates as plain data and a dict-backed lookup."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, cast

import pytest

from render import TemplateContent, TemplateSpec, VariableSpec, VariableType, clear_caches


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    """Each test starts with empty caches, so cache counters and memo hits are its own."""
    clear_caches()
    yield
    clear_caches()


@pytest.fixture
def make_template() -> Callable[..., TemplateSpec]:
    """Build a TemplateSpec; ``variables`` maps a name to a type or to a VariableSpec."""

    def make(
        template_id: str = "tpl",
        *,
        subject: str = "Subject",
        html: str = "<p>Body</p>",
        text: str | None = None,
        variables: Mapping[str, str | VariableSpec] | None = None,
        translations: Mapping[str, TemplateContent] | None = None,
        lang: str = "en",
        version: int = 1,
    ) -> TemplateSpec:
        declared = tuple(
            spec if isinstance(spec, VariableSpec) else VariableSpec(name, cast(VariableType, spec))
            for name, spec in (variables or {}).items()
        )
        return TemplateSpec(
            id=template_id,
            version=version,
            lang=lang,
            subject=subject,
            html=html,
            text=text,
            variables=declared,
            translations=dict(translations or {}),
        )

    return make


class Lookup:
    """A template lookup over a dict that records which ids were asked for."""

    def __init__(self, *specs: TemplateSpec) -> None:
        self.specs = {spec.id: spec for spec in specs}
        self.asked: list[str] = []

    def __call__(self, template_id: str) -> TemplateSpec | None:
        self.asked.append(template_id)
        return self.specs.get(template_id)


@pytest.fixture
def lookup_of() -> Callable[..., Any]:
    """Build a Lookup (a callable TemplateLookup with an ``asked`` list) from specs."""
    return Lookup
