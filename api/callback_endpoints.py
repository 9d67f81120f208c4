"""`/webhooks/endpoints`: where a caller wants status changes POSTed, and how that went."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from flask.views import MethodView
from marshmallow import fields, validate
from sqlalchemy import select

from api.auth import require_scope
from api.blueprint import Blueprint
from api.db import db
from api.errors import NotFound
from api.schemas import BaseSchema, envelope, success
from models import CallbackDelivery, EmailStatus, WebhookEndpoint
from store.outbox import TRACKING_EVENTS, forget_endpoints

# Statuses, and the tracking events (sent only to an endpoint that names them).
EVENT_NAMES = [*(s.value for s in EmailStatus), *TRACKING_EVENTS]

bp = Blueprint("callback_endpoints", __name__, description="Status callbacks to your URLs")


class EndpointInSchema(BaseSchema):
    """The body of `POST /webhooks/endpoints`."""

    url = fields.Url(required=True, schemes={"http", "https"}, require_tld=False)
    events = fields.List(
        fields.String(validate=validate.OneOf(EVENT_NAMES)),
        load_default=list,
        metadata={
            "description": "statuses to receive (empty: all); `opened`, `clicked` only when named"
        },
    )
    secret = fields.String(validate=validate.Length(min=16, max=200), load_default=None)


class EndpointOutSchema(BaseSchema):
    """An endpoint; the secret is shown only when it is created."""

    endpoint_id = fields.UUID(data_key="endpointId", attribute="id")
    url = fields.String()
    events = fields.List(fields.String())
    active = fields.Boolean()
    secret = fields.String(allow_none=True)
    created_at = fields.AwareDateTime(data_key="createdAt")


class DeliverySchema(BaseSchema):
    """One status change sent (or being sent) to an endpoint."""

    delivery_id = fields.UUID(data_key="deliveryId", attribute="id")
    email_id = fields.UUID(data_key="emailId")
    event = fields.String()
    state = fields.String()
    attempts = fields.Integer()
    last_status_code = fields.Integer(data_key="lastStatusCode", allow_none=True)
    last_error = fields.String(data_key="lastError", allow_none=True)
    next_attempt_at = fields.AwareDateTime(data_key="nextAttemptAt")
    created_at = fields.AwareDateTime(data_key="createdAt")
    delivered_at = fields.AwareDateTime(data_key="deliveredAt", allow_none=True)


class EndpointListSchema(BaseSchema):
    """Every endpoint."""

    items = fields.List(fields.Nested(EndpointOutSchema))


class DeliveryListSchema(BaseSchema):
    """An endpoint's latest deliveries."""

    items = fields.List(fields.Nested(DeliverySchema))


def _shown(endpoint: WebhookEndpoint, secret: str | None = None) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": endpoint.events,
        "active": endpoint.active,
        "secret": secret,
        "created_at": endpoint.created_at,
    }


@bp.route("/webhooks/endpoints")
class Endpoints(MethodView):
    """Register and list callback endpoints."""

    @require_scope("admin")
    @bp.arguments(EndpointInSchema)
    @bp.response(201, envelope("EndpointResponse", EndpointOutSchema))
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Register a URL; the answer shows its signing secret once."""
        secret = data["secret"] or secrets.token_urlsafe(32)
        endpoint = WebhookEndpoint(url=data["url"], events=data["events"], secret=secret)
        db().add(endpoint)
        db().commit()
        forget_endpoints()
        return success("Endpoint registered", _shown(endpoint, secret))

    @require_scope("admin")
    @bp.response(200, envelope("EndpointListResponse", EndpointListSchema))
    def get(self) -> dict[str, Any]:
        """Every registered endpoint (secrets are not shown)."""
        rows = db().scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.created_at))
        return success("Endpoints", {"items": [_shown(e) for e in rows]})


@bp.route("/webhooks/endpoints/<uuid:endpoint_id>")
class EndpointById(MethodView):
    """Remove an endpoint."""

    @require_scope("admin")
    @bp.response(200, envelope("EndpointResponse", EndpointOutSchema))
    def delete(self, endpoint_id: uuid.UUID) -> dict[str, Any]:
        """Stop sending to this endpoint; pending deliveries are dropped."""
        endpoint = db().get(WebhookEndpoint, endpoint_id)
        if endpoint is None:
            raise NotFound(f"Endpoint `{endpoint_id}` not found")
        shown = _shown(endpoint)
        db().delete(endpoint)
        db().commit()
        forget_endpoints()
        return success("Endpoint removed", shown)


@bp.route("/webhooks/endpoints/<uuid:endpoint_id>/deliveries")
class EndpointDeliveries(MethodView):
    """Delivery attempts to one endpoint."""

    @require_scope("admin")
    @bp.response(200, envelope("DeliveryListResponse", DeliveryListSchema))
    def get(self, endpoint_id: uuid.UUID) -> dict[str, Any]:
        """The latest 200 deliveries, newest first, with their attempts and last answer."""
        if db().get(WebhookEndpoint, endpoint_id) is None:
            raise NotFound(f"Endpoint `{endpoint_id}` not found")
        rows = db().scalars(
            select(CallbackDelivery)
            .where(CallbackDelivery.endpoint_id == endpoint_id)
            .order_by(CallbackDelivery.created_at.desc())
            .limit(200)
        )
        return success("Deliveries", {"items": list(rows)})
