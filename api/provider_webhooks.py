"""`POST /webhooks/ses` and `POST /webhooks/sendgrid`: delivery news, signature verified.

No API key here: each provider proves itself by its signature (SNS's certificate, SendGrid's
ECDSA key). A bad signature is 403 and changes nothing; an event for a message we do not know
is accepted and ignored (the provider would otherwise retry it for days).

SNS messages pass only from the topics MAILROOM_SNS_TOPIC_ARNS names: with none set, the SES
webhook refuses everything (403), since anyone can sign SNS messages from a topic of their own.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, request
from flask.views import MethodView
from marshmallow import fields

from api.blueprint import Blueprint
from api.db import db
from api.errors import BadRequest, Forbidden, ServiceUnavailable
from api.schemas import BaseSchema, success
from providers.events import (
    CertificateUnavailable,
    MalformedEvent,
    SendGridVerifier,
    SignatureError,
    SnsVerifier,
    parse_sns,
    sendgrid_events,
    ses_events,
    subscribe_url_allowed,
)
from providers.events.sendgrid import SIGNATURE_HEADER, TIMESTAMP_HEADER
from providers.events.sns import DEFAULT_HOSTS, HostRule, fetch_url
from store.delivery import apply_events

bp = Blueprint("provider_webhooks", __name__, description="Provider delivery webhooks")
log = logging.getLogger(__name__)


class WebhookAnswer(BaseSchema):
    """What a webhook answers: how many events it recorded."""

    status = fields.String()
    message = fields.String()
    data = fields.Dict()


def _sns_hosts() -> list[HostRule]:
    """MAILROOM_SNS_CERT_HOSTS as exact names ("host" or "host:port"), else AWS's own."""
    hosts: list[HostRule] = list(current_app.config["WEBHOOKS"]["sns_cert_hosts"])
    return hosts or list(DEFAULT_HOSTS)


def _sns_verifier() -> SnsVerifier:
    verifier: SnsVerifier | None = current_app.extensions.get("mailroom.sns_verifier")
    if verifier is None:
        settings = current_app.config["WEBHOOKS"]
        if not settings["sns_topic_arns"]:
            raise Forbidden("SES events are not accepted: no SNS topic configured")
        verifier = SnsVerifier(
            _sns_hosts(),
            allow_http=settings["sns_allow_http"],
            allowed_topic_arns=settings["sns_topic_arns"],
        )
        current_app.extensions["mailroom.sns_verifier"] = verifier
    return verifier


def _sendgrid_verifier() -> SendGridVerifier:
    verifier: SendGridVerifier | None = current_app.extensions.get("mailroom.sendgrid_verifier")
    if verifier is None:
        key = current_app.config["WEBHOOKS"]["sendgrid_public_key"]
        if not key:
            raise Forbidden("SendGrid events are not accepted: no verification key configured")
        verifier = SendGridVerifier(key)
        current_app.extensions["mailroom.sendgrid_verifier"] = verifier
    return verifier


def _record(events: list[Any]) -> dict[str, Any]:
    applied = apply_events(db(), events)
    db().commit()
    return {
        "recorded": applied.recorded,
        "duplicates": applied.duplicates,
        "unknown": applied.unknown,
        "statusChanges": applied.status_changes,
    }


@bp.route("/webhooks/ses")
class SesWebhook(MethodView):
    """Amazon SNS notifications of SES events."""

    @bp.response(200, WebhookAnswer)
    @bp.alt_response(403, response="DEFAULT_ERROR")
    def post(self) -> dict[str, Any]:
        """Confirm a subscription, or record Delivery, Bounce and Complaint notifications."""
        body = request.get_data(cache=False)
        verifier = _sns_verifier()
        try:
            message = parse_sns(body)
            verifier.verify(message.fields)
        except MalformedEvent as err:
            raise BadRequest(err.message) from err
        except CertificateUnavailable as err:
            # SNS retries on an error answer: the certificate may be reachable later.
            raise ServiceUnavailable(err.message) from err
        except SignatureError as err:
            log.warning("refused an SNS message: %s", err.message)
            raise Forbidden(err.message) from err
        if message.type == "SubscriptionConfirmation":
            return success("Subscription confirmed", _confirm(message.subscribe_url))
        if message.type != "Notification":
            return success("Nothing to record", {"type": message.type})
        try:
            events = ses_events(message)
        except MalformedEvent as err:
            raise BadRequest(err.message) from err
        return success("Events recorded", _record(events))


def _confirm(url: str | None) -> dict[str, Any]:
    """Visit the SubscribeURL, only on an allowed SNS host."""
    allow_http = current_app.config["WEBHOOKS"]["sns_allow_http"]
    if not subscribe_url_allowed(url, _sns_hosts(), allow_http=allow_http):
        raise Forbidden(f"SubscribeURL {url!r} is not an SNS address")
    assert url is not None
    try:
        # The same short timeout, deadline and size cap as a certificate fetch; no redirects.
        status, _ = fetch_url(url)
    except (OSError, ValueError) as err:
        raise ServiceUnavailable(f"could not confirm the subscription: {err}") from err
    return {"confirmed": 200 <= status < 300}


@bp.route("/webhooks/sendgrid")
class SendGridWebhook(MethodView):
    """SendGrid's signed Event Webhook."""

    @bp.response(200, WebhookAnswer)
    @bp.alt_response(403, response="DEFAULT_ERROR")
    def post(self) -> dict[str, Any]:
        """Record a batch of SendGrid events."""
        verifier = _sendgrid_verifier()
        body = request.get_data(cache=False)
        try:
            verifier.verify(
                body, request.headers.get(SIGNATURE_HEADER), request.headers.get(TIMESTAMP_HEADER)
            )
            events = sendgrid_events(body)
        except SignatureError as err:
            log.warning("refused a SendGrid batch: %s", err.message)
            raise Forbidden(err.message) from err
        except MalformedEvent as err:
            raise BadRequest(err.message) from err
        return success("Events recorded", _record(events))
