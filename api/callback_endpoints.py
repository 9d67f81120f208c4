"""`/webhooks/endpoints`: where a caller wants status changes POSTed, and how that went."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from marshmallow import fields, validate
from sqlalchemy import select

from api.auth import require_scope
from api.blueprint import Blueprint
from api.db import db
from api.errors import BadRequest, NotFound
from api.schemas import BaseSchema, envelope, success
from models import CallbackDelivery, WebhookEndpoint
from models.callback_events import (
    EVENT_TYPES,
    EVENT_WORDS,
    SECRET_PREFIX,
    is_standard,
    new_secret,
    short_word,
)
from store.outbox import forget_endpoints

bp = Blueprint("callback_endpoints", __name__, description="Status callbacks to your URLs")


class EndpointInSchema(BaseSchema):
    """The body of `POST /webhooks/endpoints`."""

    url = fields.Url(required=True, schemes={"http", "https"}, require_tld=False)
    events = fields.List(
        fields.String(validate=validate.OneOf([*EVENT_TYPES, *EVENT_WORDS])),
        load_default=list,
        metadata={
            "description": "events to receive (`email.delivered`, or the short `delivered`); "
            "empty for every one"
        },
    )
    secret = fields.String(
        validate=validate.Length(min=16, max=200),
        load_default=None,
        metadata={
            "description": "a `whsec_<base64>` secret (made when absent); another one "
            "also gets the older `X-Mailroom-Signature`"
        },
    )


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
        secret = data["secret"] or new_secret()
        if secret.startswith(SECRET_PREFIX) and not is_standard(secret):
            raise BadRequest("secret: `whsec_` must be followed by base64")
        # Any other secret is taken as before and signed both ways (see tasks.callbacks).
        events = list(dict.fromkeys(short_word(e) for e in data["events"]))
        endpoint = WebhookEndpoint(url=data["url"], events=events, secret=secret)
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
