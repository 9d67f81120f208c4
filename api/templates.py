"""`/templates`: stored templates with translations and typed variables, and their preview."""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app
from flask.views import MethodView
from marshmallow import ValidationError, fields, validate, validates_schema
from sqlalchemy import select

from api.auth import require_scope
from api.blueprint import Blueprint
from api.db import db
from api.errors import BadRequest, NotFound
from api.paging import newest_first, page
from api.schemas import (
    BaseSchema,
    check_attachment_keys,
    check_header_text,
    envelope,
    success,
)
from api.storage_checks import check_attachments
from mailroom.specs import TemplateLoader, load_brand
from models import Brand, Template, TemplateTranslation
from render import RenderError, check_template_source, finalize, render_template

bp = Blueprint("templates", __name__, description="Stored templates")

VARIABLE_NAME = validate.Regexp(
    r"^[A-Za-z_][A-Za-z0-9_]*$", error="`{input}` is not a valid variable name"
)
LANG = validate.Regexp(
    r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$", error="`{input}` is not a language tag"
)


class VariableSchema(BaseSchema):
    """One declared variable."""

    name = fields.String(required=True, validate=[validate.Length(max=100), VARIABLE_NAME])
    type = fields.String(
        load_default="text", validate=validate.OneOf(["text", "html", "draft", "template"])
    )
    required = fields.Boolean(load_default=False)
    default = fields.Raw(load_default=None, allow_none=True)


class ContentSchema(BaseSchema):
    """Subject and bodies in one language."""

    subject = fields.String(required=True, validate=validate.Length(min=1, max=998))
    html = fields.String(required=True)
    text = fields.String(load_default=None, allow_none=True)


