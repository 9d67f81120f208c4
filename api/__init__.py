"""The Flask API: validates requests, stores emails, enqueues their pipeline, answers."""

from __future__ import annotations

from typing import Any

import flask_smorest
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from api import (
    batch,
    brands,
    callback_endpoints,
    docs,
    emails,
    gomail,
    hasura,
    health,
    list_imports,  # noqa: F401 - its views join the lists blueprint
    lists,
    observability,
    provider_webhooks,
    send,
    signatures,
    suppressions,
    templates,
    tracking,
    unsubscribe,
)
from api.body_shape import init_body_shape_check
from api.db import init_db
from api.errors import register_error_handlers
from api.limits import init_limits
from api.openapi import complete_spec
from api.schemas import ErrorSchema
from api.unicode_check import init_unicode_check
from mailroom.attachments import allowed_buckets, attachment_policy
from mailroom.config import get_settings
from storage import build_storage


class _Api(flask_smorest.Api):  # type: ignore[misc]
    """flask-smorest's Api, leaving error handling to our envelope and documenting it."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        pass


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: settings from the environment, then `test_config` on top."""
    settings = get_settings()
    app = Flask(__name__, static_folder=None)
    app.config.update(
        DATABASE_URL=settings.database_url,
        DEFAULT_FROM=settings.default_from,
        EMAIL_PROVIDERS=tuple(settings.email_providers),
        STORAGE_BACKEND=settings.storage_backend,
        STORAGE_LOCAL_ROOT=settings.storage_local_root,
        READY_TIMEOUT_SECONDS=2.0,
        # /ready and /metrics reuse their checks of the database and the broker this long.
        PROBE_CACHE_SECONDS=1.0,
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        MAX_RECIPIENTS=settings.max_recipients,
        WEBHOOKS={
            "sns_topic_arns": settings.sns_topic_arns,
            "sns_cert_hosts": settings.sns_cert_hosts,
            "sns_allow_http": settings.sns_allow_http,
            "sendgrid_public_key": settings.sendgrid_webhook_public_key,
        },
        MAX_ATTACHMENTS_BYTES=settings.max_attachments_bytes,
        TRACKING_ENABLED=settings.tracking.enabled,
        TRACKING=settings.tracking,
        UPLOADS_BUCKET=settings.uploads_bucket,
        ALLOWED_BUCKETS=allowed_buckets(settings),
        # Form fields (GoMail's HTML `body`) may be as large as the request; Werkzeug's 500 kB
        # default would refuse a big newsletter with a 413 naming the wrong limit.
        MAX_FORM_MEMORY_SIZE=settings.max_request_bytes,
        RATE_LIMIT=settings.rate_limit,
        RATELIMIT_STORAGE_URI=settings.rate_limit_storage_uri,
        TRUSTED_PROXIES=settings.trusted_proxies,
        API_TITLE="Mailroom",
        API_VERSION="1.0",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL=docs.ASSETS_URL,
        API_SPEC_OPTIONS={
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
        },
    )
    if test_config:
        app.config.update(test_config)
    if app.config["TRUSTED_PROXIES"]:
        # The client's address from the proxies' X-Forwarded-For, counting only as many hops
        # as there are proxies of ours: anything further left the client could have written.
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    init_db(app)
    app.extensions["mailroom.storage"] = build_storage(
        app.config["STORAGE_BACKEND"],
        local_root=app.config["STORAGE_LOCAL_ROOT"],
        gcs_project=settings.gcs_project,
        allowed_buckets=app.config["ALLOWED_BUCKETS"],
    )
    app.extensions["mailroom.attachment_policy"] = attachment_policy(settings)
    register_error_handlers(app)
    init_limits(app)
    observability.init_request_ids(app)
    observability.init_gauge_probe(app)
    health.init_ready_probe(app)
    init_body_shape_check(app)
    init_unicode_check(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(observability.bp)
    app.register_blueprint(docs.bp)
    app.register_blueprint(tracking.bp)
    app.register_blueprint(unsubscribe.bp)
    api = _Api(app)
    api.register_blueprint(send.bp)
    api.register_blueprint(emails.bp)
    api.register_blueprint(templates.bp)
    api.register_blueprint(brands.bp)
    api.register_blueprint(gomail.bp)
    api.register_blueprint(hasura.bp)
    api.register_blueprint(suppressions.bp)
    api.register_blueprint(callback_endpoints.bp)
    api.register_blueprint(provider_webhooks.bp)
    api.register_blueprint(lists.bp)
    api.register_blueprint(signatures.bp)
    api.register_blueprint(batch.bp)
    complete_spec(app, api)
    # Imported here: the console builds on the API's modules (its session, sending, errors).
    from console import init_console

    init_console(app)
    return app
