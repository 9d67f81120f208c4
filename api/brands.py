"""`/brands`: headers, footers and CSS that templates wrap their emails in."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from marshmallow import fields, validate

from api.auth import require_scope
from api.blueprint import Blueprint
from api.db import db
from api.errors import NotFound
from api.schemas import BaseSchema, envelope, success
from models import Brand

bp = Blueprint("brands", __name__, description="Brands for templates")


class BrandInSchema(BaseSchema):
    """The body of `POST /brands` and `PUT /brands/<id>`."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    header = fields.String(load_default="")
    footer = fields.String(load_default="")
    css = fields.String(load_default="")
    logo_url = fields.Url(
        data_key="logoUrl", load_default=None, allow_none=True, schemes={"http", "https"}
    )


class BrandOutSchema(BaseSchema):
    """A brand as the API shows it."""

    brand_id = fields.UUID(data_key="brandId", attribute="id")
    name = fields.String()
    header = fields.String()
    footer = fields.String()
    css = fields.String()
    logo_url = fields.String(data_key="logoUrl", allow_none=True)
    created_at = fields.AwareDateTime(data_key="createdAt")
    updated_at = fields.AwareDateTime(data_key="updatedAt")


def _get(brand_id: uuid.UUID) -> Brand:
    brand = db().get(Brand, brand_id)
    if brand is None:
        raise NotFound(f"Brand `{brand_id}` not found")
    return brand


@bp.route("/brands")
class Brands(MethodView):
    """Create brands."""

    @require_scope("templates")
    @bp.arguments(BrandInSchema)
    @bp.response(201, envelope("BrandResponse", BrandOutSchema))
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Store a brand."""
        brand = Brand(**data)
        db().add(brand)
        db().commit()
        return success("Brand created", brand)


@bp.route("/brands/<uuid:brand_id>")
class BrandById(MethodView):
    """Read, replace or delete one brand."""

    @require_scope("templates")
    @bp.response(200, envelope("BrandResponse", BrandOutSchema))
    def get(self, brand_id: uuid.UUID) -> dict[str, Any]:
        """One brand."""
        return success("Brand found", _get(brand_id))

    @require_scope("templates")
    @bp.arguments(BrandInSchema)
    @bp.response(200, envelope("BrandResponse", BrandOutSchema))
    def put(self, data: dict[str, Any], brand_id: uuid.UUID) -> dict[str, Any]:
        """Replace a brand; templates using it pick up the change."""
        brand = _get(brand_id)
        for name, value in data.items():
            setattr(brand, name, value)
        db().commit()
        return success("Brand updated", brand)

    @require_scope("templates")
    @bp.response(200, envelope("BrandDeleted", BrandOutSchema))
    def delete(self, brand_id: uuid.UUID) -> dict[str, Any]:
        """Delete a brand; templates using it lose their brand."""
        brand = _get(brand_id)
        db().delete(brand)
        db().commit()
        return success("Brand deleted", brand)