class TemplateInSchema(BaseSchema):
    """The body of `POST /templates` and `PUT /templates/<id>`."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    lang = fields.String(load_default="en", validate=LANG)
    subject = fields.String(required=True, validate=validate.Length(min=1, max=998))
    html = fields.String(required=True)
    text = fields.String(load_default=None, allow_none=True)
    variables = fields.List(fields.Nested(VariableSchema), load_default=list)
    attachments = fields.List(fields.String(), load_default=list)
    brand_id = fields.UUID(data_key="brandId", load_default=None, allow_none=True)
    brand_styles = fields.Boolean(data_key="brandStyles", load_default=False)
    translations = fields.Dict(
        keys=fields.String(validate=LANG), values=fields.Nested(ContentSchema), load_default=dict
    )

    @validates_schema
    def _unique_variables(self, data: dict[str, Any], **_: Any) -> None:
        names = [v["name"] for v in data.get("variables", [])]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValidationError(f"variable `{duplicates[0]}` is declared twice")
        check_header_text("subject", data.get("subject", ""))
        check_attachment_keys(data.get("attachments", []))


class TemplateOutSchema(BaseSchema):
    """A template as the API shows it."""

    template_id = fields.UUID(data_key="templateId", attribute="id")
    name = fields.String()
    lang = fields.String()
    subject = fields.String()
    html = fields.String()
    text = fields.String(allow_none=True)
    variables = fields.List(fields.Nested(VariableSchema))
    attachments = fields.List(fields.String())
    brand_id = fields.UUID(data_key="brandId", allow_none=True)
    brand_styles = fields.Boolean(data_key="brandStyles")
    version = fields.Integer()
    translations = fields.Function(
        lambda t: {
            tr.lang: {"subject": tr.subject, "html": tr.html, "text": tr.text}
            for tr in t.translations
        }
    )
    created_at = fields.AwareDateTime(data_key="createdAt")
    updated_at = fields.AwareDateTime(data_key="updatedAt")


class TemplateListSchema(BaseSchema):
    """A page of templates."""

    items = fields.List(fields.Nested(TemplateOutSchema))
    next_cursor = fields.String(data_key="nextCursor", allow_none=True)


class PagingSchema(BaseSchema):
    """`limit` and `cursor` query parameters."""

    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String()


class PreviewInSchema(BaseSchema):
    """The body of `POST /templates/<id>/preview`."""

    variables = fields.Dict(keys=fields.String(), load_default=dict)
    lang = fields.String(load_default=None, allow_none=True)
    brand_styles = fields.Boolean(data_key="brandStyles", load_default=None, allow_none=True)
    custom_style = fields.String(data_key="customStyle", load_default=None, allow_none=True)


class PreviewOutSchema(BaseSchema):
    """What a preview renders."""

    subject = fields.String()
    html = fields.String(allow_none=True)
    text = fields.String(allow_none=True)


def _validate_and_apply(template: Template, data: dict[str, Any]) -> None:
    """Check the sources, brand and attachments, then copy `data` onto the row."""
    declared = [v["name"] for v in data["variables"]]
    try:
        check_template_source(data["subject"], data["html"], data["text"], declared)
        for lang, content in data["translations"].items():
            check_template_source(
                content["subject"], content["html"], content["text"], declared, lang=lang
            )
    except RenderError as err:
        raise BadRequest(err.message) from err
    if data["brand_id"] is not None and db().get(Brand, data["brand_id"]) is None:
        raise BadRequest(f"Brand `{data['brand_id']}` not found")
    check_attachments(current_app.extensions["mailroom.storage"], data["attachments"])
    for name in ("name", "lang", "subject", "html", "text", "attachments", "brand_id"):
        setattr(template, name, data[name])
    template.brand_styles = data["brand_styles"]
    template.variables = data["variables"]
    template.translations = [
        TemplateTranslation(lang=lang, **content) for lang, content in data["translations"].items()
    ]


def _get(template_id: uuid.UUID) -> Template:
    template = db().get(Template, template_id)
    if template is None:
        raise NotFound(f"Template `{template_id}` not found")
    return template


@bp.route("/templates")
class Templates(MethodView):
    """Create and list templates."""

    @require_scope("templates")
    @bp.arguments(TemplateInSchema)
    @bp.response(201, envelope("TemplateResponse", TemplateOutSchema))
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Store a template after checking its syntax and variable references."""
        template = Template(version=1)
        _validate_and_apply(template, data)
        db().add(template)
        db().commit()
        return success("Template created", template)

    @require_scope("templates")
    @bp.arguments(PagingSchema, location="query")
    @bp.response(200, envelope("TemplateListResponse", TemplateListSchema))
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Templates, newest first, a page at a time."""
        stmt = newest_first(select(Template), Template, query.get("cursor"), query["limit"])
        items, next_cursor = page(list(db().scalars(stmt)), query["limit"])
        return success(f"{len(items)} templates", {"items": items, "next_cursor": next_cursor})


@bp.route("/templates/<uuid:template_id>")
class TemplateById(MethodView):
    """Read, replace or delete one template."""

    @require_scope("templates")
    @bp.response(200, envelope("TemplateResponse", TemplateOutSchema))
    def get(self, template_id: uuid.UUID) -> dict[str, Any]:
        """One template with its translations."""
        return success("Template found", _get(template_id))

    @require_scope("templates")
    @bp.arguments(TemplateInSchema)
    @bp.response(200, envelope("TemplateResponse", TemplateOutSchema))
    def put(self, data: dict[str, Any], template_id: uuid.UUID) -> dict[str, Any]:
        """Replace a template; its version grows, emails already queued keep theirs."""
        template = _get(template_id)
        _validate_and_apply(template, data)
        template.version += 1
        db().commit()
        return success("Template updated", template)

    @require_scope("templates")
    @bp.response(200, envelope("TemplateDeleted", TemplateOutSchema))
    def delete(self, template_id: uuid.UUID) -> dict[str, Any]:
        """Delete a template; emails already accepted keep their rendered content."""
        template = _get(template_id)
        db().delete(template)
        db().commit()
        return success("Template deleted", template)


@bp.route("/templates/<uuid:template_id>/preview")
class TemplatePreview(MethodView):
    """Render without sending."""

    @require_scope("templates")
    @bp.arguments(PreviewInSchema)
    @bp.response(200, envelope("PreviewResponse", PreviewOutSchema))
    def post(self, data: dict[str, Any], template_id: uuid.UUID) -> dict[str, Any]:
        """Subject, html and text as an email from this template would carry them."""
        template = _get(template_id)
        loader = TemplateLoader(db())
        spec = loader.spec(str(template_id))
        assert spec is not None
        brand_styles = data["brand_styles"]
        if brand_styles is None:
            brand_styles = template.brand_styles
        try:
            rendered = render_template(
                spec, data["variables"], lang=data["lang"], lookup=loader.spec
            )
            final = finalize(
                rendered,
                brand=load_brand(db(), template.brand_id),
                brand_styles=brand_styles,
                custom_style=data["custom_style"],
            )
        except RenderError as err:
            raise BadRequest(err.message) from err
        return success("Template rendered", final)
