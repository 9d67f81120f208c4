"""Stored templates and brands as the plain specs `render/` takes (used by API and workers)."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from models import Brand, Template
from render import BrandSpec, TemplateContent, TemplateSpec, VariableSpec


def template_spec(template: Template) -> TemplateSpec:
    """A template row, its declarations and translations, as render's plain data."""
    return TemplateSpec(
        id=str(template.id),
        version=template.version,
        lang=template.lang,
        subject=template.subject,
        html=template.html,
        text=template.text,
        variables=tuple(
            VariableSpec(
                name=v["name"],
                type=v["type"],
                required=bool(v.get("required", False)),
                default=v.get("default"),
            )
            for v in template.variables
        ),
        translations={
            t.lang: TemplateContent(subject=t.subject, html=t.html, text=t.text)
            for t in template.translations
        },
    )


def brand_spec(brand: Brand) -> BrandSpec:
    """A brand row as render's plain data."""
    return BrandSpec(
        name=brand.name,
        header=brand.header,
        footer=brand.footer,
        css=brand.css,
        logo_url=brand.logo_url,
    )


class TemplateLoader:
    """Looks templates up by id for one request or task, each row read once."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._rows: dict[str, Template | None] = {}
        self._specs: dict[str, TemplateSpec | None] = {}

    def row(self, template_id: str) -> Template | None:
        """The template row, or None for an unknown or malformed id."""
        if template_id not in self._rows:
            try:
                key = uuid.UUID(str(template_id))
            except ValueError:
                self._rows[template_id] = None
            else:
                self._rows[template_id] = self.session.get(Template, key)
        return self._rows[template_id]

    def spec(self, template_id: str) -> TemplateSpec | None:
        """The template as a spec; render's `TemplateLookup`."""
        if template_id not in self._specs:
            row = self.row(template_id)
            self._specs[template_id] = template_spec(row) if row is not None else None
        return self._specs[template_id]


def load_brand(session: Session, brand_id: uuid.UUID | None) -> BrandSpec | None:
    """The brand as a spec, or None."""
    if brand_id is None:
        return None
    brand = session.get(Brand, brand_id)
    return brand_spec(brand) if brand is not None else None
